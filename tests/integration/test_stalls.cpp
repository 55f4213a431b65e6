// SPDX-License-Identifier: Apache-2.0
// Publishers and group members killed or stopped at exact points inside the hot path
// (the hook peer, built with the library's test hooks: the windows are nanoseconds wide).
// Each case hits its window by construction: if the code path no longer passed through it,
// the peer would not die there and the test would fail.
//
// What must hold: no hole or busy frame survives its publisher's death, nor its stall past
// the topic's unblock timeout; no reader stays asleep; no reliable publisher blocks; a
// stalled publisher's late commit fails and says so; a group member's unfinished messages
// reach another member, none lost, at most one duplicate per death.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "ipcbus/ipcbus.hpp"
#include "test_domain.hpp"
#include "test_payload.hpp"

namespace {

using ipcbus::test::ChildProcess;

std::string hook_peer() {
    return IPCBUS_HOOK_PEER_PATH;
}

struct Case {
    const char* point;
    ipcbus::DeliveryMode mode;
};

// How ctest lists a case (instead of its bytes).
[[maybe_unused]] void PrintTo(const Case& c, std::ostream* os) {
    *os << c.point << ", " << ipcbus::to_string(c.mode);
}

std::string name_of(const ::testing::TestParamInfo<Case>& info) {
    return std::string(info.param.point) +
           (info.param.mode == ipcbus::DeliveryMode::reliable ? "_reliable" : "_overwrite");
}

ipcbus::TopicOptions options_of(ipcbus::DeliveryMode mode) {
    ipcbus::TopicOptions o;
    o.capacity = mode == ipcbus::DeliveryMode::reliable ? 32 : 1024;
    o.slot_size = 64;
    o.mode = mode;
    o.history_depth = 0;
    o.unblock_timeout = std::chrono::milliseconds(50);
    return o;
}

std::vector<std::string> peer_options(ipcbus::DeliveryMode mode) {
    return {
        std::string("mode=") + (mode == ipcbus::DeliveryMode::reliable ? "reliable" : "overwrite"),
        mode == ipcbus::DeliveryMode::reliable ? "capacity=32" : "capacity=1024",
        "size=64",
        "history_depth=0",
        "unblock_ms=50",
        "deadline_s=60"};
}

// Receives on its own thread until it has `expected` messages (blocking: it sleeps when
// there is nothing), checking each; per publisher, counters must rise.
class Collector {
  public:
    Collector(ipcbus::RawSubscriber& sub, std::size_t expected) : sub_(sub), expected_(expected) {
        thread_ = std::thread([this] { run(); });
    }
    ~Collector() {
        if (thread_.joinable()) thread_.join();
    }
    void join() { thread_.join(); }
    std::map<std::uint32_t, std::vector<std::uint64_t>> got;
    std::uint64_t bad = 0;
    bool timed_out = false;

  private:
    void run() {
        std::size_t count = 0;
        while (count < expected_) {
            auto sample = sub_.receive(std::chrono::seconds(20));  // a bound, never a sync
            if (!sample) {
                timed_out = true;
                return;
            }
            ipcbus::test::PayloadHeader h{};
            if (!ipcbus::test::check_payload(sample->data(), h)) {
                ++bad;
                continue;
            }
            got[h.publisher].push_back(h.counter);
            ++count;
        }
    }
    ipcbus::RawSubscriber& sub_;
    std::size_t expected_;
    std::thread thread_;
};

class StallTest : public ipcbus::test::DomainTest, public ::testing::WithParamInterface<Case> {
  protected:
    ipcbus::Node node_ = make_node();

    ChildProcess victim(const std::string& topic, const std::string& action, int at, int count) {
        std::vector<std::string> argv{hook_peer(),
                                      "publish",
                                      domain_,
                                      topic,
                                      std::string("point=") + GetParam().point,
                                      "action=" + action,
                                      "at=" + std::to_string(at),
                                      "count=" + std::to_string(count)};
        for (const auto& o : peer_options(GetParam().mode)) argv.push_back(o);
        return ChildProcess(argv);
    }

