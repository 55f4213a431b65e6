#include "wait.hpp"

#include <sched.h>

#include <algorithm>

#include "clock.hpp"
#include "ipc/futex.hpp"
#include "ipc/membarrier.hpp"
#include "ring.hpp"

namespace ipcbus::detail {

using layout::kBusyBit;
using layout::kStampMask;
using layout::stamp_of;

bool Readiness::ready(std::uint64_t from) const noexcept {
    // seq_cst loads: the re-check half of the sleeper's Dekker pairing (see wait.hpp).
    const std::uint64_t position = std::max(cursor->load(std::memory_order_seq_cst), from);
    const std::uint64_t word = view->slot(position).stamp.load(std::memory_order_seq_cst);
    const std::uint64_t found = word & kStampMask;
    const std::uint64_t wanted = stamp_of(position);
    if (found > wanted) return true;                             // lapped: there is newer data
    if (found == wanted && (word & kBusyBit) == 0) return true;  // committed or skipped
    // Relaxed: a hint that a dead member left messages for the group.
    if (orphans == nullptr || orphans->load(std::memory_order_relaxed) == 0) return false;
    return !once_per_orphaning ||
           orphan_events->load(std::memory_order_relaxed) != orphan_events_seen;
}

std::uint64_t Readiness::write_cursor() const noexcept {
    return view->header->write_cursor.load(std::memory_order_seq_cst);
}

std::uint64_t Readiness::first_pending(std::uint64_t from) const noexcept {
    // Not simply the write cursor: a sequence below it may still be in a publisher's
    // hands, and its commit must wake us again (found by tests/chaos). Bounded by one
    // ring: anything older a reader passes over as lost.
    const std::uint64_t end = write_cursor();
    const std::uint64_t capacity = view->mask + 1;
    std::uint64_t p = std::max(
        {cursor->load(std::memory_order_seq_cst), from, end > capacity ? end - capacity : 0});
    for (; p < end; ++p) {
        const std::uint64_t word = view->slot(p).stamp.load(std::memory_order_seq_cst);
        const std::uint64_t found = word & kStampMask;
        const std::uint64_t wanted = stamp_of(p);
        if (found < wanted || (found == wanted && (word & kBusyBit) != 0)) break;
    }
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

namespace {

// Without membarrier, how long a reader sleeps before it looks again by itself.
constexpr std::uint64_t kUnfencedSliceNs = 1'000'000;

// Sleeps once on every target's data futex (and the interrupt word): futex_wait for one,
// futex_waitv for several. `items` holds the values the words had before the re-check.
FutexWait sleep_on(std::span<const FutexWaitItem> items, std::uint64_t timeout_ns) noexcept {
    if (items.size() == 1) return futex_wait(*items[0].word, items[0].expected, timeout_ns);
    int woken = -1;
    return futex_wait_any(items, timeout_ns, woken);
}

void announce(const WaitTargets& targets, int delta) noexcept {
    for (const Readiness& r : targets.readiness) {
        // seq_cst: the store half of the Dekker pairing with the publisher's commit.
        r.view->header->readers_waiting.fetch_add(static_cast<std::uint32_t>(delta),
                                                  std::memory_order_seq_cst);
    }
}

// Each woken sleeper wakes one more whose topic moved while it slept, so that a publisher
// wakes one reader per publish however many sleep. Only a sleeper whose futex word moved
// passes it on, so the chain ends once every sleeper got one wake-up.
void pass_wake_up_on(const WaitTargets& targets, std::span<const FutexWaitItem> items) noexcept {
    for (std::size_t i = 0; i < targets.readiness.size(); ++i) {
        const auto& header = *targets.readiness[i].view->header;
        if (header.data_futex.load(std::memory_order_relaxed) != items[i].expected &&
            header.readers_waiting.load(std::memory_order_relaxed) != 0) {
            futex_wake(header.data_futex, 1);
        }
    }
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
        announce(targets, +1);
        for (std::size_t i = 0; i < targets.readiness.size(); ++i) {
            const auto& word = targets.readiness[i].view->header->data_futex;
            items[i] = FutexWaitItem{&word, word.load(std::memory_order_seq_cst)};
        }
        if (targets.interrupt != nullptr) {
            items[count - 1] = FutexWaitItem{targets.interrupt, targets.interrupt_seen};
        }
        // Orders publishers' commits against our announcement (membarrier.hpp); without
        // it a wake-up can be missed, so sleep in short slices and look again.
        const bool fenced = heavy_fence();
        const std::uint64_t slice =
            fenced ? deadline_ns - now
                   : std::min<std::uint64_t>(deadline_ns - now, kUnfencedSliceNs);
        FutexWait slept = FutexWait::woken;
        if (!targets.any_ready() && !targets.interrupted()) {  // the re-check, now announced
            slept = sleep_on(std::span(items, count), slice);
            if (slept == FutexWait::timed_out) slept = FutexWait::woken;  // the loop decides
        }
        announce(targets, -1);
        pass_wake_up_on(targets, std::span(items, count));
        if (slept == FutexWait::failed) return WaitOutcome::failed;
    }
}

}  // namespace ipcbus::detail
