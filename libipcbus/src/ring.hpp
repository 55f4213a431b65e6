// SPDX-License-Identifier: Apache-2.0
// The ring: publishing, reading and waking over a validated topic segment. This is the hot
// path: lock-free, allocation-free, system-call-free unless someone sleeps, noexcept. It
// works over any memory holding the segments, so unit tests run it over the heap as well.
//
// Invariants (tests/unit/test_ring.cpp checks each):
//  1. A frame's stamp is the only truth about it (segment_layout.hpp, publication rule).
//  2. Overwrite mode: a frame is marked busy before its first payload byte is written and
//     committed with release ordering after the last. Reliable mode: a frame is written
//     only after every reader has released its previous lap, so a lone publisher writes
//     it and then the stamp; several publishers still mark it busy.
//  3. A reader that sees stamp s+1 (acquire) may read; in overwrite mode a changed stamp
//     (or, for pool topics, buffer generation) on the re-check means "overwritten", never
//     data.
//  4. With several publishers, commits may land out of claim order; a reader still
//     delivers in sequence order and waits only for the frame it needs next.
//  5. A reader that was lapped jumps to the oldest sequence still in the ring and adds
//     exactly the number of sequences it jumped over to its lost count.
//  6. Sequences are 64-bit and never wrap in practice; the frame index is seq & mask.
//  7. Reliable mode: a publisher claims sequence s only if
//     s < oldest_needed() + capacity - history_depth, where oldest_needed() is the least
//     of: every plain reader's released position, every group's cursor, every sequence a
//     group member holds in flight or the group's orphan table holds, and the write
//     cursor. So no frame a reader may still read, nor the newest history_depth ones a
//     late joiner may be given, is ever reused.
//  8. Consumer groups: a member marks a sequence in flight (seq_cst) before it takes it
//     from the group cursor (seq_cst CAS), so a publisher that sees the cursor moved also
//     sees the mark; each sequence goes to the one member whose CAS won.
//  9. A claim is never held across user code: publish() claims, writes and commits in one
//     step. A publisher that stalls inside that step (stopped, starved, killed) is passed
//     over after the topic's unblock timeout, and its late commit fails.
// 10. Nothing read from a reader's or a group's memory is trusted: positions are clamped
//     to the write cursor, and a lie can only hold a reliable topic back (the contract),
//     cause spurious wake-ups, or disturb the liar's own group.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "segment_format.hpp"
#include "test_hooks.hpp"

namespace ipcbus::detail {

/// RingWriter::publish: the message has no origin elsewhere.
inline constexpr std::uint64_t kNoOrigin = ~0ULL;

/// Keeps a mapped reader or group segment alive while a publisher looks at it.
using SegmentKeepalive = std::shared_ptr<const void>;

/// What a publisher knows of the topic's readers: the roster (daemon-written, in the topic
/// segment) and the segments of the readers and groups it names, which the daemon hands
/// over as they come (offer()). The publisher's own thread uses it; offer() and
/// drain_retired() may come from any thread.
class ReaderSet {
  public:
    explicit ReaderSet(const SegmentView& view);
    ReaderSet(const ReaderSet&) = delete;
    ReaderSet& operator=(const ReaderSet&) = delete;

    /// Any thread: roster entry `index` of `generation` is the segment at `base` (a reader
    /// or group segment, at least one page), kept mapped by `keepalive`.
    void offer(std::uint32_t index, std::uint64_t generation, const void* base,
               SegmentKeepalive keepalive);
    /// Any thread: releases the mappings the publisher no longer needs.
    void drain_retired();

    /// Publisher thread: catches up with the roster if it changed or segments arrived.
    void refresh_if_needed() noexcept {
        // Relaxed: a hint; refresh() re-reads the roster with seq_cst.
        if (view_.header->roster_generation.load(std::memory_order_relaxed) != seen_generation_ ||
            pending_.load(std::memory_order_relaxed)) {
            refresh();
        }
    }
    /// Whether every active roster entry's segment is mapped. While not, the publisher
    /// wakes sleepers on every commit and gates on the roster's start positions.
    [[nodiscard]] bool complete() const noexcept { return complete_; }