    static void send_all(ipcbus::RawPublisher& pub, std::uint32_t number, std::uint64_t count) {
        std::vector<std::byte> message(64);
        for (std::uint64_t i = 0; i < count; ++i) {
            ipcbus::test::write_payload(message, number, i);
            auto sent = pub.send(message);
            ASSERT_TRUE(sent) << "message " << i << ": " << ipcbus::to_string(sent.error());
        }
    }
};

// A publisher killed at the point: its sequence is passed over (it left a hole, or a busy
// frame), the daemon resolves it on its death, and everyone else goes on.
TEST_P(StallTest, aPublisherKilledThereLeavesNothingThatHoldsAnyoneUp) {
    const auto options = options_of(GetParam().mode);
    auto pub = ipcbus::RawPublisher::create(node_, "stall/killed", options);
    auto sub = ipcbus::RawSubscriber::create(node_, "stall/killed", options);
    ASSERT_TRUE(pub && sub);
    pub->set_block_timeout(std::chrono::seconds(10));  // a bound: it must not be needed
    sub->set_wait_strategy(ipcbus::WaitStrategy::spin_then_block, std::chrono::nanoseconds(0));
    ChildProcess killed = victim("stall/killed", "kill", 4, 10);
    ASSERT_EQ(killed.wait_for_line("ready"), "ready");
    EXPECT_EQ(killed.wait(), 128 + SIGKILL) << "the window was never reached";
    (void)ipcbus::test::settled_topics(node_);  // its death handled
    Collector collector(*sub, 3 + 200);
    send_all(*pub, 1, 200);
    collector.join();
    ASSERT_FALSE(collector.timed_out) << "a reader was left waiting";
    EXPECT_EQ(collector.bad, 0U);
    EXPECT_EQ(collector.got[9], (std::vector<std::uint64_t>{0, 1, 2}));
    EXPECT_EQ(collector.got[1].size(), 200U);
    EXPECT_EQ(sub->skipped(), 1U) << "its claimed sequence is passed over";
    EXPECT_EQ(sub->lost(), 0U);
}

// Stopped at the point: after the unblock timeout readers pass its sequence over and
// others go on; continued, its commit fails (expired) and it publishes the message again.
TEST_P(StallTest, aPublisherStoppedThereHoldsNoOneUpAndIsToldItsPublishExpired) {
    const auto options = options_of(GetParam().mode);
    auto pub = ipcbus::RawPublisher::create(node_, "stall/stopped", options);
    auto sub = ipcbus::RawSubscriber::create(node_, "stall/stopped", options);
    ASSERT_TRUE(pub && sub);
    pub->set_block_timeout(std::chrono::seconds(10));
    sub->set_wait_strategy(ipcbus::WaitStrategy::spin_then_block, std::chrono::nanoseconds(0));
    ChildProcess stopped = victim("stall/stopped", "stop", 4, 10);
    ASSERT_EQ(stopped.wait_for_line("ready"), "ready");
    ASSERT_TRUE(stopped.wait_stopped()) << "the window was never reached";
    {
        Collector collector(*sub, 3 + 200);
        send_all(*pub, 1, 200);  // reliable: 200 > 32, so the stall must have been resolved
        collector.join();
        ASSERT_FALSE(collector.timed_out) << "a reader was left waiting behind the stall";
        EXPECT_EQ(collector.got[9], (std::vector<std::uint64_t>{0, 1, 2}));
        EXPECT_EQ(collector.got[1].size(), 200U);
    }
    // Its sequence is passed over; and while it stays stopped holding its frame busy, each
    // lap of the ring gives up one more sequence there (the frame cannot be reused: the
    // stopped publisher may still write into it when it goes on).
    const std::uint64_t laps = 200 / options.capacity + 1;
    EXPECT_GE(sub->skipped(), 1U);
    EXPECT_LE(sub->skipped(), 1 + laps);
    Collector rest(*sub, 7);
    stopped.resume();
    EXPECT_EQ(stopped.wait_for_line("expired"), "expired 3") << "the late commit must fail";
    EXPECT_EQ(stopped.wait_for_line("done"), "done 10");
    rest.join();
    ASSERT_FALSE(rest.timed_out);
    EXPECT_EQ(rest.got[9], (std::vector<std::uint64_t>{3, 4, 5, 6, 7, 8, 9}))
        << "the expired message, published again, then the rest";
    EXPECT_EQ(sub->lost(), 0U);
    EXPECT_EQ(stopped.wait(), 0);
}

INSTANTIATE_TEST_SUITE_P(InsidePublish, StallTest,
                         ::testing::Values(Case{"after_ticket", ipcbus::DeliveryMode::overwrite},
                                           Case{"after_ticket", ipcbus::DeliveryMode::reliable},
                                           Case{"after_mark", ipcbus::DeliveryMode::overwrite},
                                           Case{"after_mark", ipcbus::DeliveryMode::reliable},
                                           Case{"before_commit", ipcbus::DeliveryMode::overwrite},
                                           Case{"before_commit", ipcbus::DeliveryMode::reliable}),
                         name_of);

class ExclusiveStallTest : public ipcbus::test::DomainTest {
  protected:
    ipcbus::Node node_ = make_node();
};

// A lone publisher claims with plain stores. One stopped between two publishes (holding
// a loan, say) is revoked by the daemon at once when a second publisher arrives; one
// stopped inside a publish cannot be (it might store its claim later): the newcomer gets a
// clear error within a bound, and gets in once the first is continued.
TEST_F(ExclusiveStallTest, aNewcomerIsToldWhenTheLonePublisherIsStoppedInsideAPublish) {
    ChildProcess lone({hook_peer(), "publish", domain_, "stall/lone", "point=before_commit",
                       "action=stop", "at=3", "count=5", "mode=overwrite", "capacity=64",
                       "deadline_s=60"});
    ASSERT_EQ(lone.wait_for_line("ready"), "ready");
    ASSERT_TRUE(lone.wait_stopped()) << "the exclusive path never reached its commit";
    auto refused = ipcbus::RawPublisher::create(node_, "stall/lone");
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ipcbus::ErrorCode::timeout);
    EXPECT_NE(refused.error().message.find("is its process stopped?"), std::string::npos)
        << refused.error().message;
    lone.resume();
    EXPECT_EQ(lone.wait_for_line("done"), "done 5");
    std::optional<ipcbus::RawPublisher> second;
    ASSERT_TRUE(ipcbus::test::eventually([&] {
        auto pub = ipcbus::RawPublisher::create(node_, "stall/lone");
        if (pub) second = std::move(pub).value();
        return second.has_value();
    }));
    EXPECT_EQ(lone.wait(), 0);
}

