// SPDX-License-Identifier: Apache-2.0
// Waiting for messages without burning a core.
//
// A reader that wants to sleep announces it in its own memory (ReaderRow::sleep: one more
// sleeper, a new epoch), re-checks for data, and sleeps on its topic's data futex (a word
// in the topic segment, which publishers bump). A publisher, after each commit, looks at
// the sleep words of the topic's readers and wakes every sleeper (one FUTEX_WAKE) only if
// some word shows a sleep it has not woken yet: one system call per sleep, never one per
// message, and a reader that lies about sleeping costs others nothing but a spurious
// wake-up.
//
// The two sides are a Dekker pairing (reader: announce, then re-check; publisher: commit,
// then look). The publisher's side is ordered either by its own full fence (a lone
// publisher does one after each commit while a reader relies on it; several publishers
// commit with a locked CAS, which is one), or, while it does not fence, by the sleeping
// reader's membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED), which makes every CPU running a
// registered process execute a full barrier. A reader knows which by the publishers'
// PublisherEntry::fence_on flags; it pays the membarrier only when some publisher does not
// fence (typically its first sleep: its sleep word then tells publishers to fence).
#pragma once

#include <atomic>
#include <cstdint>
#include <span>

#include "segment_format.hpp"

namespace ipcbus::detail {

/// Whether a reader has something to look at, from any thread of its process: the frame
/// at its position (its own, or its group's cursor) is committed, skipped or lapped, or
/// its group has messages of a dead member waiting.
struct Readiness {
    const SegmentView* view = nullptr;
    const std::atomic<std::uint64_t>* position = nullptr;  // the reader's, or its group's cursor
    const layout::GroupState* group = nullptr;             // group members: the orphan table
    layout::ReaderRow* row = nullptr;                      // where this reader announces sleep
    // The notification thread's: waiting orphans make it ready only once per orphaning
    // (the member it tells may leave them to another member for a while; it must not
    // signal again and again). Elsewhere waiting orphans are always "ready": the waiter
    // takes them.
    bool once_per_orphaning = false;
    std::uint32_t orphan_events_seen = 0;

    /// Ready at or after sequence `from` (0: at the reader's position).
    [[nodiscard]] bool ready(std::uint64_t from = 0) const noexcept;
    /// The topic's next sequence to be claimed.
    [[nodiscard]] std::uint64_t write_cursor() const noexcept;
    /// The first sequence at or after the reader's position (and `from`) that is not ready
    /// yet (claimed and still being written, or not claimed): a reader told now will take
    /// everything before it, so ready(that) means "something it was not told about".
    [[nodiscard]] std::uint64_t first_pending(std::uint64_t from) const noexcept;

  private:
    [[nodiscard]] bool orphans_waiting() const noexcept;
};

struct SubscriberImpl;
/// A subscriber's Readiness (its address is stable for the subscriber's life).
const Readiness& readiness_of(const SubscriberImpl& subscriber) noexcept;

struct PendingAttach;
/// A subscriber waiting for its topic: a stand-in Readiness that becomes ready when the
/// subscriber is attached (or its attach failed).
const Readiness& standin_readiness(const PendingAttach& pending) noexcept;
/// The attached reader's Readiness, once there is one (else null).
const Readiness* attached_readiness(const PendingAttach& pending) noexcept;

/// What to wait for: `readiness[i].ready(from[i])` for any i (from may be empty: all 0).
struct WaitTargets {
    std::span<const Readiness> readiness;
    std::span<const std::uint64_t> from;
    const std::atomic<std::uint32_t>* interrupt = nullptr;  // bumped and woken to stop
    std::uint32_t interrupt_seen = 0;                       // its value when we started

    [[nodiscard]] bool any_ready() const noexcept;
    [[nodiscard]] bool interrupted() const noexcept;
};

enum class WaitOutcome : std::uint8_t { ready, timed_out, interrupted, failed };

/// Sleeps (futex, futex_waitv for several topics) until a target is ready, the deadline
/// (CLOCK_MONOTONIC ns) passes, or the interrupt word moves. At most 127 targets.
WaitOutcome block_until(const WaitTargets& targets, std::uint64_t deadline_ns) noexcept;

/// Busy-polls until ready or the deadline; with `yield`, yields the CPU between polls.
WaitOutcome spin_until(const WaitTargets& targets, std::uint64_t deadline_ns, bool yield) noexcept;

/// now + timeout, saturating (a timeout of nanoseconds::max() never passes).
std::uint64_t deadline_after(std::uint64_t timeout_ns) noexcept;

/// Whether every publisher attached to the topic now fences its commits (readers that
/// announced a sleep then need no membarrier).
[[nodiscard]] bool publishers_fence(const SegmentView& view) noexcept;

}  // namespace ipcbus::detail