    /// Reliable gating and pool reuse: the oldest sequence some reader or group may still
    /// read (at most `cursor`, a seq_cst load of the write cursor made before the call).
    [[nodiscard]] std::uint64_t oldest_needed(std::uint64_t cursor) noexcept;
    /// The futex word of whoever held oldest_needed() back last time (null: unknown).
    [[nodiscard]] const std::atomic<std::uint32_t>* gate_futex() const noexcept {
        return gate_futex_;
    }
    /// Per commit (after the fence that orders it): whether a reader started sleeping
    /// since the last wake-up. Also notes readers that want publishers to fence.
    [[nodiscard]] bool wake_needed() noexcept;
    /// Whether some mapped reader relies on publishers fencing (it has slept before).
    [[nodiscard]] bool wants_fence() const noexcept { return wants_fence_; }
    /// After turning fencing off: whether a reader wanted it meanwhile (seq_cst re-check).
    [[nodiscard]] bool recheck_wants_fence() const noexcept;
    /// Readers attached now (active plain readers and members), for subscriber_count().
    [[nodiscard]] std::size_t readers() const noexcept;

  private:
    struct Row {
        std::uint64_t generation = 0;
        const layout::ReaderRow* reader = nullptr;  // plain readers and members
        const layout::GroupState* group = nullptr;  // groups
        SegmentKeepalive keep;                      // may be null (memory kept elsewhere)
        [[nodiscard]] bool mapped() const noexcept { return reader != nullptr || group != nullptr; }
    };
    struct Offer {
        std::uint32_t index;
        std::uint64_t generation;
        const void* base;
        SegmentKeepalive keep;
    };
    void refresh() noexcept;
    void retire(Row& row) noexcept;

    SegmentView view_;
    std::vector<Row> rows_;  // by roster index
    // Dense copies for the per-commit scan: the sleep words of mapped readers (and their
    // roster indices), and per roster index the value the word had when we last woke it.
    std::vector<const std::atomic<std::uint64_t>*> sleep_words_;
    std::vector<std::uint32_t> sleep_rows_;
    std::vector<std::uint64_t> woken_;
    std::size_t sleepers_ = 0;
    std::uint64_t seen_generation_ = ~0ULL;
    bool complete_ = false;
    bool wants_fence_ = false;
    const std::atomic<std::uint32_t>* gate_futex_ = nullptr;

    std::mutex mutex_;  // guards offers_ and retired_
    std::vector<Offer> offers_;
    std::vector<Offer> applying_;  // the publisher thread's, swapped with offers_
    std::vector<SegmentKeepalive> retired_;
    std::atomic<bool> pending_{false};
};

/// Where a message's payload is: copied from `inline_payload` into the frame, or already
/// in pool buffer `buffer` (generation `buffer_generation`).
struct MessageMeta {
    std::uint64_t size = 0;
    std::uint64_t origin_sequence = kNoOrigin;
    std::uint32_t buffer = 0;
    std::uint64_t buffer_generation = 0;
};

enum class PublishStatus : std::uint8_t {
    published,
    full,     // reliable mode: no frame is free right now (nothing was claimed)
    expired,  // the claim outlived the unblock timeout and readers passed it over
};

/// Writes messages into a topic. Any number of RingWriters (in any processes) may share a
/// topic; each is used by one thread at a time.
class RingWriter {
  public:
    RingWriter(const SegmentView& view, std::uint32_t publisher_id, layout::PublisherEntry* entry,
               ReaderSet& readers, const layout::DomainClock* clock) noexcept;

    /// Claims the next sequence, writes the frame (copying `inline_payload` into it, for
    /// topics without a pool), commits it and wakes sleeping readers. `sequence` is the
    /// sequence it got (published or expired).
    [[nodiscard]] PublishStatus publish(std::span<const std::byte> inline_payload,
                                        const MessageMeta& meta, std::uint64_t& sequence) noexcept;

