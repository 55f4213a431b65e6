// SPDX-License-Identifier: Apache-2.0
#include "wait.hpp"

#include <sched.h>

#include <algorithm>

#include "clock.hpp"
#include "ipc/futex.hpp"
#include "ipc/membarrier.hpp"
#include "ring.hpp"

namespace ipcbus::detail {

using layout::busy_lap_distance;
using layout::is_busy;
using layout::is_stale;
using layout::kSequenceMask;
using layout::stamp_of;

namespace {

// Whether the frame for `position` has something for its reader: committed, passed over
// (skipped, stale) or overwritten by a later lap.
bool frame_ready(const SegmentView& view, std::uint64_t position) noexcept {
    // seq_cst: the re-check half of the sleeper's Dekker pairing (see wait.hpp).
    const std::uint64_t word = view.frame(position).stamp.load(std::memory_order_seq_cst);
    if (is_busy(word)) {
        const std::int64_t distance = busy_lap_distance(word, position);
        return distance > 0 || (distance == 0 && is_stale(word));
    }
    return (word & kSequenceMask) >= stamp_of(position);
}

}  // namespace

bool Readiness::orphans_waiting() const noexcept {
    if (group == nullptr) return false;
    // Relaxed: hints; the member that takes an orphan reads the table with acquire.
    if (once_per_orphaning) {
        return group->orphan_events.load(std::memory_order_relaxed) != orphan_events_seen;
    }
    if (group->orphans_available.load(std::memory_order_relaxed) == 0) return false;
    for (const auto& entry : group->orphans) {
        if (layout::orphan_kind(entry.state.load(std::memory_order_relaxed)) ==
            layout::OrphanKind::available) {
            return true;
        }
    }
    return false;
}

bool Readiness::ready(std::uint64_t from) const noexcept {
    const std::uint64_t at = std::max(position->load(std::memory_order_seq_cst), from);
    return frame_ready(*view, at) || orphans_waiting();
}

std::uint64_t Readiness::write_cursor() const noexcept {
    return view->header->write_cursor.load(std::memory_order_seq_cst);
}

std::uint64_t Readiness::first_pending(std::uint64_t from) const noexcept {
    // Not simply the write cursor: a sequence below it may still be in a publisher's
    // hands, and its commit must wake us again. Bounded by one ring: anything older a
    // reader passes over as lost.
    const std::uint64_t end = write_cursor();
    const std::uint64_t capacity = view->capacity;
    std::uint64_t p = std::max(
        {position->load(std::memory_order_seq_cst), from, end > capacity ? end - capacity : 0});
    while (p < end && frame_ready(*view, p)) ++p;
    return p;
}

bool WaitTargets::any_ready() const noexcept {
    for (std::size_t i = 0; i < readiness.size(); ++i) {
        if (readiness[i].ready(from.empty() ? 0 : from[i])) return true;
    }
    return false;
}

bool WaitTargets::interrupted() const noexcept {
    // Acquire: whoever interrupts us set its flags before bumping the word.
    return interrupt != nullptr && interrupt->load(std::memory_order_acquire) != interrupt_seen;
}

std::uint64_t deadline_after(std::uint64_t timeout_ns) noexcept {
    const std::uint64_t now = monotonic_ns();
    return timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
}

WaitOutcome spin_until(const WaitTargets& targets, std::uint64_t deadline_ns, bool yield) noexcept {
    for (std::uint32_t spins = 0;; ++spins) {
        if (targets.any_ready()) return WaitOutcome::ready;
        if (targets.interrupted()) return WaitOutcome::interrupted;
        // The clock (vDSO, ~20 ns) only every 128 polls: polls are what must be fast.
        if (spins % 128 == 0 && monotonic_ns() >= deadline_ns) return WaitOutcome::timed_out;
        if (yield) {
            ::sched_yield();
        } else {
            cpu_relax();
        }
    }
}

bool publishers_fence(const SegmentView& view) noexcept {
    for (std::uint32_t i = 0; i < view.max_publishers; ++i) {
        const layout::PublisherEntry& p = view.publishers[i];
        // seq_cst: after our seq_cst announcement (Dekker with the publisher's store of
        // fence_on = 0 followed by its re-check of our sleep word, ring_writer.cpp).
        if (p.state.load(std::memory_order_seq_cst) !=
            static_cast<std::uint32_t>(layout::PublisherState::active)) {
            continue;
        }
        if (p.fence_on.load(std::memory_order_seq_cst) == 0) return false;
    }
    return true;
}

namespace {

// Without membarrier and with a publisher that does not fence, how long a reader sleeps
// before it looks again by itself.
constexpr std::uint64_t kUnfencedSliceNs = 1'000'000;

// Sleeps once on every target's data futex (and the interrupt word): futex_wait for one,
// futex_waitv for several. `items` holds the values the words had before the re-check.
FutexWait sleep_on(std::span<const FutexWaitItem> items, std::uint64_t timeout_ns) noexcept {
    if (items.size() == 1) return futex_wait(*items[0].word, items[0].expected, timeout_ns);
    int woken = -1;
    return futex_wait_any(items, timeout_ns, woken);
}

// Announces (or withdraws) this thread's sleep in every target's own row.
void announce(const WaitTargets& targets) noexcept {
    futex_counters().announced.fetch_add(1, std::memory_order_relaxed);  // statistics
    for (const Readiness& r : targets.readiness) {
        if (r.row == nullptr) continue;
        // seq_cst RMW: the store half of the Dekker pairing with publishers' commits. The
        // epoch changes with every announcement, so publishers wake once per sleep.
        const std::uint64_t before =
            r.row->sleep.fetch_add(layout::kSleepEpoch + 1, std::memory_order_seq_cst);
        if ((before & layout::kWantsFence) == 0) {
            // From now on publishers should fence rather than make us membarrier.
            r.row->sleep.fetch_or(layout::kWantsFence, std::memory_order_seq_cst);
        }
    }
}

void withdraw(const WaitTargets& targets) noexcept {
    for (const Readiness& r : targets.readiness) {
        // Relaxed: after the sleep; publishers only use the word to decide to wake.
        if (r.row != nullptr) r.row->sleep.fetch_sub(1, std::memory_order_relaxed);
    }
}

// Whether every target's publishers are ordered against our announcement: they fence,
// or a membarrier made them (publishers are registered for it, membarrier.hpp).
bool ordered_against_publishers(const WaitTargets& targets) noexcept {
    bool all_fence = true;
    for (const Readiness& r : targets.readiness) all_fence = all_fence && publishers_fence(*r.view);
    return all_fence || heavy_fence();
}

}  // namespace

WaitOutcome block_until(const WaitTargets& targets, std::uint64_t deadline_ns) noexcept {
    const std::size_t count = targets.readiness.size() + (targets.interrupt != nullptr ? 1 : 0);
    if (count == 0 || count > kMaxFutexWaitItems) return WaitOutcome::failed;
    FutexWaitItem items[kMaxFutexWaitItems];
    for (;;) {
        if (targets.any_ready()) return WaitOutcome::ready;
        if (targets.interrupted()) return WaitOutcome::interrupted;
        const std::uint64_t now = monotonic_ns();
        if (now >= deadline_ns) return WaitOutcome::timed_out;
        announce(targets);
        const bool ordered = ordered_against_publishers(targets);
        for (std::size_t i = 0; i < targets.readiness.size(); ++i) {
            const auto& word = targets.readiness[i].view->header->data_futex;
            // seq_cst: before the re-check (a publisher bumps it after its commit).
            items[i] = FutexWaitItem{&word, word.load(std::memory_order_seq_cst)};
        }
        if (targets.interrupt != nullptr) {
            items[count - 1] = FutexWaitItem{targets.interrupt, targets.interrupt_seen};
        }
        const std::uint64_t slice =
            ordered ? deadline_ns - now
                    : std::min<std::uint64_t>(deadline_ns - now, kUnfencedSliceNs);
        FutexWait slept = FutexWait::woken;
        if (!targets.any_ready() && !targets.interrupted()) {  // the re-check, now announced
            slept = sleep_on(std::span(items, count), slice);
            if (slept == FutexWait::timed_out) slept = FutexWait::woken;  // the loop decides
        }
        withdraw(targets);
        if (slept == FutexWait::failed) return WaitOutcome::failed;
    }
}

}  // namespace ipcbus::detail