TEST_F(ExclusiveStallTest, aLonePublisherStoppedBetweenPublishesIsRevokedAtOnce) {
    ChildProcess lone({hook_peer(), "publish", domain_, "stall/between", "point=after_ticket",
                       "action=kill", "at=1000", "count=3", "mode=overwrite", "capacity=64",
                       "stay=1", "deadline_s=60"});
    ASSERT_EQ(lone.wait_for_line("done"), "done 3");  // it is outside a publish now
    ASSERT_EQ(::kill(lone.pid(), SIGSTOP), 0);
    ASSERT_TRUE(lone.wait_stopped());
    auto second = ipcbus::RawPublisher::create(node_, "stall/between");
    ASSERT_TRUE(second) << second.error().message;
    EXPECT_TRUE(second->send(std::vector<std::byte>(8)));
    lone.resume();
    lone.close_stdin();
    EXPECT_EQ(lone.wait(), 0);
}

// --- consumer groups: a member dies inside a take ---------------------------------------

struct GroupCase {
    const char* point;
    bool orphan;  // the window is in taking over a dead member's message
};

[[maybe_unused]] void PrintTo(const GroupCase& c, std::ostream* os) {
    *os << c.point;
}

class GroupStallTest : public ipcbus::test::DomainTest,
                       public ::testing::WithParamInterface<GroupCase> {
  protected:
    ipcbus::Node node_ = make_node();
    std::string log_ = "/tmp/ipcbus-group-stall-" + domain_ + ".log";
    ~GroupStallTest() override { std::remove(log_.c_str()); }

    std::multiset<std::uint64_t> logged() const {
        std::multiset<std::uint64_t> out;
        std::ifstream in(log_);
        std::uint32_t pub = 0;
        std::uint64_t counter = 0;
        while (in >> pub >> counter) out.insert(counter);
        return out;
    }
};