    [[nodiscard]] const SegmentView& view() const noexcept { return view_; }
    [[nodiscard]] std::uint32_t publisher_id() const noexcept { return id_; }
    [[nodiscard]] bool reliable() const noexcept { return view_.reliable; }
    [[nodiscard]] ReaderSet& readers() noexcept { return readers_; }
    [[nodiscard]] std::uint64_t now_ns() const noexcept;
    /// Reliable mode: recomputes the claim limit from the readers (after a wake-up).
    void refresh_limit() noexcept;

  private:
    [[nodiscard]] PublishStatus publish_exclusive(std::span<const std::byte> payload,
                                                  const MessageMeta& meta,
                                                  std::uint64_t& sequence) noexcept;
    [[nodiscard]] PublishStatus publish_shared(std::span<const std::byte> payload,
                                               const MessageMeta& meta,
                                               std::uint64_t& sequence) noexcept;
    enum class Mark : std::uint8_t { marked, lapped, stuck, expired };
    [[nodiscard]] Mark mark_busy(std::uint64_t sequence) noexcept;
    [[nodiscard]] bool take_ticket(std::uint64_t& sequence) noexcept;
    void write_frame(std::uint64_t sequence, std::span<const std::byte> payload,
                     const MessageMeta& meta) noexcept;
    void after_commit() noexcept;
    void update_fencing() noexcept;

    SegmentView view_;
    std::uint32_t id_;
    layout::PublisherEntry* entry_;
    ReaderSet& readers_;
    const layout::DomainClock* clock_;
    bool membarrier_ok_;  // sleeping readers' membarrier orders our plain commits
    bool fence_on_ = true;
    std::uint64_t limit_ = 0;  // reliable mode: sequences below this may be claimed
    std::uint64_t published_ = 0;
    std::uint32_t in_publish_ = 0;  // our last value of entry_->in_publish
};

/// Wakes every reader asleep on the topic (a publisher after a commit someone sleeps for;
/// the daemon after it passed frames over).
void wake_readers(const SegmentView& view) noexcept;

/// The daemon's side of revoking a lone publisher's exclusive fast path (a second
/// publisher arrived): stores the revocation, makes every registered CPU run a barrier
/// (membarrier), and then looks whether publisher `entry` is inside an exclusive publish.
/// True (the word is shared now) if it is not: every later publish of it takes the shared
/// path. False: try again (it is in the middle of one, or stopped there).
bool revoke_exclusive(const SegmentView& view, std::uint32_t entry) noexcept;

/// A pool buffer handed to a loan.
struct BufferLoan {
    std::uint32_t index;
    std::uint64_t generation;
};

/// Hands out a pool topic's buffers: the most recently used of those no reader can still
/// need, so the next message is written into memory that is warm in cache.
class PoolWriter {
  public:
    PoolWriter(const SegmentView& view, std::uint32_t publisher_id, ReaderSet& readers) noexcept
        : view_(view), id_(publisher_id), readers_(readers) {}

    /// A buffer to write a message into, or nullopt when every buffer may still be read
    /// (reliable mode; overwrite mode takes the oldest instead, and a slow reader loses it).
    [[nodiscard]] std::optional<BufferLoan> take() noexcept;
    /// The loan was published as `sequence` (before the frame is committed).
    void committed(const BufferLoan& loan, std::uint64_t sequence) noexcept;
    /// The loan was dropped unpublished.
    void give_back(const BufferLoan& loan) noexcept;

  private:
    [[nodiscard]] std::optional<BufferLoan> take_reusable() noexcept;
    [[nodiscard]] std::optional<BufferLoan> take_oldest() noexcept;
    [[nodiscard]] bool grab(std::uint32_t index, std::uint64_t state) noexcept;

