// The ring: claiming, committing and reading slots of a validated segment. This is the
// hot path: lock-free, allocation-free, system-call-free, noexcept. It works over any
// memory holding a segment, so unit tests run it over the heap as well.
//
// Invariants (tests/unit/test_ring.cpp checks each):
//  1. A slot's stamp is the only truth about its contents (see segment_layout.hpp).
//  2. A publisher marks the slot BUSY before touching the payload and stores the committed
//     stamp with release ordering after the last payload byte.
//  3. A reader that sees stamp s+1 (acquire) may read; a changed stamp on the re-check
//     means "overwritten", never data.
//  4. With several publishers, commits may land out of claim order; a reader still
//     delivers in sequence order and waits only for the slot it needs next.
//  5. A reader that was lapped jumps to the oldest sequence still in the ring and adds
//     exactly the number of sequences it jumped over to its lost count.
//  6. Sequences are 64-bit and never wrap in practice; the slot index is seq & mask.
//  7. Reliable mode: a publisher claims sequence s only if s < oldest_needed() + capacity,
//     where oldest_needed() is the least of: every plain reader's `released`, every
//     group's cursor, every sequence a group member (or orphan) holds in flight, and the
//     write cursor. So no slot a reader may still read is ever reused.
//  8. Consumer groups: a member marks a sequence in flight (seq_cst) before it takes it
//     from the group cursor (seq_cst CAS), so a publisher that sees the cursor moved also
//     sees the in-flight mark; each sequence goes to the one member whose CAS won.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "ipc/membarrier.hpp"
#include "segment_format.hpp"

namespace ipcbus::detail {

/// RingWriter::commit: the message has no origin elsewhere (RawLoan's default too).
inline constexpr std::uint64_t kNoOrigin = ~0ULL;

enum class ClaimStatus : std::uint8_t {
    claimed,  // the slot is ours (BUSY) until commit() or abandon()
    lapped,   // another publisher already wrote a later lap into our slot: our sequence
              // is lost to every reader; write nowhere, commit nothing
    full,     // reliable mode: every slot holds a message some reader still needs
};

/// Reliable mode: the oldest sequence some reader or group may still read (the write
/// cursor if none). A publisher may claim sequences below this + capacity.
[[nodiscard]] std::uint64_t oldest_needed(const SegmentView& view) noexcept;

/// Call after a store that may let a waiting publisher of a reliable topic go on (a
/// release, a freed reader row): wakes the publishers sleeping for space, if any.
void notify_space(const SegmentView& view) noexcept;

/// Readers wake waiting publishers once per this many released slots (an eighth of the
/// ring), and whenever they run out of messages: a publisher woken for every single slot
/// would sleep again at once, and pay (and make its readers pay) a system call per message.
[[nodiscard]] std::uint64_t notify_batch(const SegmentView& view) noexcept;

/// Wakes one reader sleeping on the topic's data futex (it passes the wake-up on).
void wake_readers(const SegmentView& view) noexcept;

/// Writes into a segment. Any number of RingWriters (in any processes) may share one.
class RingWriter {
  public:
    /// `publisher_id` marks the slots this writer holds BUSY (SlotHeader::owner).
    RingWriter(const SegmentView& view, std::uint32_t publisher_id) noexcept
        : view_(view),
          publisher_id_(publisher_id),
          reliable_(view.header->mode == static_cast<std::uint8_t>(DeliveryMode::reliable)),
          light_commit_(register_for_heavy_fence()) {}

    /// Claims the next sequence and marks its slot BUSY. If a previous lap of the slot is
    /// still being written by another publisher, waits for that write to finish. In
    /// reliable mode returns `full` (claiming nothing) when no slot is free.
    [[nodiscard]] ClaimStatus claim(std::uint64_t& sequence) noexcept;
    /// Publishes a claimed slot: header fields, then the committed stamp (release).
    /// `origin_sequence`: the sequence the message had on its origin host (bridged
    /// messages); kNoOrigin: this message's own `sequence`.
    void commit(std::uint64_t sequence, std::uint64_t size, std::uint32_t publisher_id,
                std::uint64_t timestamp_ns, std::uint64_t origin_sequence = kNoOrigin) noexcept;
    /// Gives up a claimed slot: readers pass over it and count it as skipped.
    void abandon(std::uint64_t sequence) noexcept;

    [[nodiscard]] const SegmentView& view() const noexcept { return view_; }
    [[nodiscard]] std::uint32_t publisher_id() const noexcept { return publisher_id_; }
    [[nodiscard]] bool reliable() const noexcept { return reliable_; }

  private:
    [[nodiscard]] bool reserve_reliable(std::uint64_t& sequence) noexcept;
    [[nodiscard]] ClaimStatus mark_busy(std::uint64_t sequence) noexcept;

