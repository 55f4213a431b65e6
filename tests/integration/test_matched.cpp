// SPDX-License-Identifier: Apache-2.0
// Matched and unmatched events (ROS 2's matched status): a publisher learns when
// subscribers arrive and go away, a subscriber when publishers do, across processes, when
// a peer is killed, and across a daemon restart; and waiting for peers sleeps on those
// events. Peers are real processes (tests/support/peer_main.cpp); the tests wait on what
// the callbacks report and on the children's output, never on sleeps.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "ipcbus/ipcbus.hpp"
#include "test_domain.hpp"

namespace {

using ipcbus::ErrorCode;
using ipcbus::MatchedStatus;
using ipcbus::test::ChildProcess;
using ipcbus::test::peer_path;

// Topic parameters the peers are started with: slot 64 bytes, 4096 slots.
const ipcbus::TopicOptions kOptions{4096, 64, 0};

// What a matched callback reported, in order; the test waits for a status it expects.
class StatusLog {
  public:
    ipcbus::MatchedCallback callback() {
        return [this](const MatchedStatus& status) {
            {
                std::lock_guard lock(mutex_);
                seen_.push_back(status);
            }
            changed_.notify_all();
        };
    }

    // The first status not yet returned for which `wanted` holds (earlier ones are
    // passed over); nullopt if none came within a minute (a hang, not a timing check).
    std::optional<MatchedStatus> next_where(
        const std::function<bool(const MatchedStatus&)>& wanted) {
        std::unique_lock lock(mutex_);
        std::optional<MatchedStatus> found;
        changed_.wait_for(lock, std::chrono::minutes(1), [&] {
            for (; read_ < seen_.size(); ++read_) {
                if (wanted(seen_[read_])) {
                    found = seen_[read_++];
                    return true;
                }
            }
            return false;
        });
        return found;
    }
    std::optional<MatchedStatus> next_with_current(std::size_t current) {
        return next_where([current](const MatchedStatus& s) { return s.current == current; });
    }

    std::vector<MatchedStatus> all() {
        std::lock_guard lock(mutex_);
        return seen_;
    }

