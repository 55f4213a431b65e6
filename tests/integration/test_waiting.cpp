// SPDX-License-Identifier: Apache-2.0
// Waiting without burning CPU, across real processes: blocking receive, WaitSet over 64
// topics, the notification fd in an epoll loop, and a Listener stopped mid-stream. The
// test synchronises on the messages themselves (each waiter says what it got).
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "ipcbus/ipcbus.hpp"
#include "test_domain.hpp"

namespace {

using namespace std::chrono_literals;
using ipcbus::test::ChildProcess;

std::string wait_peer_path() {
    return IPCBUS_WAIT_PEER_PATH;
}

class WaitingTest : public ipcbus::test::DomainTest {
  protected:
    ipcbus::Node node_ = make_node();

    ChildProcess peer(const std::vector<std::string>& args) {
        std::vector<std::string> argv{wait_peer_path(), args[0], domain_};
        argv.insert(argv.end(), args.begin() + 1, args.end());
        return ChildProcess(argv);
    }
    ipcbus::RawPublisher publisher(const std::string& topic) {
        auto pub = ipcbus::RawPublisher::create(node_, topic, {64, 8, 0});
        EXPECT_TRUE(pub) << pub.error().message;
        return std::move(pub).value();
    }
    static void send(ipcbus::RawPublisher& pub, std::uint64_t value) {
        std::byte bytes[8];
        std::memcpy(bytes, &value, sizeof value);
        ASSERT_TRUE(pub.send(bytes));
    }
};

// A subscriber that always sleeps (spin budget 0) wakes for each message: message i is
// sent only after the subscriber reported message i-1, so it is asleep or about to be.
TEST_F(WaitingTest, blockingReceiveWakesOnEveryPublish) {
    for (const char* strategy : {"block", "yield", "spin"}) {
        SCOPED_TRACE(strategy);
        const std::string topic = std::string("wake/") + strategy;
        auto pub = publisher(topic);
        ChildProcess sub = peer({"receive", topic, "50", strategy});
        ASSERT_EQ(sub.wait_for_line("ready"), "ready");
        for (std::uint64_t i = 0; i < 50; ++i) {
            send(pub, i);
            ASSERT_EQ(sub.read_line(), "got " + std::to_string(i));
        }
        ASSERT_TRUE(sub.wait_for_line("cpu"));
        EXPECT_EQ(sub.wait(), 0);
    }
}

TEST_F(WaitingTest, receiveTimesOutWhenNothingComes) {
    auto sub = ipcbus::RawSubscriber::create(node_, "silent/topic");
    ASSERT_TRUE(sub);
    for (auto strategy : {ipcbus::WaitStrategy::spin_then_block, ipcbus::WaitStrategy::spin_yield,
                          ipcbus::WaitStrategy::busy_spin}) {
        sub->set_wait_strategy(strategy);
        auto got = sub->receive(2ms);
        ASSERT_FALSE(got);
        EXPECT_EQ(got.error(), ipcbus::ReceiveError::timed_out);
        EXPECT_FALSE(sub->wait(0ns));
    }
    EXPECT_EQ(ipcbus::to_string(ipcbus::ReceiveError::timed_out), "timed_out");
}

// A WaitSet over 64 topics in another process reports exactly the topics published to.
TEST_F(WaitingTest, waitSetOverSixtyFourTopicsReportsExactlyThePublishedOnes) {
    std::vector<ipcbus::RawPublisher> pubs;
    for (int i = 0; i < 64; ++i) pubs.push_back(publisher("many/" + std::to_string(i)));
    ChildProcess waiter = peer({"waitset", "many", "64"});
    ASSERT_EQ(waiter.wait_for_line("ready"), "ready");
    ASSERT_TRUE(waiter.write_line("poll"));
    EXPECT_EQ(waiter.read_line(), "ready") << "nothing was published yet";
    for (int i : {3, 17, 42, 63}) send(pubs[i], 1);
    ASSERT_TRUE(waiter.write_line("wait"));
    EXPECT_EQ(waiter.read_line(), "ready 3 17 42 63");
    ASSERT_TRUE(waiter.write_line("wait"));  // asleep (or about to be) on all 64 topics
    send(pubs[50], 2);
    EXPECT_EQ(waiter.read_line(), "ready 50");
    ASSERT_TRUE(waiter.write_line("poll"));
    EXPECT_EQ(waiter.read_line(), "ready") << "everything was drained";
    waiter.close_stdin();
    EXPECT_EQ(waiter.wait(), 0);
}

// The notification fd works in a plain epoll loop in another process.
TEST_F(WaitingTest, notificationFdWakesAnEpollLoop) {
    auto pub = publisher("epoll/topic");
    ChildProcess loop = peer({"epoll", "epoll/topic", "20"});
    ASSERT_EQ(loop.wait_for_line("ready"), "ready");
    for (std::uint64_t i = 0; i < 20; ++i) {
        send(pub, i);
        ASSERT_EQ(loop.read_line(), "got " + std::to_string(i));
    }
    EXPECT_EQ(loop.wait(), 0);
}

// A WaitSet's notification fd turns readable for any of its subscribers.
TEST_F(WaitingTest, waitSetNotificationFdCoversEveryTopic) {
    auto a = publisher("fd/a");
    auto b = publisher("fd/b");
    auto sa = ipcbus::RawSubscriber::create(node_, "fd/a");
    auto sb = ipcbus::RawSubscriber::create(node_, "fd/b");
    ASSERT_TRUE(sa && sb);
    ipcbus::WaitSet set;
    ASSERT_TRUE(set.attach(*sa) && set.attach(*sb));
    auto fd = set.notification_fd();
    ASSERT_TRUE(fd) << fd.error().message;
    EXPECT_FALSE(set.attach(*sa)) << "attach after notification_fd() is refused";
    send(b, 7);
    std::uint64_t signals = 0;
    // Blocking read: returns once the library's thread saw the message (non-blocking fd:
    // poll for it first).
    pollfd p{*fd, POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 10'000), 1);
    ASSERT_EQ(::read(*fd, &signals, sizeof signals), static_cast<ssize_t>(sizeof signals));
    auto got = sb->take();
    ASSERT_TRUE(got && got->has_value());
}

// A Listener stops cleanly while a publisher in another process keeps sending: after
// stop() returns, no callback runs.
TEST_F(WaitingTest, listenerStopsCleanlyWhileMessagesKeepArriving) {
    auto sub = ipcbus::RawSubscriber::create(node_, "stream/endless", {1024, 64, 0});
    ASSERT_TRUE(sub);
    std::atomic<std::uint64_t> calls{0};
    std::atomic<bool> stopped{false};
    std::atomic<std::uint64_t> after_stop{0};
    ipcbus::Listener listener;
    ASSERT_TRUE(listener.on(*sub, [&](const ipcbus::RawSample&) {
        calls.fetch_add(1);
        if (stopped.load()) after_stop.fetch_add(1);
    }));
    ASSERT_TRUE(listener.start());
    // Publishes until its stdin closes (the ipcbus_test_peer "publish" mode would end).
    ChildProcess pub({ipcbus::test::delivery_peer_path(), "publish", domain_, "stream/endless",
                      "capacity=1024", "size=64", "count=100000000"});
    ASSERT_EQ(pub.wait_for_line("ready"), "ready");
    ASSERT_TRUE(ipcbus::test::eventually([&] { return calls.load() >= 1000; }));
    listener.stop();
    stopped.store(true);
    const std::uint64_t at_stop = calls.load();
    // Let more messages arrive: proved by the subscriber's ring moving on, not by time.
    ASSERT_TRUE(ipcbus::test::eventually([&] { return sub->wait(0ns); }));
    EXPECT_EQ(after_stop.load(), 0U);
    EXPECT_EQ(calls.load(), at_stop);
    pub.kill_hard();
}

// Each of several topics gets its turn in a Listener, however busy the others are.
TEST_F(WaitingTest, listenerServesEveryTopic) {
    auto busy = publisher("turns/busy");
    auto quiet = publisher("turns/quiet");
    auto sb = ipcbus::RawSubscriber::create(node_, "turns/busy");
    auto sq = ipcbus::RawSubscriber::create(node_, "turns/quiet");
    ASSERT_TRUE(sb && sq);
    std::atomic<int> busy_calls{0};
    std::atomic<int> quiet_calls{0};
    std::atomic<int> busy_before_quiet{-1};
    ipcbus::Listener listener;
    ASSERT_TRUE(listener.on(*sb, [&](const ipcbus::RawSample&) { busy_calls.fetch_add(1); }));
    ASSERT_TRUE(listener.on(*sq, [&](const ipcbus::RawSample&) {
        busy_before_quiet.store(busy_calls.load());
        quiet_calls.fetch_add(1);
    }));
    for (std::uint64_t i = 0; i < 60; ++i) send(busy, i);
    send(quiet, 1);
    ASSERT_TRUE(listener.start());
    EXPECT_FALSE(listener.start()) << "a second start is refused";
    ASSERT_TRUE(ipcbus::test::eventually([&] { return quiet_calls.load() == 1; }));
    ASSERT_TRUE(ipcbus::test::eventually([&] { return busy_calls.load() == 60; }));
    listener.stop();
    EXPECT_LE(busy_before_quiet.load(), 16) << "the quiet topic waited for more than one batch";
}

}  // namespace