    SegmentView view_;
    std::uint32_t publisher_id_;
    bool reliable_;
    bool light_commit_;  // sleeping readers' membarrier orders our commits (membarrier.hpp)
    // Reliable mode: sequences below this may be claimed without looking at the readers
    // (cached oldest_needed() + capacity; only readers' progress can raise it).
    std::uint64_t limit_ = 0;
};

/// Turns every slot that publisher `publisher_id` holds BUSY into SKIPPED, so readers
/// and other publishers move past it. Only for a publisher known to be dead (the daemon
/// calls it when the publisher's connection closes). Returns the number of slots resolved.
std::uint64_t resolve_abandoned_slots(const SegmentView& view, std::uint32_t publisher_id) noexcept;

/// After a group member released a message it took from the orphan row holding
/// `in_flight`: frees the row once nothing in it is in flight any more.
void free_if_empty_orphan(const SegmentView& view, layout::ReaderEntry* group,
                          const std::atomic<std::uint64_t>* in_flight) noexcept;

/// One message found by RingReader::poll.
struct Polled {
    const layout::SlotHeader* slot;
    std::uint64_t stamp;  // the committed stamp seen; re-check it to detect overwrites
    const std::byte* payload;
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

/// Reads a segment in sequence order. One thread at a time.
class RingReader {
  public:
    /// Starts reading at `start` (usually the current write cursor); `entry` is this
    /// reader's row in the reader table, kept up to date for observers (may be null).
    RingReader(const SegmentView& view, std::uint64_t start, layout::ReaderEntry* entry) noexcept
        : view_(view), entry_(entry), next_(start) {}

    /// The next message, the cursor moved past it; or empty; or corrupt (a slot whose
    /// size is out of range: consumed and counted as lost).
    [[nodiscard]] PollStatus poll(Polled& out) noexcept;

    /// True if the slot of `message` has been reused since poll() returned it.
    [[nodiscard]] static bool overwritten(const Polled& message) noexcept;

    /// Counts one message as lost (e.g. overwritten while being copied).
    void count_lost(std::uint64_t n) noexcept;

    [[nodiscard]] std::uint64_t next() const noexcept { return next_; }
    [[nodiscard]] std::uint64_t lost() const noexcept { return lost_; }
    [[nodiscard]] std::uint64_t skipped() const noexcept { return skipped_; }
    [[nodiscard]] const SegmentView& view() const noexcept { return view_; }

  private:
    void jump_after_overrun() noexcept;
    void advance() noexcept;

    SegmentView view_;
    layout::ReaderEntry* entry_;
    std::uint64_t next_;
    std::uint64_t lost_ = 0;
    std::uint64_t skipped_ = 0;
};

/// Reliable mode, plain reader: which taken sequences are still held (zero-copy samples
/// not yet released), and the `released` position it publishes to publishers. At most
/// a ring's worth can be held (the publisher cannot get further ahead).
class HeldSet {
  public:
    HeldSet(const SegmentView& view, layout::ReaderEntry* entry);

    void hold(std::uint64_t sequence) noexcept;
    /// Releases a held sequence; publishes the new released position if it moved.
    void release(std::uint64_t sequence) noexcept;
    /// Publishes `next` as released when nothing is held (after copies, skips, overruns).
    void catch_up(std::uint64_t next) noexcept;
    /// The reader found nothing to read: wakes waiting publishers for what it released.
    void idle() noexcept;

  private:
    void publish(std::uint64_t released) noexcept;
    [[nodiscard]] bool held(std::uint64_t sequence) const noexcept {
        return (bits_[(sequence & view_.mask) / 64] >> (sequence % 64) & 1U) != 0;
    }

    SegmentView view_;
    layout::ReaderEntry* entry_;
    std::vector<std::uint64_t> bits_;     // one bit per slot: held
    std::uint64_t released_;              // the value last published
    std::uint64_t notified_ = released_;  // the value publishers were last woken for
    std::uint64_t count_ = 0;             // sequences held
    std::uint64_t next_;                  // one past the newest sequence held or passed
};

/// Reads a topic as a member of a consumer group: takes each message from the group's
/// shared cursor, so every message goes to exactly one member. One thread at a time.
class GroupReader {
  public:
    GroupReader(const SegmentView& view, layout::ReaderEntry* self,
                layout::ReaderEntry* group) noexcept
        : view_(view), self_(self), group_(group) {}

    /// The next message of the group (messages of dead members first), marked in flight
    /// in `in_flight`, which the caller hands back to release() when done with it.
    [[nodiscard]] PollStatus poll(Polled& out, std::atomic<std::uint64_t>*& in_flight) noexcept;
    /// Ends a message's time in flight; wakes a waiting publisher in reliable mode.
    void release(std::atomic<std::uint64_t>* in_flight) noexcept;
    void count_lost(std::uint64_t n) noexcept;
    /// The member found nothing to read: wakes waiting publishers for what it released.
    void idle() noexcept;

    [[nodiscard]] std::uint64_t lost() const noexcept { return lost_; }
    [[nodiscard]] std::uint64_t skipped() const noexcept { return skipped_; }
    [[nodiscard]] std::uint64_t next() const noexcept {
        return group_->cursor.load(std::memory_order_relaxed);
    }

  private:
    [[nodiscard]] PollStatus take_next(Polled& out,
                                       std::atomic<std::uint64_t>*& in_flight) noexcept;
    [[nodiscard]] bool take_orphaned(Polled& out, std::atomic<std::uint64_t>*& in_flight) noexcept;
    [[nodiscard]] int free_in_flight() const noexcept;
    [[nodiscard]] bool read_slot(std::uint64_t sequence, Polled& out) noexcept;
    void count_skipped() noexcept;

    SegmentView view_;
    layout::ReaderEntry* self_;
    layout::ReaderEntry* group_;
    std::uint32_t used_ = 0;        // bit k: self_->in_flight[k] holds a sequence we took
    std::uint64_t unnotified_ = 0;  // releases since waiting publishers were last woken
    std::uint64_t lost_ = 0;
    std::uint64_t skipped_ = 0;
};

}  // namespace ipcbus::detail