  private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<MatchedStatus> seen_;
    std::size_t read_ = 0;
};

void expect_status(const std::optional<MatchedStatus>& s, std::size_t current,
                   std::ptrdiff_t current_change, std::size_t total, std::size_t total_change) {
    ASSERT_TRUE(s) << "no matched callback reported " << current << " peer(s)";
    EXPECT_EQ(s->current, current);
    EXPECT_EQ(s->current_change, current_change);
    EXPECT_EQ(s->total, total);
    EXPECT_EQ(s->total_change, total_change);
}

ChildProcess start_subscriber(const std::string& domain, const std::string& topic) {
    // "wait": attached, it reads nothing until told (it is killed first).
    return ChildProcess({peer_path(), "subscribe", domain, topic, "1000", "64", "4096", "wait"});
}

class MatchedTest : public ipcbus::test::DomainTest {
  protected:
    ipcbus::Node node_ = make_node();
};

TEST_F(MatchedTest, publisherHearsOfASubscriberProcessArrivingAndOfItsDeathByKill) {
    StatusLog log;  // first: it outlives the callbacks that write to it
    auto pub = ipcbus::RawPublisher::create(node_, "matched/pub", kOptions);
    ASSERT_TRUE(pub) << pub.error().message;
    pub->set_matched_callback(log.callback());

    ChildProcess reader = start_subscriber(domain_, "matched/pub");
    ASSERT_EQ(reader.wait_for_line("ready"), "ready");
    expect_status(log.next_with_current(1), 1, +1, 1, 1);

    reader.kill_hard();
    expect_status(log.next_with_current(0), 0, -1, 1, 0);
    // The callback read the changes: the status has none left.
    const MatchedStatus now = pub->matched_status();
    EXPECT_EQ(now.current, 0U);
    EXPECT_EQ(now.current_change, 0);
    EXPECT_EQ(now.total, 1U);
}

TEST_F(MatchedTest, waitingSubscriberHearsOfThePublisherProcessThatCreatesTheTopicAndOfItsDeath) {
    StatusLog log;  // first: it outlives the callbacks that write to it
    auto sub = ipcbus::RawSubscriber::create(node_, "matched/sub/0");  // no topic yet: waits
    ASSERT_TRUE(sub) << sub.error().message;
    EXPECT_EQ(sub->publisher_count(), 0U);
    sub->set_matched_callback(log.callback());

    // Opens publishers on matched/sub/0 and holds them until its input ends.
    ChildProcess publisher({peer_path(), "open-many", domain_, "matched/sub", "1", "64", "4096"});
    ASSERT_EQ(publisher.wait_for_line("ready"), "ready");
    auto came = sub->wait_for_publishers(1, std::chrono::minutes(1));
    ASSERT_TRUE(came) << came.error().message;
    EXPECT_EQ(*came, 1U);
    expect_status(log.next_with_current(1), 1, +1, 1, 1);

    publisher.kill_hard();
    expect_status(log.next_with_current(0), 0, -1, 1, 0);
    EXPECT_EQ(sub->publisher_count(), 0U);
}

TEST_F(MatchedTest, peersAlreadyThereAreReportedAsAChangeAndEachSideCountsTheOther) {
    StatusLog log;  // first: it outlives the callbacks that write to it
    auto first = ipcbus::RawPublisher::create(node_, "matched/both", kOptions);
    ASSERT_TRUE(first);
    auto a = ipcbus::RawSubscriber::create(node_, "matched/both");
    ASSERT_TRUE(a);
    auto member = ipcbus::RawSubscriber::create(node_, "matched/both", {}, ipcbus::any_type,
                                                ipcbus::ReaderOptions{.group = "workers"});
    ASSERT_TRUE(member) << member.error().message;
    std::optional<ipcbus::RawSubscriber> b(std::move(member).value());
    ASSERT_TRUE(first->wait_for_subscribers(2, std::chrono::minutes(1)));
    // Read without a callback: both arrivals since the publisher was created.
    const MatchedStatus read = first->matched_status();
    EXPECT_EQ(read.current, 2U);
    EXPECT_EQ(read.current_change, 2);
    EXPECT_EQ(read.total_change, 2U);

    // A publisher created now finds them there: its callback hears of both at once.
    auto second = ipcbus::RawPublisher::create(node_, "matched/both", kOptions);
    ASSERT_TRUE(second);
    second->set_matched_callback(log.callback());
    expect_status(log.next_with_current(2), 2, +2, 2, 2);

    auto two = a->wait_for_publishers(2, std::chrono::minutes(1));
    ASSERT_TRUE(two) << two.error().message;
    EXPECT_EQ(b->publisher_count(), 2U);

    b.reset();  // the group member leaves
    expect_status(log.next_with_current(1), 1, -1, 2, 0);
}

TEST_F(MatchedTest, waitingForPeersTimesOutSayingHowManyCame) {
    auto sub = ipcbus::RawSubscriber::create(node_, "matched/nobody");
    ASSERT_TRUE(sub);
    ipcbus::test::expect_error(sub->wait_for_publishers(1, std::chrono::milliseconds(20)),
                               ErrorCode::timeout,
                               "topic 'matched/nobody': 0 of 1 publisher(s) attached after 20 ms");
}

TEST_F(MatchedTest, daemonRestartReportsOnlyTheSubscriberThatDiedWhileNoDaemonWatched) {
    StatusLog log;  // first: it outlives the callbacks that write to it
    auto pub = ipcbus::RawPublisher::create(node_, "matched/restart", kOptions);
    ASSERT_TRUE(pub);
    pub->set_matched_callback(log.callback());
    ChildProcess survivor = start_subscriber(domain_, "matched/restart");
    ASSERT_EQ(survivor.wait_for_line("ready"), "ready");
    ChildProcess doomed = start_subscriber(domain_, "matched/restart");
    ASSERT_EQ(doomed.wait_for_line("ready"), "ready");
    ASSERT_TRUE(log.next_with_current(2));

    daemon_->kill_hard();
    doomed.kill_hard();
    daemon_ = ipcbus::test::start_daemon(domain_);
    ASSERT_TRUE(daemon_);
    // The new daemon frees the dead reader's entry once the topic is adopted again.
    expect_status(log.next_with_current(1), 1, -1, 2, 0);
    for (const MatchedStatus& s : log.all()) {
        EXPECT_NE(s.current, 0U) << "the restart was reported as the subscribers leaving";
    }
}

}  // namespace