    SegmentView view_;
    std::uint32_t id_;
    ReaderSet& readers_;
    std::uint64_t reuse_limit_ = 0;  // committed buffers of sequences below it are free
    std::uint64_t last_generation_ = 0;
};

/// One message found by a reader.
struct Polled {
    const layout::FrameHeader* frame;
    std::uint64_t stamp;  // the committed stamp seen; re-check it to detect overwrites
    const std::byte* payload;
    const std::atomic<std::uint64_t>* buffer_state;  // pool topics: re-check its generation
    std::uint64_t buffer_generation;
    std::uint64_t sequence;
    std::uint64_t size;
    std::uint64_t timestamp_ns;
    std::uint32_t publisher_id;
    std::uint64_t origin_sequence;
};

enum class PollStatus : std::uint8_t {
    message,
    empty,
    corrupt,
    too_many_held,  // a group member holds kMaxInFlight samples already
};

/// True if what `message` points at has been (or is being) rewritten since it was polled.
[[nodiscard]] bool overwritten(const Polled& message) noexcept;

/// Reads a topic in sequence order as a plain reader. One thread at a time.
class RingReader {
  public:
    /// Starts reading at `start`; `row` is this reader's own memory (may be null in tests),
    /// where it publishes its position for publishers and observers.
    RingReader(const SegmentView& view, layout::ReaderRow* row, std::uint64_t start) noexcept;

    /// The next message, the reader moved past it; or empty; or corrupt (a frame whose
    /// size or buffer is out of range: consumed and counted as lost).
    [[nodiscard]] PollStatus poll(Polled& out) noexcept;
    /// Counts messages as lost (e.g. overwritten while being copied).
    void count_lost(std::uint64_t n) noexcept;
    /// Publishes the position and statistics now (batched otherwise).
    void publish_position() noexcept;

    [[nodiscard]] std::uint64_t next() const noexcept { return next_; }
    [[nodiscard]] std::uint64_t lost() const noexcept { return lost_; }
    [[nodiscard]] std::uint64_t skipped() const noexcept { return skipped_; }
    [[nodiscard]] const SegmentView& view() const noexcept { return view_; }
    [[nodiscard]] layout::ReaderRow* row() const noexcept { return row_; }
    /// The exact position, for readiness checks from other threads of this process.
    [[nodiscard]] const std::atomic<std::uint64_t>& position() const noexcept { return position_; }

  private:
    void jump_after_overrun(std::uint64_t seen) noexcept;
    void advance() noexcept;
    [[nodiscard]] bool read_frame(const layout::FrameHeader& frame, std::uint64_t stamp,
                                  Polled& out) noexcept;

    SegmentView view_;
    layout::ReaderRow* row_;
    std::uint64_t next_;
    std::uint64_t lost_ = 0;
    std::uint64_t skipped_ = 0;
    std::uint64_t received_ = 0;
    std::uint64_t unpublished_ = 0;
    std::uint64_t batch_;
    std::atomic<std::uint64_t> position_;
};

/// Reliable mode and pool topics, plain reader: which taken sequences are still held
/// (zero-copy samples not yet released), and the `released` position publishers read.
class HeldSet {
  public:
    HeldSet(const SegmentView& view, layout::ReaderRow* row, std::uint64_t start);

    void hold(std::uint64_t sequence) noexcept;
    /// Releases a held sequence; publishes the new released position if it moved.
    void release(std::uint64_t sequence) noexcept;
    /// Nothing held: the reader's position `next` is what it still needs.
    void catch_up(std::uint64_t next) noexcept;
    /// The reader found nothing to read: publishes what it released and wakes waiting
    /// publishers for it.
    void idle() noexcept;
    [[nodiscard]] std::uint32_t count() const noexcept { return count_; }

  private:
    void publish(std::uint64_t released, bool now) noexcept;
    [[nodiscard]] bool held(std::uint64_t sequence) const noexcept {
        return (bits_[(sequence & view_.mask) / 64] >> (sequence % 64) & 1U) != 0;
    }

