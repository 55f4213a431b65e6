// Waiting for messages without burning a core. A reader that wants to sleep raises its
// topic's readers_waiting count, re-checks for data, and sleeps on the topic's data futex;
// a publisher that sees the count raised after its commit bumps the futex word and wakes
// one sleeper, which wakes the next (a chain), so the publisher's cost does not grow with
// the number of sleepers. The two sides form a Dekker pairing, made asymmetric with
// membarrier (ipc/membarrier.hpp) so that the publisher's side costs no fence: either the
// reader's re-check sees the message, or the publisher sees the reader waiting.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>

#include "segment_format.hpp"

namespace ipcbus::detail {

/// Whether a reader has something to look at, from any thread: the slot at its position
/// in shared memory (its own cursor, or its group's) is committed, skipped or lapped.
struct Readiness {
    const SegmentView* view = nullptr;
    const std::atomic<std::uint64_t>* cursor = nullptr;   // the reader's or its group's
    const std::atomic<std::uint32_t>* orphans = nullptr;  // group members: messages to take over
    const std::atomic<std::uint32_t>* orphan_events = nullptr;  // group members: orphanings
    // The notification thread's: pending orphans make it ready only once per orphaning
    // (the member it tells may leave them to another member for a while; it must not
    // signal again and again). Elsewhere pending orphans are always "ready": the waiter
    // takes them.
    bool once_per_orphaning = false;
    std::uint32_t orphan_events_seen = 0;

    /// Ready at or after sequence `from` (0: at the reader's position).
    [[nodiscard]] bool ready(std::uint64_t from = 0) const noexcept;
    /// The topic's next sequence to be claimed: ready(that) means "something newer".
    [[nodiscard]] std::uint64_t write_cursor() const noexcept;
    /// The first sequence at or after the reader's position (and `from`) that is not ready
    /// yet (claimed and still being written, or not claimed): a reader told now will take
    /// everything before it, so ready(that) means "something it was not told about".
    [[nodiscard]] std::uint64_t first_pending(std::uint64_t from) const noexcept;
};

struct SubscriberImpl;
/// A subscriber's Readiness (its address is stable for the subscriber's life).
const Readiness& readiness_of(const SubscriberImpl& subscriber) noexcept;

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

}  // namespace ipcbus::detail
