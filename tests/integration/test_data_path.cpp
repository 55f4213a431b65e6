// SPDX-License-Identifier: Apache-2.0
// The data path under misbehaving processes: a hostile subscriber that writes garbage over
// everything it can map, a loan holder that is stopped or killed, a publisher that laps
// the slot of a dead loan holder, a late joiner with history on a reliable topic, and a
// burst of messages to a sleeping reader. Every process is real; each test names the
// defect it reproduces (docs/ARCHITECTURE.md, "The data path").
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "ipc/futex.hpp"
#include "ipcbus/ipcbus.hpp"
#include "test_domain.hpp"
#include "test_payload.hpp"

namespace {

using ipcbus::test::ChildProcess;

std::string hostile_peer() {
    return IPCBUS_HOSTILE_PEER_PATH;
}

class DataPathTest : public ipcbus::test::DomainTest {
  protected:
    ipcbus::Node node_ = make_node();

    // A peer's deadline is a bound against a hang, not a timing check: under
    // ThreadSanitizer, on two cores shared with other tests, the 8 MiB tests have taken
    // over a minute (CI, stop 25), so it stays well below ctest's 300 s.
    static constexpr const char* kPeerDeadline = "deadline_s=240";

    ChildProcess delivery(const std::vector<std::string>& args) {
        std::vector<std::string> argv{ipcbus::test::delivery_peer_path()};
        argv.insert(argv.end(), args.begin(), args.end());
        argv.push_back(kPeerDeadline);
        return ChildProcess(argv);
    }
    ChildProcess hostile(const std::vector<std::string>& args) {
        std::vector<std::string> argv{hostile_peer()};
        argv.insert(argv.end(), args.begin(), args.end());
        argv.push_back(kPeerDeadline);
        return ChildProcess(argv);
    }
};

// A subscriber with subscribe rights only, of another uid, writes garbage over every byte
// it can map, round after round, while a publisher sends 20 000 messages to an honest
// reader in another process. Found: a subscriber could store 2^62 into the write cursor
// (the whole topic header was writable by every client) and silently stop the topic.
// The honest reader must account for every message, in order, with nothing damaged.
TEST_F(DataPathTest, hostileSubscriberCannotDisturbOtherReadersOfAnOverwriteTopic) {
    const std::vector<std::string> topic{"capacity=256", "size=64", "mode=overwrite"};
    auto with = [&](std::vector<std::string> a) {
        a.insert(a.end(), topic.begin(), topic.end());
        return a;
    };
    ChildProcess honest =
        delivery(with({"subscribe", domain_, "hostile/ow", "expect=20000", "strict=0"}));
    ASSERT_EQ(honest.wait_for_line("ready"), "ready");
    ChildProcess scribbler = hostile(with({"scribble", domain_, "hostile/ow"}));
    const auto started = scribbler.wait_for_line("scribbling");
    ASSERT_TRUE(started) << "the scribbler did not start";
    ChildProcess pub = delivery(with({"publish", domain_, "hostile/ow", "count=20000"}));
    EXPECT_EQ(pub.wait_for_line("done"), "done 20000");
    const auto result = honest.wait_for_line("result");
    ASSERT_TRUE(result) << "the honest reader never accounted for all messages";
    EXPECT_NE(result->find("bad=0"), std::string::npos) << *result;
    EXPECT_EQ(honest.wait(), 0);
    scribbler.close_stdin();
    EXPECT_TRUE(scribbler.wait_for_line("rounds"));
    EXPECT_EQ(scribbler.wait(), 0) << "the scribbler crashed on its own garbage";
    EXPECT_EQ(pub.wait(), 0);
}

// The same on a reliable topic: the hostile reader may hold the publisher back (that is
// the contract), but the honest reader must get every message, none lost or damaged.
TEST_F(DataPathTest, hostileSubscriberCannotCostAReliableReaderAMessage) {
    const std::vector<std::string> topic{"capacity=64", "size=64", "mode=reliable"};
    auto with = [&](std::vector<std::string> a) {
        a.insert(a.end(), topic.begin(), topic.end());
        return a;
    };
    ChildProcess honest =
        delivery(with({"subscribe", domain_, "hostile/rel", "expect=20000", "strict=1"}));
    ASSERT_EQ(honest.wait_for_line("ready"), "ready");
    ChildProcess scribbler = hostile(with({"scribble", domain_, "hostile/rel"}));
    ASSERT_TRUE(scribbler.wait_for_line("scribbling")) << "the scribbler did not start";
    ChildProcess pub = delivery(with({"publish", domain_, "hostile/rel", "count=20000"}));
    const auto done = pub.wait_for_line("done");
    const auto result = honest.wait_for_line("result");
    ASSERT_TRUE(result) << "the honest reader never received all messages";
    EXPECT_EQ(*result, "result delivered=20000 lost=0 torn=0 skipped=0 bad=0");
    EXPECT_EQ(done, "done 20000");
    EXPECT_EQ(honest.wait(), 0);
    scribbler.close_stdin();
    EXPECT_TRUE(scribbler.wait_for_line("rounds"));
    EXPECT_EQ(scribbler.wait(), 0);
    EXPECT_EQ(pub.wait(), 0);
}

// Sums the counts of a delivery peer's "result delivered=... lost=... torn=... skipped=..."
// line: every message accounted for once.
std::uint64_t accounted(const std::string& result) {
    std::uint64_t total = 0;
    for (const char* key : {"delivered=", "lost=", "torn=", "skipped="}) {
        const auto at = result.find(key);
        if (at != std::string::npos) total += std::stoull(result.substr(at + std::strlen(key)));
    }
    return total;
}

// A hostile member of one consumer group scribbles over everything it can map, its own
// group's segment included: it may ruin its own group, but another group and a plain
// reader of the same topic must account for every message, undamaged.
TEST_F(DataPathTest, hostileGroupMemberDisturbsOnlyItsOwnGroup) {
    const std::vector<std::string> topic{"capacity=256", "size=64", "mode=overwrite"};
    auto with = [&](std::vector<std::string> a) {
        a.insert(a.end(), topic.begin(), topic.end());
        return a;
    };
    ChildProcess member = delivery(
        with({"subscribe", domain_, "hostile/group", "group=good", "expect=20000", "strict=0"}));
    ASSERT_EQ(member.wait_for_line("ready"), "ready");
    ChildProcess plain =
        delivery(with({"subscribe", domain_, "hostile/group", "expect=20000", "strict=0"}));
    ASSERT_EQ(plain.wait_for_line("ready"), "ready");
    ChildProcess scribbler = hostile(with({"scribble", domain_, "hostile/group", "group=evil"}));
    ASSERT_TRUE(scribbler.wait_for_line("scribbling")) << "the scribbler did not start";
    ChildProcess pub = delivery(with({"publish", domain_, "hostile/group", "count=20000"}));
    EXPECT_EQ(pub.wait_for_line("done"), "done 20000");
    for (ChildProcess* reader : {&member, &plain}) {
        const auto result = reader->wait_for_line("result");
        ASSERT_TRUE(result) << "an honest reader never accounted for all messages";
        EXPECT_NE(result->find("bad=0"), std::string::npos) << *result;
        EXPECT_EQ(accounted(*result), 20000U) << *result;
        EXPECT_EQ(reader->wait(), 0);
    }
    scribbler.close_stdin();
    EXPECT_TRUE(scribbler.wait_for_line("rounds"));
    EXPECT_EQ(scribbler.wait(), 0) << "the scribbler crashed on its own garbage";
    EXPECT_EQ(pub.wait(), 0);
}

// A reader's segment reaches a publisher as an event on its daemon connection. Found by
// the chaos test: when the daemon died right after sending it, the publisher saw the
// hang-up first and dropped the event, and a reliable topic's publishers then gated on
// the reader's start until a daemon came back. Stopping the publisher while the reader
// subscribes and the daemon dies puts the event and the hang-up before it together.
TEST_F(DataPathTest, readerSegmentSentJustBeforeTheDaemonDiedStillReachesPublishers) {
    const std::vector<std::string> topic{"capacity=16", "size=64", "mode=reliable"};
    auto with = [&](std::vector<std::string> a) {
        a.insert(a.end(), topic.begin(), topic.end());
        return a;
    };
    ChildProcess pub = delivery(
        with({"publish", domain_, "restart/event", "count=200", "timeout_ms=3000", "wait=1"}));
    ASSERT_EQ(pub.wait_for_line("ready"), "ready");
    ASSERT_EQ(::kill(pub.pid(), SIGSTOP), 0);
    ASSERT_TRUE(pub.wait_stopped());
    ChildProcess reader =
        delivery(with({"subscribe", domain_, "restart/event", "expect=200", "strict=1"}));
    ASSERT_EQ(reader.wait_for_line("ready"), "ready");
    daemon_->kill_hard();
    pub.resume();
    ASSERT_TRUE(pub.write_line("go"));
    EXPECT_EQ(pub.wait_for_line("done"), "done 200")
        << "the publisher never learnt of the reader: it gated on the reader's start";
    const auto result = reader.wait_for_line("result");
    ASSERT_TRUE(result);
    EXPECT_EQ(*result, "result delivered=200 lost=0 torn=0 skipped=0 bad=0");
    EXPECT_EQ(pub.wait(), 0);
    EXPECT_EQ(reader.wait(), 0);
    daemon_ = ipcbus::test::start_daemon(domain_);  // for the registry check at the end
    ASSERT_TRUE(daemon_);
}

// --- large messages: 8 MiB frames from the buffer pool, every byte checksummed -----------

// Overwrite mode, a reader slower than the publisher: it loses messages (counted) or
// finds them overwritten while it copies them (counted as torn), but never takes a
// damaged one for a message, and accounts for every one.
TEST_F(DataPathTest, eightMiBFramesReachASlowOverwriteReaderIntactOrCounted) {
    const std::vector<std::string> topic{"capacity=4", "size=8388608", "mode=overwrite"};
    auto with = [&](std::vector<std::string> a) {
        a.insert(a.end(), topic.begin(), topic.end());
        return a;
    };
    ChildProcess reader = delivery(
        with({"subscribe", domain_, "large/overwrite", "expect=60", "strict=0", "work=2000000"}));
    ASSERT_EQ(reader.wait_for_line("ready"), "ready");
    ChildProcess pub = delivery(with({"publish", domain_, "large/overwrite", "count=60"}));
    EXPECT_EQ(pub.wait_for_line("done"), "done 60");
    const auto result = reader.wait_for_line("result");
    ASSERT_TRUE(result);
    EXPECT_NE(result->find("bad=0"), std::string::npos) << *result;
    EXPECT_EQ(accounted(*result), 60U) << *result;
    std::printf("slow reader of 8 MiB frames: %s\n", result->c_str());
    EXPECT_EQ(reader.wait(), 0);
    EXPECT_EQ(pub.wait(), 0);
}

// Reliable mode, one of two readers stopped: the publisher is held back (the contract),
// the other reader loses nothing meanwhile, and once the stopped one goes on both get
// every frame, every byte intact, in order.
TEST_F(DataPathTest, eightMiBFramesWaitForAStoppedReliableReaderAndLoseNothing) {
    const std::vector<std::string> topic{"capacity=4", "size=8388608", "mode=reliable"};
    auto with = [&](std::vector<std::string> a) {
        a.insert(a.end(), topic.begin(), topic.end());
        return a;
    };
    ChildProcess running =
        delivery(with({"subscribe", domain_, "large/reliable", "expect=40", "strict=1"}));
    ASSERT_EQ(running.wait_for_line("ready"), "ready");
    ChildProcess stopped =
        delivery(with({"subscribe", domain_, "large/reliable", "expect=40", "strict=1", "wait=1"}));
    ASSERT_EQ(stopped.wait_for_line("ready"), "ready");
    ASSERT_EQ(::kill(stopped.pid(), SIGSTOP), 0);
    ASSERT_TRUE(stopped.wait_stopped());
    ChildProcess pub =
        delivery(with({"publish", domain_, "large/reliable", "count=40", "timeout_ms=200"}));
    const auto blocked = pub.wait_for_line("would_block");
    ASSERT_TRUE(blocked) << "the publisher was not held back by the stopped reader";
    stopped.resume();
    ASSERT_TRUE(stopped.write_line("go"));
    EXPECT_EQ(pub.wait_for_line("done"), "done 40");
    for (ChildProcess* reader : {&running, &stopped}) {
        const auto result = reader->wait_for_line("result");
        ASSERT_TRUE(result);
        EXPECT_EQ(*result, "result delivered=40 lost=0 torn=0 skipped=0 bad=0");
        EXPECT_EQ(reader->wait(), 0);
    }
    EXPECT_EQ(pub.wait(), 0);
}

// A publisher that holds a loan (a camera driver waiting for its next frame) and is then
// stopped must delay no one. Found: the sequence was claimed in loan(), so the loan was a
// BUSY slot that every reader stopped at, and after a lap every publisher spun on it.
TEST_F(DataPathTest, stoppedLoanHolderDelaysNoOtherPublisherOrReader) {
    const std::vector<std::string> topic{"capacity=64", "size=64", "mode=reliable"};
    auto with = [&](std::vector<std::string> a) {
        a.insert(a.end(), topic.begin(), topic.end());
        return a;
    };
    ChildProcess reader =
        delivery(with({"subscribe", domain_, "loan/stopped", "expect=2001", "strict=1"}));
    ASSERT_EQ(reader.wait_for_line("ready"), "ready");
    ChildProcess holder = hostile(with({"hold_loan", domain_, "loan/stopped"}));
    ASSERT_EQ(holder.wait_for_line("holding"), "holding");
    ASSERT_EQ(::kill(holder.pid(), SIGSTOP), 0);
    ChildProcess other =
        delivery(with({"publish", domain_, "loan/stopped", "count=2000", "pub=1"}));
    EXPECT_EQ(other.wait_for_line("done"), "done 2000") << "the stopped loan holder held it back";
    EXPECT_EQ(other.wait(), 0);
    ASSERT_EQ(::kill(holder.pid(), SIGCONT), 0);
    holder.write_line("publish");
    EXPECT_EQ(holder.wait_for_line("published"), "published");
    EXPECT_EQ(holder.wait(), 0);
    const auto result = reader.wait_for_line("result");
    ASSERT_TRUE(result);
    EXPECT_EQ(*result, "result delivered=2001 lost=0 torn=0 skipped=0 bad=0");
    EXPECT_EQ(reader.wait(), 0);
}

// The same, with the loan holder killed while it holds the loan.
TEST_F(DataPathTest, killedLoanHolderDelaysNoOtherPublisherOrReader) {
    const std::vector<std::string> topic{"capacity=64", "size=64", "mode=reliable"};
    auto with = [&](std::vector<std::string> a) {
        a.insert(a.end(), topic.begin(), topic.end());
        return a;
    };
    ChildProcess reader =
        delivery(with({"subscribe", domain_, "loan/killed", "expect=2000", "strict=1"}));
    ASSERT_EQ(reader.wait_for_line("ready"), "ready");
    ChildProcess holder = hostile(with({"hold_loan", domain_, "loan/killed"}));
    ASSERT_EQ(holder.wait_for_line("holding"), "holding");
    ChildProcess other = delivery(with({"publish", domain_, "loan/killed", "count=1000", "pub=1"}));
    EXPECT_EQ(other.wait_for_line("done"), "done 1000");
    holder.kill_hard();
    ChildProcess after = delivery(with({"publish", domain_, "loan/killed", "count=1000", "pub=2"}));
    EXPECT_EQ(after.wait_for_line("done"), "done 1000");
    const auto result = reader.wait_for_line("result");
    ASSERT_TRUE(result) << "the reader never got past the killed holder's loan";
    EXPECT_NE(result->find("delivered=2000 lost=0"), std::string::npos) << *result;
    EXPECT_NE(result->find("bad=0"), std::string::npos) << *result;
    EXPECT_EQ(other.wait(), 0);
    EXPECT_EQ(after.wait(), 0);
    EXPECT_EQ(reader.wait(), 0);
}

// A single publisher that keeps one loan while it sends a whole ring more. Found: the
// 15th send() on a 16-slot ring never returned (it lapped onto its own loan and spun).
TEST_F(DataPathTest, publisherHoldingALoanCanStillSendAWholeRing) {
    ChildProcess pub =
        hostile({"fill_while_holding", domain_, "loan/self", "capacity=16", "size=64", "count=16"});
    EXPECT_EQ(pub.wait_for_line("sent"), "sent 16")
        << "send() hung behind the publisher's own loan";
    EXPECT_EQ(pub.wait_for_line("done"), "done");
    EXPECT_EQ(pub.wait(), 0);
}

// Publisher B holds a loan; A publishes two laps of an overwrite ring, so it reaches B's
// slot; then B is killed. Found: A overwrote the slot's owner word with its own id while
// it waited for B, so the daemon never resolved B's slot, and A spun at full CPU for ever.
TEST_F(DataPathTest, lappingAKilledLoanHoldersSlotDoesNotHang) {
    const std::vector<std::string> topic{"capacity=16", "size=64", "mode=overwrite"};
    auto with = [&](std::vector<std::string> a) {
        a.insert(a.end(), topic.begin(), topic.end());
        return a;
    };
    ChildProcess holder = hostile(with({"hold_loan", domain_, "loan/lapped"}));
    ASSERT_EQ(holder.wait_for_line("holding"), "holding");
    ChildProcess lapper = delivery(with({"publish", domain_, "loan/lapped", "count=40"}));
    ASSERT_EQ(lapper.wait_for_line("ready"), "ready");
    holder.kill_hard();
    EXPECT_EQ(lapper.wait_for_line("done"), "done 40") << "the lapping publisher hung";
    EXPECT_EQ(lapper.wait(), 0);
}

// A late joiner with history on a reliable topic must only ever be handed messages that
// no publisher will overwrite while it holds them. Found: a publisher that had computed
// its claim limit before the reader's row existed went on overwriting the history the
// reader was reading (4-5 torn samples in 1.4 million, with checksummed payloads). Here
// the publisher's cached limit is made to cover the history deterministically: it fills a
// lap with nobody reading, so it may claim a whole lap more without looking again.
TEST_F(DataPathTest, reliableLateJoinerIsNeverHandedHistoryBeingOverwritten) {
    const ipcbus::TopicOptions options{64, 256, 4, ipcbus::DeliveryMode::reliable};
    auto pub = ipcbus::RawPublisher::create(node_, "history/reliable", options);
    ASSERT_TRUE(pub) << pub.error().message;
    pub->set_block_timeout(std::chrono::nanoseconds(0));
    std::vector<std::byte> message(256);
    std::uint64_t counter = 0;
    for (; counter < 74; ++counter) {
        ipcbus::test::write_payload(message, 1, counter);
        ASSERT_TRUE(pub->send(message));
    }
    ipcbus::ReaderOptions late;
    late.history = 32;
    auto sub =
        ipcbus::RawSubscriber::create(node_, "history/reliable", options, ipcbus::any_type, late);
    ASSERT_TRUE(sub) << sub.error().message;
    auto first = sub->take();
    ASSERT_TRUE(first && first->has_value());
    ipcbus::test::PayloadHeader before{};
    ASSERT_TRUE(ipcbus::test::check_payload((*first)->data(), before));
    // The publisher goes on as far as it may. It must stop before the held message.
    for (int i = 0; i < 64; ++i, ++counter) {
        ipcbus::test::write_payload(message, 1, counter);
        if (!pub->send(message)) break;
    }
    ipcbus::test::PayloadHeader after{};
    EXPECT_TRUE(ipcbus::test::check_payload((*first)->data(), after) &&
                after.counter == before.counter)
        << "the held history message " << before.counter << " was overwritten";
}

// A reader asleep in receive() and a burst of messages: the publisher must pay one
// wake-up per sleep of the reader, not one per message. Found: while any reader was
// asleep every commit made a FUTEX_WAKE, so a burst after idle cost a system call per
// message.
TEST_F(DataPathTest, burstToASleepingReaderCostsAWakeUpPerSleepNotPerMessage) {
    auto pub = ipcbus::RawPublisher::create(node_, "wake/burst", {1024, 64, 0});
    auto sub = ipcbus::RawSubscriber::create(node_, "wake/burst", {1024, 64, 0});
    ASSERT_TRUE(pub && sub);
    sub->set_wait_strategy(ipcbus::WaitStrategy::spin_then_block, std::chrono::nanoseconds(0));
    constexpr int kBursts = 20;
    constexpr int kBurst = 200;
    auto& counters = ipcbus::detail::futex_counters();
    std::atomic<int> received{0};
    std::thread reader([&] {
        while (received.load() < kBursts * kBurst) {
            auto got = sub->receive(std::chrono::seconds(30));
            if (!got) break;
            received.fetch_add(1);
        }
    });
    const std::uint64_t sleeps_before = counters.announced.load();
    const std::uint64_t wakes_before = counters.wakes.load();
    std::byte message[64]{};
    for (int burst = 0; burst < kBursts; ++burst) {
        // Publish only once the reader is asleep (or about to be) and has taken all.
        while (received.load() < burst * kBurst || counters.sleeping.load() == 0) {
            std::this_thread::yield();
        }
        for (int i = 0; i < kBurst; ++i) ASSERT_TRUE(pub->send(message));
    }
    reader.join();
    ASSERT_EQ(received.load(), kBursts * kBurst);
    const std::uint64_t sleeps = counters.announced.load() - sleeps_before;
    const std::uint64_t wakes = counters.wakes.load() - wakes_before;
    EXPECT_LE(wakes, sleeps + 1) << wakes << " wake-ups for " << sleeps << " sleeps and "
                                 << kBursts * kBurst << " messages";
}

}  // namespace
