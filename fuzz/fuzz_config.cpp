// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: ipcbusd's configuration (TOML, toml++). A configuration file is written
// by an administrator, not an attacker, but a typo must give an error naming the line, never
// a crash of the daemon; and a policy that parsed must answer every question about access.
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "ipcbusd/access_policy.hpp"

namespace {

void check(bool condition) {
    if (!condition) std::abort();
}

constexpr std::string_view kTopics[] = {
    "a",
    "trading/orders/new",
    "robot/camera/left",
    "robot/camera/left/raw",
    "sensors/x",
    "x/y/z/w",
    "very.long-level_name/with/many/levels/a/b/c/d",
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto policy = ipcbusd::AccessPolicy::parse(text, "fuzz.toml");
    if (!policy) {
        check(!policy.error().message.empty());
        return 0;
    }
    const std::vector<gid_t> groups[] = {{}, {0}, {2000, 3000}, {4294967295U}};
    const uid_t uids[] = {0, 1000, 1001, 4294967295U};
    for (const std::string_view topic : kTopics) {
        const ipcbusd::TopicRule* rule = policy->rule_for(topic);
        if (rule != nullptr) {
            check(ipcbusd::topic_matches(rule->pattern, topic));
            check(static_cast<bool>(ipcbusd::validate_pattern(rule->pattern)));
        }
        for (const uid_t uid : uids) {
            for (const auto& gids : groups) {
                const bool publish = policy->allows(topic, ipcbusd::Access::publish, uid, gids);
                const bool subscribe = policy->allows(topic, ipcbusd::Access::subscribe, uid, gids);
                // A topic no rule matches is open to everyone.
                if (rule == nullptr) check(publish && subscribe);
            }
        }
    }
    // Every rule's pattern is also a question: the rule itself (or an earlier one) answers it.
    for (const auto& rule : policy->rules()) (void)policy->rule_for(rule.pattern);
    return 0;
}
