// SPDX-License-Identifier: Apache-2.0
#include "clock.hpp"

#include <fstream>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace ipcbus::detail {
namespace {

constexpr std::uint32_t kShift = 32;
// The first calibration waits this long (a short baseline, refined afterwards).
constexpr std::uint64_t kFirstBaselineNs = 20'000'000;
// Then the calibration is refined this often, from an ever longer baseline, and any
// offset from CLOCK_MONOTONIC is slewed away over the next interval (no jumps).
constexpr std::uint64_t kUpdateIntervalNs = 1'000'000'000;

bool cpu_says_invariant() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid_max(0x80000000U, nullptr) < 0x80000007U) return false;
    __cpuid(0x80000007U, eax, ebx, ecx, edx);
    return (edx & (1U << 8)) != 0;  // "invariant TSC"
#else
    return false;
#endif
}

bool kernel_uses_tsc() {
    std::ifstream source("/sys/devices/system/clocksource/clocksource0/current_clocksource");
    std::string name;
    return static_cast<bool>(source >> name) && name == "tsc";
}

}  // namespace

bool tsc_is_trustworthy() noexcept {
    try {
        return cpu_says_invariant() && kernel_uses_tsc();
    } catch (...) {
        return false;
    }
}

TscCalibrator::TscCalibrator(layout::DomainClock* clock) noexcept
    : clock_(clock), trusted_(tsc_is_trustworthy()) {
    first_ = sample();
    next_due_ns_ = first_.ns + kFirstBaselineNs;
}

// A (TSC, CLOCK_MONOTONIC) pair: of a few tries, the one whose clock reads were closest
// together, with the counter read between them.
TscCalibrator::Pair TscCalibrator::sample() noexcept {
    Pair best{};
    std::uint64_t best_window = ~0ULL;
    for (int i = 0; i < 7; ++i) {
        const std::uint64_t before = monotonic_ns();
        const std::uint64_t tsc = read_tsc();
        const std::uint64_t after = monotonic_ns();
        if (after - before < best_window) {
            best_window = after - before;
            best = Pair{tsc, before + (after - before) / 2};
        }
    }
    return best;
}

void TscCalibrator::publish(std::uint64_t base_tsc, std::uint64_t base_ns,
                            std::uint64_t mult) noexcept {
    base_tsc_ = base_tsc;
    base_ns_ = base_ns;
    mult_ = mult;
    // Relaxed: only the daemon writes it.
    const std::uint32_t current = clock_->active.load(std::memory_order_relaxed) & 1U;
    const std::uint32_t next = calibrated_ ? current ^ 1U : current;
    layout::TscCalibration& c = clock_->calibration[next];
    // A seqlock writer, for a reader still on this calibration from a second ago: odd
    // while the fields change (a release fence after the odd store, a release store of the
    // even one; readers pair with an acquire load and an acquire fence before their
    // re-check). Relaxed stores of the fields in between.
    const std::uint32_t s = c.sequence.load(std::memory_order_relaxed);
    c.sequence.store(s + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    c.base_tsc.store(base_tsc, std::memory_order_relaxed);
    c.base_ns.store(base_ns, std::memory_order_relaxed);
    c.mult.store(mult, std::memory_order_relaxed);
    c.shift.store(kShift, std::memory_order_relaxed);
    c.sequence.store(s + 2, std::memory_order_release);
    // Release: readers that see the switch (acquire) see the calibration complete.
    clock_->active.store(next, std::memory_order_release);
    clock_->tsc_usable.store(1, std::memory_order_release);
}

int TscCalibrator::tick() noexcept {
    if (!trusted_) return -1;  // CLOCK_MONOTONIC it stays: nothing to do, ever
    const Pair now = sample();
    if (now.ns < next_due_ns_) {
        return static_cast<int>((next_due_ns_ - now.ns) / 1'000'000 + 1);
    }
    if (now.tsc <= first_.tsc) return -1;  // a counter that does not advance: give up
    // The rate from the longest baseline we have.
    const long double ns_per_tsc = static_cast<long double>(now.ns - first_.ns) /
                                   static_cast<long double>(now.tsc - first_.tsc);
    const std::uint64_t converted =
        calibrated_ ? tsc_to_ns(now.tsc, base_tsc_, base_ns_, mult_, kShift) : now.ns;
    const long double error =
        static_cast<long double>(now.ns) - static_cast<long double>(converted);
    if (!calibrated_ || error > 1e6L || error < -1e6L) {
        // First calibration, or off by more than a millisecond (the clock was stepped, or
        // the machine suspended): start again from the measured pair.
        publish(now.tsc, now.ns, static_cast<std::uint64_t>(ns_per_tsc * (1ULL << kShift)));
        calibrated_ = true;
    } else {
        // Continue from where the published conversion is now (no jump), at a rate that
        // absorbs the current offset from CLOCK_MONOTONIC over the next interval.
        const long double slew = 1.0L + error / static_cast<long double>(kUpdateIntervalNs);
        publish(now.tsc, converted,
                static_cast<std::uint64_t>(ns_per_tsc * slew * (1ULL << kShift)));
    }
    next_due_ns_ = now.ns + kUpdateIntervalNs;
    return static_cast<int>(kUpdateIntervalNs / 1'000'000);
}

}  // namespace ipcbus::detail
