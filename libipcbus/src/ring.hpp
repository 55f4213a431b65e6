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
#pragma once

#include <cstdint>

#include "segment_format.hpp"

namespace ipcbus::detail {

enum class ClaimStatus : std::uint8_t {
    claimed,  // the slot is ours (BUSY) until commit() or abandon()
    lapped,   // another publisher already wrote a later lap into our slot: our sequence
              // is lost to every reader; write nowhere, commit nothing
};

/// Writes into a segment. Any number of RingWriters (in any processes) may share one.
class RingWriter {
  public:
    /// `publisher_id` marks the slots this writer holds BUSY (SlotHeader::owner).
    RingWriter(const SegmentView& view, std::uint32_t publisher_id) noexcept
        : view_(view), publisher_id_(publisher_id) {}

    /// Claims the next sequence and marks its slot BUSY. If a previous lap of the slot is
    /// still being written by another publisher, waits for that write to finish.
    [[nodiscard]] ClaimStatus claim(std::uint64_t& sequence) noexcept;
    /// Publishes a claimed slot: header fields, then the committed stamp (release).
    void commit(std::uint64_t sequence, std::uint64_t size, std::uint32_t publisher_id,
                std::uint64_t timestamp_ns) noexcept;
    /// Gives up a claimed slot: readers pass over it and count it as skipped.
    void abandon(std::uint64_t sequence) noexcept;

    [[nodiscard]] const SegmentView& view() const noexcept { return view_; }
    [[nodiscard]] std::uint32_t publisher_id() const noexcept { return publisher_id_; }

  private:
    SegmentView view_;
    std::uint32_t publisher_id_;
};

/// Turns every slot that publisher `publisher_id` holds BUSY into SKIPPED, so readers
/// and other publishers move past it. Only for a publisher known to be dead (the daemon
/// calls it when the publisher's connection closes). Returns the number of slots resolved.
std::uint64_t resolve_abandoned_slots(const SegmentView& view, std::uint32_t publisher_id) noexcept;

/// One message found by RingReader::poll.
struct Polled {
    const layout::SlotHeader* slot;
    std::uint64_t stamp;  // the committed stamp seen; re-check it to detect overwrites
    const std::byte* payload;
    std::uint64_t sequence;
    std::uint64_t size;
    std::uint64_t timestamp_ns;
    std::uint32_t publisher_id;
};

enum class PollStatus : std::uint8_t { message, empty, corrupt };

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

}  // namespace ipcbus::detail
