// SPDX-License-Identifier: Apache-2.0
// The ring over plain heap memory: every invariant listed in src/ring.hpp, the exclusive
// and shared claim paths, stalled and dead publishers, reliable gating with history, the
// buffer pool, one wake-up per sleep, and hostile values in readers' memory.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <set>
#include <thread>
#include <vector>

#include "heap_segment.hpp"
#include "ring.hpp"
#include "wait.hpp"

namespace ipcbus::detail {
namespace {

using test::HeapOptions;
using test::HeapSegment;

// A publisher as the library builds one: its table entry, its view of the readers, and
// the writer. `exclusive`: the daemon granted it the exclusive fast path.
struct Writer {
    Writer(HeapSegment& seg, std::uint32_t id, bool exclusive)
        : entry(seg.add_publisher(id)),
          readers(seg.view()),
          writer(seg.view(), id, entry, readers, nullptr) {
        if (exclusive) seg.header().exclusive.store(layout::kExclusiveOwned | id);
        seg.offer_all(readers);
    }
    PublishStatus send(std::uint64_t value, std::uint64_t& seq) {
        std::byte payload[8];
        std::memcpy(payload, &value, 8);
        MessageMeta meta;
        meta.size = 8;
        return writer.publish(payload, meta, seq);
    }
    std::uint64_t send(std::uint64_t value) {
        std::uint64_t seq = 0;
        EXPECT_EQ(send(value, seq), PublishStatus::published);
        return seq;
    }
    layout::PublisherEntry* entry;
    ReaderSet readers;
    RingWriter writer;
};

std::uint64_t payload_of(const Polled& m) {
    std::uint64_t v = 0;
    std::memcpy(&v, m.payload, sizeof v);
    return v;
}

class RingTest : public ::testing::TestWithParam<bool> {  // exclusive or shared writer
  protected:
    HeapSegment seg_{8};
    Writer writer_{seg_, 7, GetParam()};
    RingReader reader_{seg_.view(), nullptr, 0};
};

INSTANTIATE_TEST_SUITE_P(ClaimPath, RingTest, ::testing::Values(true, false),
                         [](const auto& p) { return p.param ? "exclusive" : "shared"; });

TEST_P(RingTest, emptyRingHasNoMessage) {
    Polled m{};
    EXPECT_EQ(reader_.poll(m), PollStatus::empty);
}

TEST_P(RingTest, deliversInOrderWithHeaderFields) {
    for (std::uint64_t i = 0; i < 5; ++i) EXPECT_EQ(writer_.send(100 + i), i);
    for (std::uint64_t i = 0; i < 5; ++i) {
        Polled m{};
        ASSERT_EQ(reader_.poll(m), PollStatus::message);
        EXPECT_EQ(m.sequence, i);
        EXPECT_EQ(payload_of(m), 100 + i);
        EXPECT_EQ(m.size, 8U);
        EXPECT_EQ(m.publisher_id, 7U);
        EXPECT_EQ(m.origin_sequence, i);
        EXPECT_GT(m.timestamp_ns, 0U);
        EXPECT_FALSE(overwritten(m));
    }
    Polled m{};
    EXPECT_EQ(reader_.poll(m), PollStatus::empty);
    EXPECT_EQ(reader_.lost(), 0U);
    EXPECT_EQ(seg_.header().write_cursor.load(), 5U);
}

TEST_P(RingTest, overrunReaderJumpsToOldestAndCountsExactly) {
    for (int i = 0; i < 8 * 3 + 5; ++i) writer_.send(static_cast<std::uint64_t>(i));  // 29 in 8
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

TEST_P(RingTest, sampleHeldWhilePublisherLapsIsReportedOverwritten) {
    writer_.send(1);
    Polled m{};
    ASSERT_EQ(reader_.poll(m), PollStatus::message);
    for (int i = 0; i < 7; ++i) writer_.send(2);
    EXPECT_FALSE(overwritten(m));  // frame 0 not reused yet
    writer_.send(3);               // sequence 8 reuses frame 0
    EXPECT_TRUE(overwritten(m));
}

TEST_P(RingTest, readerRowMirrorsPositionAndLossesWhenPublished) {
    auto entry = seg_.add_reader();
    RingReader observed(seg_.view(), entry.row, entry.start);
    for (int i = 0; i < 20; ++i) writer_.send(9);
    Polled m{};
    ASSERT_EQ(observed.poll(m), PollStatus::message);
    observed.publish_position();
    EXPECT_EQ(entry.row->lost.load(), 12U);
    EXPECT_EQ(entry.row->position.load(), 13U);
    EXPECT_EQ(entry.row->received.load(), 1U);
}

// --- the exclusive path given up and granted again --------------------------------------

// A lone publisher loses the exclusive path to a second one (revoked while it is between
// publishes, so it never takes the shared path itself), the second publishes and leaves,
// and the first gets the exclusive path back: it must go on from the cursor as it is now.
// Found by the chaos test: it went on from where it had stopped, wrote over the second
// publisher's messages and moved the cursor backwards.
TEST(ExclusivePath, regrantedPublisherGoesOnFromTheCursorAsItIsNow) {
    HeapSegment seg(8);
    Writer first(seg, 1, true);
    Writer second(seg, 2, false);
    EXPECT_EQ(first.send(10), 0U);
    EXPECT_EQ(first.send(11), 1U);
    ASSERT_TRUE(revoke_exclusive(seg.view(), 0));  // first is outside a publish
    EXPECT_EQ(second.send(20), 2U);
    EXPECT_EQ(second.send(21), 3U);
    seg.header().exclusive.store(layout::kExclusiveOwned | 1);  // second left: the daemon regrants
    EXPECT_EQ(first.send(12), 4U);
    EXPECT_EQ(seg.header().write_cursor.load(), 5U);
    RingReader reader(seg.view(), nullptr, 0);
    for (const std::uint64_t expected : {10, 11, 20, 21, 12}) {
        Polled m{};
        ASSERT_EQ(reader.poll(m), PollStatus::message);
        EXPECT_EQ(payload_of(m), expected);
    }
}

// Found by the chaos test: a publisher killed inside an exclusive publish leaves its
// entry's in_publish odd; the daemon frees the entry, a new lone publisher gets it, and
// until that one published for the first time, every revocation saw "inside a publish" and
// a second publisher's create() failed after 2 s.
TEST(ExclusivePath, aReusedEntryOfAPublisherThatDiedInsideAPublishCanBeRevoked) {
    HeapSegment seg(8);
    layout::PublisherEntry* dead = seg.add_publisher(1);
    dead->in_publish.store(7);  // it died between the odd store and the even one
    dead->state.store(static_cast<std::uint32_t>(layout::PublisherState::free));  // freed
    layout::PublisherEntry* reused = seg.add_publisher(2);
    ASSERT_EQ(reused, dead) << "the freed entry is the one handed out again";
    seg.header().exclusive.store(layout::kExclusiveOwned | 2);
    EXPECT_TRUE(revoke_exclusive(seg.view(), 0)) << "the new publisher has not published yet";
}

// --- frames the reader finds in odd states (written directly, as another process would) ---

class FrameStatesTest : public ::testing::Test {
  protected:
    HeapSegment seg_{8};
    Writer writer_{seg_, 1, false};
    RingReader reader_{seg_.view(), nullptr, 0};
    void stamp(std::uint64_t seq, std::uint64_t value) {
        seg_.view().frame(seq).stamp.store(value);
    }
};

TEST_F(FrameStatesTest, busyFrameIsNotDataUntilCommitted) {
    seg_.header().write_cursor.store(1);
    stamp(0, layout::busy_stamp(5, 0));
    Polled m{};
    EXPECT_EQ(reader_.poll(m), PollStatus::empty);
    stamp(0, layout::stamp_of(0));
    EXPECT_EQ(reader_.poll(m), PollStatus::message);
}

TEST_F(FrameStatesTest, outOfOrderCommitsAreDeliveredInSequenceOrder) {
    seg_.header().write_cursor.store(2);
    stamp(0, layout::busy_stamp(5, 0));  // ticket 0: still being written
    stamp(1, layout::stamp_of(1));       // ticket 1 committed first
    Polled m{};
    EXPECT_EQ(reader_.poll(m), PollStatus::empty);  // waits for 0, the one it needs
    stamp(0, layout::stamp_of(0));
    ASSERT_EQ(reader_.poll(m), PollStatus::message);
    EXPECT_EQ(m.sequence, 0U);
    ASSERT_EQ(reader_.poll(m), PollStatus::message);
    EXPECT_EQ(m.sequence, 1U);
}

TEST_F(FrameStatesTest, skippedAndStaleFramesArePassedOverAndCounted) {
    seg_.header().write_cursor.store(3);
    stamp(0, layout::skipped_stamp(0));
    stamp(1, layout::kBusyBit | layout::kStaleBit | (1ULL << layout::kLowBits) | 2);  // stale 1
    stamp(2, layout::stamp_of(2));
    Polled m{};
    ASSERT_EQ(reader_.poll(m), PollStatus::message);
    EXPECT_EQ(m.sequence, 2U);
    EXPECT_EQ(reader_.skipped(), 2U);
    EXPECT_EQ(reader_.lost(), 0U);
}

TEST_F(FrameStatesTest, oversizedLengthIsReportedCorruptAndConsumed) {
    writer_.send(1);
    seg_.view().frame(0).size.store(1'000'000);  // a buggy writer: bigger than the slot
    writer_.send(2);
    Polled m{};
    EXPECT_EQ(reader_.poll(m), PollStatus::corrupt);
    EXPECT_EQ(reader_.lost(), 1U);
    ASSERT_EQ(reader_.poll(m), PollStatus::message);
    EXPECT_EQ(m.sequence, 1U);
}

TEST_F(FrameStatesTest, lappedReaderNeverJumpsBackwardsEvenWhenTheCursorLags) {
    // A lone publisher moves the cursor after its commit: the reader may see a later lap
    // before the cursor. It must still jump forward, never underflow.
    stamp(0, layout::stamp_of(8));  // sequence 8 in frame 0, cursor still 0
    Polled m{};
    EXPECT_EQ(reader_.poll(m), PollStatus::empty);
    EXPECT_EQ(reader_.next(), 1U);  // 8 + 1 - capacity
    EXPECT_EQ(reader_.lost(), 1U);
}

// --- dead and stalled publishers ------------------------------------------------------

TEST_F(FrameStatesTest, deadPublishersBusyFrameAndHoleBecomeSkipped) {
    seg_.header().write_cursor.store(3);
    stamp(0, layout::busy_stamp(9, 0));  // publisher 9 died mid-write
    stamp(2, layout::stamp_of(2));       // 1 is a hole: 9 took the ticket, never marked it
    EXPECT_EQ(resolve_dead_publisher(seg_.view(), 9, 1), 2U);
    EXPECT_EQ(resolve_dead_publisher(seg_.view(), 9, 1), 0U);  // idempotent
    Polled m{};
    ASSERT_EQ(reader_.poll(m), PollStatus::message);
    EXPECT_EQ(m.sequence, 2U);
    EXPECT_EQ(reader_.skipped(), 2U);
}

TEST_F(FrameStatesTest, stalledPublishersBusyFrameIsMarkedStaleAndItsLateCommitFails) {
    // Publisher 1 marks a frame and is "stopped" before its commit; the daemon's timer
    // marks it stale. Readers pass over it; the late commit is refused and the frame is
    // given back as skipped.
    std::uint64_t seq = 0;
    seg_.header().write_cursor.store(1);
    stamp(0, layout::busy_stamp(1, 0));
    ASSERT_TRUE(resolve_stalled_claim(seg_.view(), 1, 0));
    Polled m{};
    EXPECT_EQ(reader_.poll(m), PollStatus::empty);
    EXPECT_EQ(reader_.skipped(), 1U);
    // Whoever laps the frame later can use it once the owner gave it back.
    std::uint64_t expected = layout::busy_stamp(1, 0);
    EXPECT_FALSE(seg_.view().frame(0).stamp.compare_exchange_strong(expected, layout::stamp_of(0)))
        << "a stale frame must refuse its owner's commit";
    (void)seq;
}

TEST_F(FrameStatesTest, holeOfAStalledTicketIsSkippedAndTheLateMarkExpires) {
    // Publisher 1 took ticket 0 and stalled before marking; 2 published ticket 1.
    seg_.header().write_cursor.store(1);
    std::vector<std::uint64_t> holes;
    find_holes(seg_.view(), holes, 8);
    ASSERT_EQ(holes, std::vector<std::uint64_t>{0});
    EXPECT_TRUE(skip_hole(seg_.view(), 0));
    EXPECT_FALSE(skip_hole(seg_.view(), 0));
    // The late publisher's mark now finds its own sequence already passed over: a new
    // publish through the writer takes ticket 1 (the cursor) and succeeds.
    EXPECT_EQ(writer_.send(5), 1U);
    Polled m{};
    ASSERT_EQ(reader_.poll(m), PollStatus::message);
    EXPECT_EQ(m.sequence, 1U);
    EXPECT_EQ(reader_.skipped(), 1U);
}

TEST_F(FrameStatesTest, publisherLappingAStuckFrameMarksItStaleInsteadOfSpinning) {
    // Publisher 3 holds frame 0 busy for sequence 0 and is a whole ring behind: the next
    // lap's publisher must not spin on it for ever (found in review), nor write into it.
    // Its ticket is given up (readers skip that sequence: it carries no message) and the
    // message goes out under the next one.
    stamp(0, layout::busy_stamp(3, 0));
    seg_.header().write_cursor.store(8);  // sequences 1..7 committed
    for (std::uint64_t s = 1; s < 8; ++s) stamp(s, layout::stamp_of(s));
    EXPECT_EQ(writer_.send(42), 9U);
    const std::uint64_t word = seg_.view().frame(0).stamp.load();
    EXPECT_TRUE(layout::is_stale(word));
    EXPECT_EQ(layout::busy_owner(word), 3U);
    EXPECT_EQ(layout::busy_lap_distance(word, 8), 0) << "the stale mark names the given-up ticket";
    RingReader late(seg_.view(), nullptr, 8);
    Polled m{};
    ASSERT_EQ(late.poll(m), PollStatus::message);
    EXPECT_EQ(m.sequence, 9U);
    EXPECT_EQ(payload_of(m), 42U);
    EXPECT_EQ(late.skipped(), 1U);
    // The stalled owner's commit fails and gives the frame back; the next lap uses it.
    std::uint64_t expected = layout::busy_stamp(3, 0);
    EXPECT_FALSE(seg_.view().frame(0).stamp.compare_exchange_strong(expected, layout::stamp_of(0)));
}

TEST_F(FrameStatesTest, aPublisherLappedBeforeItMarkedIsToldItsMessageExpired) {
    // Ticket 0 was taken long ago; sequence 8 is already in frame 0: readers count 0 lost.
    seg_.header().write_cursor.store(0);
    stamp(0, layout::stamp_of(8));
    std::uint64_t seq = 99;
    EXPECT_EQ(writer_.send(1, seq), PublishStatus::expired);
    EXPECT_EQ(seq, 0U);
    EXPECT_EQ(seg_.view().frame(0).stamp.load(), layout::stamp_of(8)) << "nothing was written";
}

// --- reliable mode --------------------------------------------------------------------

class ReliableTest : public ::testing::TestWithParam<bool> {
  protected:
    HeapSegment seg_{HeapOptions{16, 64, 8, DeliveryMode::reliable, 4}, "unit/reliable"};
};

INSTANTIATE_TEST_SUITE_P(ClaimPath, ReliableTest, ::testing::Values(true, false),
                         [](const auto& p) { return p.param ? "exclusive" : "shared"; });

TEST_P(ReliableTest, aReaderThatReleasesNothingHoldsThePublisherAtTheRingLessHistory) {
    auto reader = seg_.add_reader();
    Writer w(seg_, 1, GetParam());
    std::uint64_t seq = 0;
    int published = 0;
    while (w.send(0, seq) == PublishStatus::published) ++published;
    EXPECT_EQ(published, 16 - 4) << "capacity 16 less history depth 4";
    // The reader releases 5: five more go out.
    reader.row->released.store(5);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(w.send(0, seq), PublishStatus::published);
    EXPECT_EQ(w.send(0, seq), PublishStatus::full);
}

TEST_P(ReliableTest, aLateJoinerIsNeverHandedHistoryAPublisherMayStillOverwrite) {
    // The publisher computes its limit with nobody reading (so it may claim a whole ring
    // less the history depth without looking again); then a reader joins asking for more
    // history than the topic keeps. Every message it is handed must stay intact while it
    // holds it, however far the publisher goes.
    Writer w(seg_, 1, GetParam());
    for (std::uint64_t i = 0; i < 20; ++i) w.send(i);
    auto reader = seg_.add_reader(10);
    EXPECT_EQ(reader.start, 20U - 4U) << "history is clamped to the history depth";
    w.readers.offer(reader.index, seg_.view().roster[reader.index].generation.load(), reader.row,
                    nullptr);
    RingReader r(seg_.view(), reader.row, reader.start);
    HeldSet held(seg_.view(), reader.row, reader.start);
    std::vector<Polled> samples;
    Polled m{};
    while (r.poll(m) == PollStatus::message) {
        held.hold(m.sequence);
        samples.push_back(m);
    }
    ASSERT_EQ(samples.size(), 4U);
    std::uint64_t seq = 0;
    for (int i = 0; i < 64 && w.send(99, seq) == PublishStatus::published; ++i) {
    }
    for (const Polled& s : samples) {
        EXPECT_EQ(payload_of(s), s.sequence)
            << "history message " << s.sequence << " was overwritten";
    }
}

TEST_P(ReliableTest, anUnmappedReaderGatesAtItsStartUntilItsSegmentArrives) {
    Writer w(seg_, 1, GetParam());
    auto reader = seg_.add_reader();  // not offered to the writer yet
    std::uint64_t seq = 0;
    int published = 0;
    while (w.send(0, seq) == PublishStatus::published) ++published;
    EXPECT_EQ(published, 12);
    EXPECT_FALSE(w.readers.complete());
    reader.row->released.store(12);
    EXPECT_EQ(w.send(0, seq), PublishStatus::full) << "its segment is not mapped: its start counts";
    w.readers.offer(reader.index, seg_.view().roster[reader.index].generation.load(), reader.row,
                    nullptr);
    EXPECT_EQ(w.send(0, seq), PublishStatus::published);
    EXPECT_TRUE(w.readers.complete());
}

TEST_P(ReliableTest, aHostileReadersPositionsAreClampedToTheCursor) {
    auto reader = seg_.add_reader();
    Writer w(seg_, 1, GetParam());
    reader.row->released.store(~0ULL - 5);  // "I released everything, and more"
    std::uint64_t seq = 0;
    int published = 0;
    while (published < 100 && w.send(0, seq) == PublishStatus::published) ++published;
    EXPECT_EQ(published, 100) << "a lie can only hold the publisher back, never confuse it";
    EXPECT_EQ(seg_.header().write_cursor.load(), 100U);
}

// --- waking -----------------------------------------------------------------------------

TEST(Waking, aPublisherWakesOncePerSleepNotOncePerMessage) {
    HeapSegment seg(64);
    auto reader = seg.add_reader();
    Writer w(seg, 1, true);
    w.send(0);
    EXPECT_FALSE(w.readers.wake_needed()) << "nobody sleeps";
    reader.row->sleep.fetch_add(layout::kSleepEpoch + 1);  // the reader announces a sleep
    EXPECT_TRUE(w.readers.wake_needed());
    EXPECT_FALSE(w.readers.wake_needed()) << "the same sleep: woken already";
    reader.row->sleep.fetch_sub(1);
    reader.row->sleep.fetch_add(layout::kSleepEpoch + 1);  // it sleeps again
    EXPECT_TRUE(w.readers.wake_needed());
}

TEST(Waking, aReaderWhoseSegmentIsNotMappedYetIsWokenOnEveryCommit) {
    HeapSegment seg(64);
    Writer w(seg, 1, true);
    seg.add_reader();  // joined after the writer looked
    w.send(0);         // the writer notices the roster moved
    EXPECT_FALSE(w.readers.complete());
    EXPECT_TRUE(w.readers.wake_needed());
    EXPECT_TRUE(w.readers.wake_needed());
}

TEST(Waking, aReaderThatSleptAsksPublishersToFence) {
    HeapSegment seg(64);
    auto reader = seg.add_reader();
    Writer w(seg, 1, true);
    w.send(0);
    w.send(0);
    EXPECT_EQ(w.entry->fence_on.load(), 0U) << "no reader relies on a fence: none";
    reader.row->sleep.fetch_or(layout::kWantsFence);
    w.send(0);
    EXPECT_EQ(w.entry->fence_on.load(), 1U);
    EXPECT_TRUE(publishers_fence(seg.view()));
}

// --- the buffer pool --------------------------------------------------------------------

class PoolTest : public ::testing::Test {
  protected:
    HeapSegment seg_{HeapOptions{4, 8192, 4, DeliveryMode::overwrite, 1, true}, "unit/pool"};
};

TEST_F(PoolTest, aReleasedBufferIsTheNextOneHandedOut) {
    auto reader = seg_.add_reader();
    Writer w(seg_, 1, true);
    PoolWriter pool(seg_.view(), 1, w.readers);
    RingReader r(seg_.view(), reader.row, reader.start);
    HeldSet held(seg_.view(), reader.row, reader.start);
    std::uint32_t last = ~0U;
    for (std::uint64_t i = 0; i < 20; ++i) {
        auto loan = pool.take();
        ASSERT_TRUE(loan);
        if (i >= 3) {
            EXPECT_NE(loan->index, last) << "the newest message's buffer is kept (history)";
        }
        std::memcpy(seg_.view().buffer(loan->index), &i, 8);
        MessageMeta meta;
        meta.size = 8;
        meta.buffer = loan->index;
        meta.buffer_generation = loan->generation;
        std::uint64_t seq = 0;
        ASSERT_EQ(w.writer.publish({}, meta, seq), PublishStatus::published);
        pool.committed(*loan, seq);
        Polled m{};
        ASSERT_EQ(r.poll(m), PollStatus::message);
        EXPECT_EQ(payload_of(m), i);
        held.hold(m.sequence);
        held.release(m.sequence);
        held.idle();
        last = loan->index;
    }
    // With one message in flight at a time, two buffers take turns: both stay warm.
    std::set<std::uint32_t> used;
    for (std::uint32_t b = 0; b < seg_.view().pool_buffers; ++b) {
        if (seg_.view().pool[b].last_use.load() > 10) used.insert(b);
    }
    EXPECT_EQ(used.size(), 2U);
}

TEST_F(PoolTest, aHeldSampleKeepsItsBufferAndAnOverrunReaderCountsTheLoss) {
    auto slow = seg_.add_reader();
    Writer w(seg_, 1, true);
    PoolWriter pool(seg_.view(), 1, w.readers);
    RingReader r(seg_.view(), slow.row, slow.start);
    HeldSet held(seg_.view(), slow.row, slow.start);
    auto publish = [&](std::uint64_t value) {
        auto loan = pool.take();
        EXPECT_TRUE(loan);
        std::memcpy(seg_.view().buffer(loan->index), &value, 8);
        MessageMeta meta;
        meta.size = 8;
        meta.buffer = loan->index;
        meta.buffer_generation = loan->generation;
        std::uint64_t seq = 0;
        EXPECT_EQ(w.writer.publish({}, meta, seq), PublishStatus::published);
        pool.committed(*loan, seq);
    };
    publish(100);
    Polled first{};
    ASSERT_EQ(r.poll(first), PollStatus::message);
    held.hold(first.sequence);
    held.idle();
    // A publisher in overwrite mode never waits: 30 more, the ring laps many times.
    for (std::uint64_t i = 0; i < 30; ++i) publish(200 + i);
    EXPECT_TRUE(overwritten(first)) << "the pool ran out of free buffers: the oldest was taken";
    Polled m{};
    ASSERT_EQ(r.poll(m), PollStatus::message);
    EXPECT_GT(r.lost(), 0U);
}

TEST(ReliablePool, aLoanNeverGetsABufferAReaderMayStillRead) {
    HeapSegment seg(HeapOptions{4, 8192, 4, DeliveryMode::reliable, 1, true}, "unit/rpool");
    seg.add_reader();  // releases nothing
    Writer w(seg, 1, true);
    PoolWriter pool(seg.view(), 1, w.readers);
    std::uint32_t committed = 0;
    for (;;) {  // fill the ring: capacity less history depth
        auto loan = pool.take();
        ASSERT_TRUE(loan);
        MessageMeta meta;
        meta.size = 8;
        meta.buffer = loan->index;
        meta.buffer_generation = loan->generation;
        std::uint64_t seq = 0;
        if (w.writer.publish({}, meta, seq) != PublishStatus::published) {
            pool.give_back(*loan);
            break;
        }
        pool.committed(*loan, seq);
        ++committed;
    }
    EXPECT_EQ(committed, 3U);
    std::uint32_t loaned = 0;
    while (pool.take()) ++loaned;  // the free ones only
    EXPECT_EQ(committed + loaned, seg.view().pool_buffers);
    EXPECT_FALSE(pool.take()) << "a reliable pool must not hand out a buffer a reader needs";
}

// --- threads (TSan checks these: it sees nothing across processes) --------------------

TEST(RingThreads, exclusiveWriterAndReaderThreadsAgreeOnEveryMessage) {
    constexpr std::uint64_t kCount = 20'000;
    HeapSegment seg(32768);
    std::thread producer([&] {
        Writer w(seg, 1, true);
        for (std::uint64_t i = 0; i < kCount; ++i) w.send(i);
    });
    RingReader r(seg.view(), nullptr, 0);
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

TEST(RingThreads, twoSharedWritersProduceOneGapFreeSequence) {
    constexpr std::uint64_t kEach = 10'000;
    HeapSegment seg(32768);
    auto produce = [&](std::uint32_t id) {
        Writer w(seg, id, false);
        for (std::uint64_t i = 0; i < kEach; ++i) w.send(i);
    };
    std::thread a(produce, 1), b(produce, 2);
    RingReader r(seg.view(), nullptr, 0);
    std::uint64_t received = 0;
    while (received < 2 * kEach) {
        Polled m{};
        if (r.poll(m) != PollStatus::message) continue;
        ASSERT_EQ(m.sequence, received);
        ++received;
    }
    a.join();
    b.join();
    EXPECT_EQ(r.lost(), 0U);
    EXPECT_EQ(r.skipped(), 0U);
}

TEST(RingThreads, reliableWriterNeverOverwritesWhatAThreadStillReads) {
    constexpr std::uint64_t kCount = 20'000;
    HeapSegment seg(HeapOptions{16, 64, 4, DeliveryMode::reliable, 2}, "unit/rthreads");
    auto entry = seg.add_reader();
    std::thread producer([&] {
        Writer w(seg, 1, true);
        for (std::uint64_t i = 0; i < kCount;) {
            std::uint64_t seq = 0;
            if (w.send(i, seq) == PublishStatus::published) {
                ++i;
            } else {
                std::this_thread::yield();
            }
        }
    });
    RingReader r(seg.view(), entry.row, entry.start);
    HeldSet held(seg.view(), entry.row, entry.start);
    std::vector<Polled> window;
    std::uint64_t received = 0;
    while (received < kCount) {
        Polled m{};
        if (r.poll(m) != PollStatus::message) {
            held.idle();
            continue;
        }
        held.hold(m.sequence);
        window.push_back(m);
        if (window.size() > 5) {  // hold a few, check they are intact, release the oldest
            ASSERT_EQ(payload_of(window.front()), window.front().sequence);
            held.release(window.front().sequence);
            window.erase(window.begin());
        }
        ++received;
    }
    for (const Polled& m : window) held.release(m.sequence);
    held.idle();
    producer.join();
    EXPECT_EQ(r.lost(), 0U);
}

// Two members of one consumer group as threads, a reliable publisher as a third: every
// message goes to exactly one member, none is lost, and the publisher never reuses a
// frame a member still reads.
TEST(RingThreads, groupMembersShareEveryMessageExactlyOnce) {
    constexpr std::uint64_t kCount = 20'000;
    HeapSegment seg(HeapOptions{16, 64, 4, DeliveryMode::reliable, 2}, "unit/gthreads");
    auto group = seg.add_group();
    auto first = seg.add_member(group);
    auto second = seg.add_member(group);
    std::thread producer([&] {
        Writer w(seg, 1, false);
        for (std::uint64_t i = 0; i < kCount;) {
            std::uint64_t seq = 0;
            if (w.send(i, seq) == PublishStatus::published) {
                ++i;
            } else {
                std::this_thread::yield();
            }
        }
    });
    std::atomic<std::uint64_t> taken{0};
    auto consume = [&](const HeapSegment::Entry& member, std::vector<std::uint64_t>& got) {
        GroupReader reader(seg.view(), member.row, member.index, group.group);
        while (taken.load() < kCount) {
            Polled m{};
            std::uint32_t slot = 0;
            if (reader.poll(m, slot) != PollStatus::message) {
                reader.idle();
                std::this_thread::yield();
                continue;
            }
            // Reliable: the frame is ours until we release it, so it must be intact.
            EXPECT_EQ(payload_of(m), m.sequence);
            got.push_back(m.sequence);
            reader.release(slot);
            taken.fetch_add(1);
        }
        reader.idle();
    };
    std::vector<std::uint64_t> a, b;
    std::thread other(consume, std::cref(second), std::ref(b));
    consume(first, a);
    other.join();
    producer.join();
    std::vector<std::uint64_t> all(a);
    all.insert(all.end(), b.begin(), b.end());
    std::sort(all.begin(), all.end());
    ASSERT_EQ(all.size(), kCount) << "a message was lost or delivered twice";
    for (std::uint64_t i = 0; i < kCount; ++i) ASSERT_EQ(all[i], i);
}

}  // namespace
}  // namespace ipcbus::detail