    SegmentView view_;
    layout::ReaderRow* row_;
    std::vector<std::uint64_t> bits_;  // one bit per frame: held
    std::uint64_t released_;           // our value
    std::uint64_t published_;          // the value last stored in the row
    std::uint64_t notified_;           // the value publishers were last woken for
    std::uint32_t count_ = 0;          // sequences held
    std::uint64_t next_;               // one past the newest sequence held or passed
    std::uint64_t batch_;
};

/// Reads a topic as a member of a consumer group: takes each message from the group's
/// shared cursor (or its orphan table), so every message goes to exactly one member. One
/// thread at a time.
class GroupReader {
  public:
    GroupReader(const SegmentView& view, layout::ReaderRow* self, std::uint32_t self_index,
                layout::GroupState* group) noexcept
        : view_(view), self_(self), self_index_(self_index), group_(group) {}

    /// The next message of the group (messages of dead members first), marked in flight
    /// in mark slot `slot`, which the caller hands back to release() when done with it.
    [[nodiscard]] PollStatus poll(Polled& out, std::uint32_t& slot) noexcept;
    /// Ends a message's time in flight.
    void release(std::uint32_t slot) noexcept;
    void count_lost(std::uint64_t n) noexcept;
    /// The member found nothing to read: wakes waiting publishers for what it released.
    void idle() noexcept;

    [[nodiscard]] std::uint64_t lost() const noexcept { return lost_; }
    [[nodiscard]] std::uint64_t skipped() const noexcept { return skipped_; }
    [[nodiscard]] std::uint64_t next() const noexcept {
        // Relaxed: a statistic.
        return group_->cursor.load(std::memory_order_relaxed);
    }
    [[nodiscard]] layout::GroupState* group() const noexcept { return group_; }
    [[nodiscard]] layout::ReaderRow* row() const noexcept { return self_; }

  private:
    [[nodiscard]] PollStatus take_next(Polled& out, std::uint32_t& slot) noexcept;
    [[nodiscard]] PollStatus take_orphaned(Polled& out, std::uint32_t& slot) noexcept;
    [[nodiscard]] int free_slot() const noexcept;
    [[nodiscard]] bool read_taken(std::uint64_t sequence, Polled& out) noexcept;
    void count_skipped() noexcept;
    void notify_space() noexcept;

    SegmentView view_;
    layout::ReaderRow* self_;
    std::uint32_t self_index_;
    layout::GroupState* group_;
    std::uint32_t used_ = 0;  // bit k: in_flight[k] holds a sequence we took
    std::uint32_t orphan_of_[layout::kMaxInFlight]{};  // slot -> orphan entry + 1, or 0
    std::uint32_t orphan_events_seen_ = ~0U;
    std::uint64_t unnotified_ = 0;  // releases since waiting publishers were last woken
    std::uint64_t lost_ = 0;
    std::uint64_t skipped_ = 0;
    std::uint64_t received_ = 0;
};

/// Wakes publishers asleep because the ring is full, through `futex` (a reader's or a
/// group's space word), if any sleep.
void notify_space(const SegmentView& view, std::atomic<std::uint32_t>& futex) noexcept;

// --- the daemon's side: cleaning up after publishers that died or stalled ---------------

/// Passes over every frame that publisher `id` holds busy (its owner is in the stamp) and,
/// when `claiming` names a sequence, the hole it left there. For a publisher known to be
/// dead. Returns the number of frames resolved.
std::uint64_t resolve_dead_publisher(const SegmentView& view, std::uint32_t id,
                                     std::uint64_t claiming) noexcept;
/// A live publisher stalled on `sequence` longer than the unblock timeout: marks its busy
/// frame stale (its late commit then fails), or skips the hole if it never marked it.
bool resolve_stalled_claim(const SegmentView& view, std::uint32_t id,
                           std::uint64_t sequence) noexcept;
/// Sequences in [cursor - capacity, cursor) whose frame was never marked (holes): what a
/// publisher that died while taking its ticket may have left. Appends up to `max` to `out`.
void find_holes(const SegmentView& view, std::vector<std::uint64_t>& out, std::size_t max);
/// Skips the hole at `sequence` if it is still one. True if it did.
bool skip_hole(const SegmentView& view, std::uint64_t sequence) noexcept;
/// Gives back every pool buffer that publisher `id` held on loan (it died).
std::uint32_t reclaim_pool_loans(const SegmentView& view, std::uint32_t id) noexcept;

}  // namespace ipcbus::detail
