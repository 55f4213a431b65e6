// SPDX-License-Identifier: Apache-2.0
// Every test runs in a bus domain of its own, served by an ipcbusd process of its own,
// so tests run in parallel without seeing each other. At the end each test checks that
// the daemon's registry is empty again: every topic it made was cleaned up.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <sched.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "daemon_client.hpp"
#include "ipcbus/node.hpp"
#include "protocol.hpp"

namespace ipcbus::test {

/// A domain name no other test (in this or another process) uses.
inline std::string unique_domain() {
    static std::atomic<unsigned> counter{0};
    return "t" + std::to_string(::getpid()) + "_" + std::to_string(counter.fetch_add(1));
}

/// Starts ipcbusd for `domain` (extra arguments appended) and waits until it accepts
/// connections; null if it exited instead (its stdout said something else).
inline std::unique_ptr<ChildProcess> start_daemon(const std::string& domain,
                                                  const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv{daemon_path(), "--domain", domain, "--log-level", "warn"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto daemon = std::make_unique<ChildProcess>(argv);
    if (daemon->read_line() != "ready") return nullptr;
    return daemon;
}

/// The daemon's registry once every event already pending at the daemon (such as the
/// disconnect of a child this process has reaped) has been handled. No sleeping, no polling.
inline std::vector<TopicInfo> settled_topics(const Node& node) {
    auto synced = node.daemon()->call(detail::protocol::make_simple("sync"));
    EXPECT_TRUE(synced) << synced.error().message;
    auto topics = node.list_topics();
    EXPECT_TRUE(topics) << topics.error().message;
    return topics ? std::move(topics).value() : std::vector<TopicInfo>{};
}

/// Waits until `condition()` holds, yielding the CPU in between; false after 10 s. Only
/// for what the processes under test do on their own schedule (a client reconnecting to a
/// restarted daemon): a barrier cannot cover it, the observable state can.
template <class Condition>
bool eventually(Condition condition) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!condition()) {
        if (std::chrono::steady_clock::now() > give_up) return false;
        ::sched_yield();
    }
    return true;
}

/// Checks that a setup call failed with `code` and a message containing `words`.
template <class R>
void expect_error(const R& r, ErrorCode code, const std::string& words) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, code) << r.error().message;
    EXPECT_NE(r.error().message.find(words), std::string::npos) << r.error().message;
}

/// Fixture base: a fresh domain with its own daemon; fails the test if the daemon still
/// holds topics at the end.
class DomainTest : public ::testing::Test {
  protected:
    // The daemon starts in the constructor, before derived fixtures' members (which may
    // connect to it) are initialised.
    DomainTest() {
        ::setenv("IPCBUS_NO_AUTOSTART", "1", 1);  // only our daemon may serve our domain
        daemon_ = start_daemon(domain_);
    }

    void SetUp() override {
        ASSERT_TRUE(daemon_) << "ipcbusd did not start for domain " << domain_;
    }

    void TearDown() override {
        if (!daemon_) return;
        auto node = Node::create({domain_});
        ASSERT_TRUE(node) << node.error().message;
        const auto left = settled_topics(*node);
        EXPECT_TRUE(left.empty()) << left.size() << " topic(s) left in the registry of domain "
                                  << domain_ << ", first: " << left.front().name;
        daemon_->terminate();
    }

    ipcbus::Node make_node() {
        auto node = ipcbus::Node::create({domain_});
        EXPECT_TRUE(node) << node.error().message;
        return std::move(node).value();
    }

    std::string domain_ = unique_domain();
    std::unique_ptr<ChildProcess> daemon_;
};

}  // namespace ipcbus::test
