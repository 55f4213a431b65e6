// The ring over plain heap memory: every invariant listed in src/ring.hpp.
#include <gtest/gtest.h>

#include <cstring>
#include <thread>
#include <vector>

#include "heap_segment.hpp"
#include "ring.hpp"
#include "wait.hpp"

namespace ipcbus::detail {
namespace {

using test::HeapSegment;

// Publishes one message whose payload is its sequence number.
std::uint64_t publish_one(RingWriter& w) {
    std::uint64_t seq = 0;
    EXPECT_EQ(w.claim(seq), ClaimStatus::claimed);
    std::memcpy(w.view().payload(seq), &seq, sizeof seq);
    w.commit(seq, sizeof seq, 7, 1000 + seq);
    return seq;
}

std::uint64_t payload_of(const Polled& m) {
    std::uint64_t v = 0;
    std::memcpy(&v, m.payload, sizeof v);
    return v;
}

class RingTest : public ::testing::Test {
  protected:
    HeapSegment seg_{8};
    RingWriter writer_{seg_.view(), 1};
    RingReader reader_{seg_.view(), 0, nullptr};
};

TEST_F(RingTest, emptyRingHasNoMessage) {
    Polled m{};
    EXPECT_EQ(reader_.poll(m), PollStatus::empty);
}

TEST_F(RingTest, deliversInOrderWithHeaderFields) {
    for (int i = 0; i < 5; ++i) publish_one(writer_);
    for (std::uint64_t i = 0; i < 5; ++i) {
        Polled m{};
        ASSERT_EQ(reader_.poll(m), PollStatus::message);
        EXPECT_EQ(m.sequence, i);
        EXPECT_EQ(payload_of(m), i);
        EXPECT_EQ(m.size, sizeof(std::uint64_t));
        EXPECT_EQ(m.publisher_id, 7U);
        EXPECT_EQ(m.timestamp_ns, 1000 + i);
        EXPECT_FALSE(RingReader::overwritten(m));
    }
    Polled m{};
    EXPECT_EQ(reader_.poll(m), PollStatus::empty);
    EXPECT_EQ(reader_.lost(), 0U);
}

TEST_F(RingTest, busySlotIsNotDataUntilCommitted) {
    std::uint64_t seq = 0;
    ASSERT_EQ(writer_.claim(seq), ClaimStatus::claimed);
    Polled m{};
    EXPECT_EQ(reader_.poll(m), PollStatus::empty);
    writer_.commit(seq, 0, 1, 0);
    EXPECT_EQ(reader_.poll(m), PollStatus::message);
}

TEST_F(RingTest, overrunReaderJumpsToOldestAndCountsExactly) {
    for (int i = 0; i < 8 * 3 + 5; ++i) publish_one(writer_);  // 29 messages, ring of 8
    Polled m{};
    ASSERT_EQ(reader_.poll(m), PollStatus::message);
    EXPECT_EQ(m.sequence, 21U);  // oldest still in the ring: 29 - 8
    EXPECT_EQ(reader_.lost(), 21U);
    for (std::uint64_t s = 22; s < 29; ++s) {
        ASSERT_EQ(reader_.poll(m), PollStatus::message);
        EXPECT_EQ(m.sequence, s);
    }
    EXPECT_EQ(reader_.poll(m), PollStatus::empty);
    EXPECT_EQ(reader_.lost(), 21U);
}

TEST_F(RingTest, sampleHeldWhilePublisherLapsIsReportedOverwritten) {
    publish_one(writer_);
    Polled m{};
    ASSERT_EQ(reader_.poll(m), PollStatus::message);
    for (int i = 0; i < 7; ++i) publish_one(writer_);
    EXPECT_FALSE(RingReader::overwritten(m));  // slot 0 not reused yet
    std::uint64_t seq = 0;
    ASSERT_EQ(writer_.claim(seq), ClaimStatus::claimed);  // seq 8 takes slot 0: BUSY
    EXPECT_TRUE(RingReader::overwritten(m));
    writer_.commit(seq, 8, 1, 0);
    EXPECT_TRUE(RingReader::overwritten(m));
}

TEST_F(RingTest, abandonedSequenceIsSkippedAndCounted) {
    publish_one(writer_);
    std::uint64_t seq = 0;
    ASSERT_EQ(writer_.claim(seq), ClaimStatus::claimed);
    writer_.abandon(seq);
    publish_one(writer_);
    Polled m{};
    ASSERT_EQ(reader_.poll(m), PollStatus::message);
    EXPECT_EQ(m.sequence, 0U);
    ASSERT_EQ(reader_.poll(m), PollStatus::message);
    EXPECT_EQ(m.sequence, 2U);
    EXPECT_EQ(reader_.skipped(), 1U);
    EXPECT_EQ(reader_.lost(), 0U);
    EXPECT_EQ(seg_.header().skipped_total.load(), 1U);
}

TEST_F(RingTest, outOfOrderCommitsAreDeliveredInSequenceOrder) {
    RingWriter second(seg_.view(), 2);
    std::uint64_t a = 0, b = 0;
    ASSERT_EQ(writer_.claim(a), ClaimStatus::claimed);
    ASSERT_EQ(second.claim(b), ClaimStatus::claimed);
    second.commit(b, 0, 2, 0);  // b lands first
    Polled m{};
    EXPECT_EQ(reader_.poll(m), PollStatus::empty);  // waits for a, the one it needs
    writer_.commit(a, 0, 1, 0);
    ASSERT_EQ(reader_.poll(m), PollStatus::message);
    EXPECT_EQ(m.publisher_id, 1U);
    ASSERT_EQ(reader_.poll(m), PollStatus::message);
    EXPECT_EQ(m.publisher_id, 2U);
}

TEST_F(RingTest, deadPublishersBusySlotsBecomeSkipped) {
    RingWriter doomed(seg_.view(), 9);
    std::uint64_t held = 0;
    ASSERT_EQ(doomed.claim(held), ClaimStatus::claimed);  // then "dies" holding it
    std::uint64_t mine = 0;
    ASSERT_EQ(writer_.claim(mine), ClaimStatus::claimed);  // a live publisher's slot
    Polled m{};
    EXPECT_EQ(reader_.poll(m), PollStatus::empty);  // stuck behind the dead one's slot
    EXPECT_EQ(resolve_abandoned_slots(seg_.view(), 9), 1U);
    EXPECT_EQ(resolve_abandoned_slots(seg_.view(), 9), 0U);  // idempotent
    writer_.commit(mine, 0, 1, 0);
    ASSERT_EQ(reader_.poll(m), PollStatus::message);
    EXPECT_EQ(m.sequence, mine);
    EXPECT_EQ(reader_.skipped(), 1U);
}

TEST_F(RingTest, claimLappedByAnotherPublisherWritesNothing) {
    std::uint64_t stale = 0;
    ASSERT_EQ(writer_.claim(stale), ClaimStatus::claimed);
    writer_.abandon(stale);
    // Simulate a publisher that claimed `stale` + 8 and finished before ours claimed:
    // rewind the cursor so our next claim gets an already-overtaken sequence.
    for (int i = 0; i < 8; ++i) publish_one(writer_);
    seg_.header().write_cursor.store(stale);
    std::uint64_t seq = 0;
    EXPECT_EQ(writer_.claim(seq), ClaimStatus::lapped);
    EXPECT_EQ(seq, stale);
}

TEST_F(RingTest, oversizedLengthIsReportedCorruptAndConsumed) {
    std::uint64_t seq = 0;
    ASSERT_EQ(writer_.claim(seq), ClaimStatus::claimed);
    writer_.commit(seq, 1'000'000, 1, 0);  // a buggy writer: bigger than the slot
    publish_one(writer_);
    Polled m{};
    EXPECT_EQ(reader_.poll(m), PollStatus::corrupt);
    EXPECT_EQ(reader_.lost(), 1U);
    ASSERT_EQ(reader_.poll(m), PollStatus::message);
    EXPECT_EQ(m.sequence, 1U);
}

TEST_F(RingTest, readerEntryMirrorsCursorAndLosses) {
    layout::ReaderEntry& entry = seg_.view().readers[0];
    RingReader observed(seg_.view(), 0, &entry);
    for (int i = 0; i < 20; ++i) publish_one(writer_);
    Polled m{};
    ASSERT_EQ(observed.poll(m), PollStatus::message);
    EXPECT_EQ(entry.lost.load(), 12U);
    EXPECT_EQ(entry.cursor.load(), 13U);
}

// One writer thread, one reader thread, no overrun (ring larger than the stream): every
// message arrives once, in order. Runs under ThreadSanitizer in CI.
TEST(RingThreads, writerAndReaderThreadsAgreeOnEveryMessage) {
    constexpr std::uint64_t kCount = 20'000;
    HeapSegment seg(32768);
    std::thread producer([&] {
        RingWriter w(seg.view(), 1);
        for (std::uint64_t i = 0; i < kCount; ++i) publish_one(w);
    });
    RingReader r(seg.view(), 0, nullptr);
    std::uint64_t received = 0;
    while (received < kCount) {
        Polled m{};
        if (r.poll(m) != PollStatus::message) continue;
        ASSERT_EQ(m.sequence, received);
        ASSERT_EQ(payload_of(m), received);
        ++received;
    }
    producer.join();
    EXPECT_EQ(r.lost(), 0U);
}

// Two writer threads share the ring: one global order, no sequence lost or doubled.
TEST(RingThreads, twoWritersProduceOneGapFreeSequence) {
    constexpr std::uint64_t kEach = 10'000;
    HeapSegment seg(32768);
    auto produce = [&] {
        RingWriter w(seg.view(), 1);
        for (std::uint64_t i = 0; i < kEach; ++i) publish_one(w);
    };
    std::thread a(produce), b(produce);
    RingReader r(seg.view(), 0, nullptr);
    std::uint64_t received = 0;
    while (received < 2 * kEach) {
        Polled m{};
        if (r.poll(m) != PollStatus::message) continue;
        ASSERT_EQ(m.sequence, received);
        ASSERT_EQ(payload_of(m), received);
        ++received;
    }
    a.join();
    b.join();
    EXPECT_EQ(r.lost(), 0U);
}

// The notification thread is told of pending orphans once per orphaning, not once per
// count: a count that went 1 -> 0 -> 1 between two looks is a new orphan (found in review;
// a missed one can leave a reliable publisher blocked behind the dead member's messages).
TEST(OrphanReadiness, aNewOrphaningIsReadyEvenWhenTheCountIsTheSameAsBefore) {
    HeapSegment seg(8);
    const auto view = seg.view();
    auto& group = view.readers[0];
    Readiness notifier{&view, &group.cursor, &group.orphans, &group.orphan_events};
    notifier.once_per_orphaning = true;
    notifier.orphan_events_seen = group.orphan_events.load() - 1;
    EXPECT_FALSE(notifier.ready());  // nothing pending

    group.orphans.store(1);  // a member dies holding messages
    group.orphan_events.fetch_add(1);
    EXPECT_TRUE(notifier.ready());
    notifier.orphan_events_seen = group.orphan_events.load();  // signalled
    EXPECT_FALSE(notifier.ready());  // told once; the member takes them in its own time

    group.orphans.store(0);  // taken over and emptied
    group.orphans.store(1);  // another member dies before the notifier looks again
    group.orphan_events.fetch_add(1);
    EXPECT_TRUE(notifier.ready());

    Readiness waiter{&view, &group.cursor, &group.orphans, &group.orphan_events};
    EXPECT_TRUE(waiter.ready());  // a waiter in receive() is ready while any are pending
}

}  // namespace
}  // namespace ipcbus::detail
