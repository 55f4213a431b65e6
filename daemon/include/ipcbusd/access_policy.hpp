// SPDX-License-Identifier: Apache-2.0
// Access control and per-topic defaults for ipcbusd, read from a TOML file.
//
// Example configuration:
//
//     # Limits of the whole daemon (all optional).
//     [limits]
//     max_topics = 1024
//     max_clients = 256
//     max_segment_bytes = 1073741824   # one topic's segment
//     max_total_bytes = 8589934592     # all segments together
//
//     # Rules, matched in order; the first whose pattern matches a topic applies.
//     # Pattern wildcards: '*' matches exactly one level, '**' any number of levels
//     # (zero included). "sensors/*/imu" matches "sensors/left/imu";
//     # "robot/**" matches "robot", "robot/a" and "robot/a/b".
//     [[topic]]
//     pattern = "trading/**"
//     capacity = 4096            # defaults for topics created under this rule
//     slot_size = 256
//     max_readers = 32
//     keep = true                # keep the topic when its last user leaves (default false)
//     publish_uids = [1000]      # who may publish; absent = anyone
//     publish_gids = [2000]      # a client matching a uid OR a gid is allowed
//     subscribe_uids = [1000, 1001]
//     subscribe_gids = []        # present and empty (with the uid list) = nobody by gid
//
// uid 0 (root) is not special: it needs a matching rule like anyone else. A topic no rule
// matches is open to everyone.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

#include "ipcbus/result.hpp"

namespace ipcbusd {

enum class Access : std::uint8_t { publish, subscribe };

struct Limits {
    std::uint32_t max_topics = 1024;
    std::uint32_t max_clients = 256;
    // Connections one uid other than root may hold, so that one user cannot lock out the
    // others; 0: three quarters of max_clients.
    std::uint32_t max_clients_per_uid = 0;
    [[nodiscard]] std::uint32_t clients_per_uid() const noexcept {
        return max_clients_per_uid != 0 ? max_clients_per_uid
                                        : std::max<std::uint32_t>(1, max_clients / 4 * 3);
    }
    std::uint64_t max_segment_bytes = 1ULL << 30;
    std::uint64_t max_total_bytes = 8ULL << 30;
};

struct TopicRule {
    std::string pattern;
    // Defaults for topics created under this rule; 0 = not set.
    std::uint32_t capacity = 0;
    std::uint64_t slot_size = 0;
    std::uint32_t max_readers = 0;
    // Keep the topic (its segment and the messages in its ring) when its last user leaves,
    // so that a process starting later finds it as it was; default: drop it.
    bool keep = false;
    // nullopt = no restriction of that kind.
    std::optional<std::vector<uid_t>> publish_uids;
    std::optional<std::vector<gid_t>> publish_gids;
    std::optional<std::vector<uid_t>> subscribe_uids;
    std::optional<std::vector<gid_t>> subscribe_gids;
};

/// Parsed configuration: limits and ordered topic rules. Immutable once built.
class AccessPolicy {
  public:
    /// An empty policy: default limits, every topic open to everyone.
    AccessPolicy() = default;

    /// Parses TOML text. Errors name the line and the problem (unknown key, wrong type,
    /// negative or out-of-range number, invalid pattern). `origin` names the source
    /// (a file path) in messages.
    static ipcbus::Result<AccessPolicy> parse(std::string_view toml_text,
                                              std::string_view origin = "config");
    /// Reads and parses a file; the error names the path.
    static ipcbus::Result<AccessPolicy> load(const std::string& path);

    /// The first rule whose pattern matches `topic`, or null.
    [[nodiscard]] const TopicRule* rule_for(std::string_view topic) const noexcept;

    /// Whether a client with this uid and these groups (primary gid first) may do
    /// `access` on `topic`. A restriction exists when any of the uid/gid lists for that
    /// access is present; the client then needs its uid in the uid list or one of its gids
    /// in the gid list.
    [[nodiscard]] bool allows(std::string_view topic, Access access, uid_t uid,
                              const std::vector<gid_t>& gids) const noexcept;

    [[nodiscard]] const Limits& limits() const noexcept { return limits_; }
    [[nodiscard]] const std::vector<TopicRule>& rules() const noexcept { return rules_; }

  private:
    Limits limits_;
    std::vector<TopicRule> rules_;
};

/// Whether `topic` matches `pattern` ('*' = one level, '**' = any number of levels).
/// Thread-safe, allocation-free.
bool topic_matches(std::string_view pattern, std::string_view topic) noexcept;

/// Checks a pattern: levels separated by '/', each '*', '**' or a valid topic level.
ipcbus::Result<ipcbus::Ok> validate_pattern(std::string_view pattern);

}  // namespace ipcbusd
