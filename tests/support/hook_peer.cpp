// SPDX-License-Identifier: Apache-2.0
// ipcbus_test_hook_peer: a publisher or group member that stops or kills itself at one
// exact point inside the library's hot path (src/test_hooks.hpp). It links
// ipcbus_test_hooked, the library built with those hooks; the windows between the points
// are nanoseconds wide, so random kills would almost never hit them.
//
//   ipcbus_test_hook_peer publish DOMAIN TOPIC [key=value ...]
//       prints "ready", publishes `count` checksummed messages (publisher `pub`, default 9,
//       counters from 0), and on the at-th time it reaches hook `point` kills itself
//       (SIGKILL) or stops (SIGSTOP; it goes on when continued). A publish that fails
//       with expired prints "expired <counter>" and is published again. Prints
//       "done <count>"; with stay=1 it then stays attached until its stdin closes.
//   ipcbus_test_hook_peer member DOMAIN TOPIC [key=value ...]
//       joins consumer group `group`, prints "ready", and takes messages, appending
//       "<pub> <counter>" to `log` for each it processed, until it dies at the hook (or
//       has taken `count`; count=0: takes nothing, and stays until its stdin closes).
//
// keys: point=after_ticket|after_mark|before_commit|group_after_mark|group_after_cas|
//       orphan_after_mark|orphan_after_take action=kill|stop at=N count=N pub=N
//       mode=overwrite|reliable capacity=N size=N history_depth=N unblock_ms=N
//       group=NAME log=PATH stay=0|1 deadline_s=N
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "ipcbus/ipcbus.hpp"
#include "peer_args.hpp"
#include "test_hooks.hpp"
#include "test_payload.hpp"

namespace {

using Args = ipcbus::test::PeerArgs;
using ipcbus::detail::HookPoint;

int g_point = -1;
std::uint64_t g_at = 1;
int g_signal = SIGKILL;

extern "C" void on_hook(int point) {
    if (point == g_point && ipcbus_test_hook_count(point) == g_at) ::raise(g_signal);
}

int point_of(const std::string& name) {
    const char* names[] = {"after_ticket",     "after_mark",      "before_commit",
                           "group_after_mark", "group_after_cas", "orphan_after_mark",
                           "orphan_after_take"};
    for (int i = 0; i < static_cast<int>(HookPoint::count); ++i) {
        if (name == names[i]) return i;
    }
    return -1;
}

ipcbus::TopicOptions topic_options(const Args& args) {
    ipcbus::TopicOptions o;
    o.capacity = static_cast<std::uint32_t>(args.number("capacity", 64));
    o.slot_size = static_cast<std::uint64_t>(args.number("size", 64));
    o.mode = args.text("mode", "overwrite") == "reliable" ? ipcbus::DeliveryMode::reliable
                                                          : ipcbus::DeliveryMode::overwrite;
    o.history_depth = static_cast<std::uint32_t>(args.number("history_depth", 0));
    o.unblock_timeout = std::chrono::milliseconds(args.number("unblock_ms", 50));
    return o;
}

bool arm(const Args& args) {
    g_point = point_of(args.text("point", ""));
    g_at = static_cast<std::uint64_t>(args.number("at", 1));
    g_signal = args.text("action", "kill") == "stop" ? SIGSTOP : SIGKILL;
    if (g_point < 0) return false;
    ipcbus_test_set_hook(&on_hook);
    return true;
}

int publish(const ipcbus::Node& node, const std::string& topic, const Args& args) {
    if (!arm(args)) return ipcbus::test::peer_fail("unknown hook point");
    auto pub = ipcbus::RawPublisher::create(node, topic, topic_options(args));
    if (!pub) return ipcbus::test::peer_fail(pub.error().message);
    pub->set_block_timeout(std::chrono::seconds(30));
    const auto count = static_cast<std::uint64_t>(args.number("count", 10));
    const auto number = static_cast<std::uint32_t>(args.number("pub", 9));
    std::cout << "ready" << std::endl;
    for (std::uint64_t i = 0; i < count; ++i) {
        auto loan = pub->loan(pub->max_payload_size());
        if (!loan) return ipcbus::test::peer_fail(std::string(ipcbus::to_string(loan.error())));
        ipcbus::test::write_payload(loan->data(), number, i);
        auto published = pub->publish(std::move(*loan));
        if (!published && published.error() == ipcbus::LoanError::expired) {
            std::cout << "expired " << i << std::endl;
            published = pub->publish(std::move(*loan));
        }
        if (!published) {
            return ipcbus::test::peer_fail(std::string(ipcbus::to_string(published.error())));
        }
    }
    std::cout << "done " << count << std::endl;
    if (args.number("stay", 0) != 0) {
        // Still attached (a lone publisher between publishes) until the test lets go.
        std::string line;
        while (std::getline(std::cin, line)) {
        }
    }
    return 0;
}

int member(const ipcbus::Node& node, const std::string& topic, const Args& args) {
    if (!arm(args)) return ipcbus::test::peer_fail("unknown hook point");
    ipcbus::ReaderOptions reader;
    reader.group = args.text("group", "workers");
    auto sub =
        ipcbus::RawSubscriber::create(node, topic, topic_options(args), ipcbus::any_type, reader);
    if (!sub) return ipcbus::test::peer_fail(sub.error().message);
    std::ofstream log(args.text("log", "/dev/null"), std::ios::app);
    const auto count = static_cast<std::uint64_t>(args.number("count", 1'000'000));
    std::cout << "ready" << std::endl;
    if (count == 0) {  // a member that keeps the group alive and takes nothing
        std::string line;
        while (std::getline(std::cin, line)) {
        }
        return 0;
    }
    for (std::uint64_t taken = 0; taken < count;) {
        auto got = sub->receive(std::chrono::seconds(30));
        if (!got) return ipcbus::test::peer_fail(std::string(ipcbus::to_string(got.error())));
        ipcbus::test::PayloadHeader h{};
        if (!ipcbus::test::check_payload(got->data(), h))
            return ipcbus::test::peer_fail("bad payload");
        log << h.publisher << ' ' << h.counter << std::endl;  // flushed: we may die next
        ++taken;
    }
    std::cout << "done" << std::endl;
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return ipcbus::test::run_peer(argc, argv, {{"publish", &publish}, {"member", &member}});
}