TEST_P(GroupStallTest, aMemberKilledInsideATakeLosesNoMessageAndDuplicatesAtMostOne) {
    ipcbus::TopicOptions options;
    options.capacity = 64;
    options.slot_size = 64;
    options.mode = ipcbus::DeliveryMode::reliable;
    options.history_depth = 0;
    auto pub = ipcbus::RawPublisher::create(node_, "stall/group", options);
    ASSERT_TRUE(pub);
    pub->set_block_timeout(std::chrono::seconds(10));
    const std::vector<std::string> topic{"mode=reliable", "capacity=64", "history_depth=0",
                                         "deadline_s=60"};
    std::vector<std::byte> message(64);
    std::uint64_t sent = 0;
    auto send = [&](std::uint64_t n) {
        for (std::uint64_t i = 0; i < n; ++i, ++sent) {
            ipcbus::test::write_payload(message, 1, sent);
            ASSERT_TRUE(pub->send(message));
        }
    };
    if (GetParam().orphan) {
        // First a member dies holding a message: it waits in the orphan table.
        std::vector<std::string> argv{ipcbus::test::delivery_peer_path(),
                                      "subscribe",
                                      domain_,
                                      "stall/group",
                                      "group=workers",
                                      "hold_one=1"};
        argv.insert(argv.end(), topic.begin(), topic.end());
        ChildProcess holder(argv);
        ASSERT_EQ(holder.wait_for_line("ready"), "ready");
        send(1);
        ASSERT_EQ(holder.wait_for_line("holding"), "holding 1 0");
        ChildProcess keeper({hook_peer(), "member", domain_, "stall/group", "point=after_ticket",
                             "action=kill", "at=1000000", "count=0", "group=workers",
                             "mode=reliable", "capacity=64", "deadline_s=60"});
        ASSERT_EQ(keeper.wait_for_line("ready"), "ready");  // keeps the group alive
        holder.kill_hard();
        (void)ipcbus::test::settled_topics(node_);
        std::vector<std::string> victim_argv{hook_peer(),
                                             "member",
                                             domain_,
                                             "stall/group",
                                             std::string("point=") + GetParam().point,
                                             "action=kill",
                                             "at=1",
                                             "group=workers",
                                             "log=" + log_};
        victim_argv.insert(victim_argv.end(), topic.begin(), topic.end());
        ChildProcess victim(victim_argv);
        ASSERT_EQ(victim.wait_for_line("ready"), "ready");
        EXPECT_EQ(victim.wait(), 128 + SIGKILL) << "the window was never reached";
        (void)ipcbus::test::settled_topics(node_);
        ipcbus::ReaderOptions member;
        member.group = "workers";
        auto survivor =
            ipcbus::RawSubscriber::create(node_, "stall/group", {}, ipcbus::any_type, member);
        ASSERT_TRUE(survivor);
        auto got = survivor->receive(std::chrono::seconds(10));
        ASSERT_TRUE(got) << "the dead member's message was never redelivered";
        ipcbus::test::PayloadHeader h{};
        ASSERT_TRUE(ipcbus::test::check_payload(got->data(), h));
        EXPECT_EQ(h.counter, 0U);
        EXPECT_TRUE(logged().empty()) << "the victim died before processing it";
        got->reset();
        auto none = survivor->take();
        ASSERT_TRUE(none);
        EXPECT_FALSE(none->has_value()) << "delivered twice";
        keeper.kill_hard();
        return;
    }
    std::vector<std::string> victim_argv{hook_peer(),
                                         "member",
                                         domain_,
                                         "stall/group",
                                         std::string("point=") + GetParam().point,
                                         "action=kill",
                                         "at=3",
                                         "group=workers",
                                         "log=" + log_};
    victim_argv.insert(victim_argv.end(), topic.begin(), topic.end());
    ChildProcess victim(victim_argv);
    ASSERT_EQ(victim.wait_for_line("ready"), "ready");
    ipcbus::ReaderOptions member;
    member.group = "workers";
    auto survivor =
        ipcbus::RawSubscriber::create(node_, "stall/group", {}, ipcbus::any_type, member);
    ASSERT_TRUE(survivor);
    send(40);
    EXPECT_EQ(victim.wait(), 128 + SIGKILL) << "the window was never reached";
    (void)ipcbus::test::settled_topics(node_);
    std::multiset<std::uint64_t> all = logged();
    for (;;) {
        auto got = survivor->receive(std::chrono::milliseconds(200));  // drained: it times out
        if (!got) break;
        ipcbus::test::PayloadHeader h{};
        ASSERT_TRUE(ipcbus::test::check_payload(got->data(), h));
        all.insert(h.counter);
    }
    std::uint64_t duplicates = 0;
    for (std::uint64_t c = 0; c < sent; ++c) {
        EXPECT_GE(all.count(c), 1U) << "message " << c << " was lost";
        if (all.count(c) > 1) duplicates += all.count(c) - 1;
    }
    EXPECT_LE(duplicates, 1U) << "at most one duplicate per member death";
    EXPECT_EQ(all.size(), sent + duplicates);
}

INSTANTIATE_TEST_SUITE_P(InsideATake, GroupStallTest,
                         ::testing::Values(GroupCase{"group_after_mark", false},
                                           GroupCase{"group_after_cas", false},
                                           GroupCase{"orphan_after_mark", true},
                                           GroupCase{"orphan_after_take", true}),
                         [](const auto& p) { return std::string(p.param.point); });

}  // namespace
