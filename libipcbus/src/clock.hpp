// SPDX-License-Identifier: Apache-2.0
// Clocks. Message timestamps come from the CPU's time-stamp counter, converted to
// nanoseconds with one calibration per domain that the daemon publishes read-only in the
// domain segment (layout::DomainClock), so every process converts the same way and their
// timestamps compare. Where the TSC cannot be trusted (not invariant, or the kernel does
// not use it as its clocksource) or the daemon has not calibrated yet, timestamps come
// from CLOCK_MONOTONIC through the vDSO. Either way they are CLOCK_MONOTONIC nanoseconds.
#pragma once

#include <time.h>

#include <atomic>
#include <cstdint>

#include "layout/segment_layout.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

namespace ipcbus::detail {

/// CLOCK_MONOTONIC in nanoseconds; comparable between processes on one host.
inline std::uint64_t monotonic_ns() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

/// Wall-clock time in nanoseconds since the epoch, for humans.
inline std::uint64_t realtime_ns() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

/// Tells the CPU we are spinning (frees pipeline resources for the sibling hyperthread).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

/// The time-stamp counter (0 where there is none), read in program order: the lfence
/// keeps the read from executing before earlier instructions have (a bare rdtsc may run
/// ahead of a load it follows, so a timestamp taken after seeing a message could be older
/// than the message's). The vDSO's clock_gettime orders its read the same way.
inline std::uint64_t read_tsc() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    _mm_lfence();
    return __rdtsc();
#else
    return 0;
#endif
}

/// The time-stamp counter without the lfence (about half the cost on a VM): the read may
/// run ahead of earlier instructions, so it may only be *earlier* than program order. That
/// is right for a publisher's timestamp, which must not be later than the commit that makes
/// the message visible (a store, which leaves the core only after the read has retired).
inline std::uint64_t read_tsc_early() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    return __rdtsc();
#else
    return 0;
#endif
}

/// How the bus clock reads the counter: `ordered` for "now, after what I just saw"
/// (latency measured on receipt), `early_ok` for a stamp that may err early (publishing).
enum class TscRead { ordered, early_ok };

/// ns = base_ns + (tsc - base_tsc) * mult >> shift, for counters before the base too.
__extension__ using uint128 = unsigned __int128;  // gcc and clang: a 64x64->128 multiply

inline std::uint64_t tsc_to_ns(std::uint64_t tsc, std::uint64_t base_tsc, std::uint64_t base_ns,
                               std::uint64_t mult, std::uint32_t shift) noexcept {
    if (tsc >= base_tsc) {
        const uint128 d = static_cast<uint128>(tsc - base_tsc) * mult;
        return base_ns + static_cast<std::uint64_t>(d >> shift);
    }
    const uint128 d = static_cast<uint128>(base_tsc - tsc) * mult;
    return base_ns - static_cast<std::uint64_t>(d >> shift);
}

/// The bus clock: the domain's TSC calibration when the daemon published a usable one,
/// else CLOCK_MONOTONIC. `clock` may be null (no domain segment: CLOCK_MONOTONIC).
inline std::uint64_t bus_clock_ns(const layout::DomainClock* clock,
                                  TscRead read = TscRead::ordered) noexcept {
    // Acquire: set once, after the first calibration (pairs with its release store).
    if (clock == nullptr || clock->tsc_usable.load(std::memory_order_acquire) == 0) {
        return monotonic_ns();
    }
    // The daemon rewrites only the calibration readers do not use, a second after it
    // stopped being current: a retry is needed only by a reader preempted in here for that
    // long, and a fallback to CLOCK_MONOTONIC only after four such preemptions in a row.
    for (int attempt = 0; attempt < 4; ++attempt) {
        // Acquire: pairs with the daemon's release store switching to a calibration it
        // has finished writing.
        const std::uint32_t index = clock->active.load(std::memory_order_acquire) & 1U;
        const layout::TscCalibration& c = clock->calibration[index];
        // Acquire: pairs with the release store that ended the calibration's last update.
        const std::uint32_t begin = c.sequence.load(std::memory_order_acquire);
        // Relaxed: validated by the sequence re-check below.
        const std::uint64_t base_tsc = c.base_tsc.load(std::memory_order_relaxed);
        const std::uint64_t base_ns = c.base_ns.load(std::memory_order_relaxed);
        const std::uint64_t mult = c.mult.load(std::memory_order_relaxed);
        const std::uint32_t shift = c.shift.load(std::memory_order_relaxed);
        const std::uint64_t tsc = read == TscRead::ordered ? read_tsc() : read_tsc_early();
        // Acquire fence: the field loads above happen before the sequence re-check (pairs
        // with the daemon's release fence after it made the sequence odd).
        std::atomic_thread_fence(std::memory_order_acquire);
        if ((begin & 1U) == 0 && c.sequence.load(std::memory_order_relaxed) == begin &&
            shift < 64) {
            return tsc_to_ns(tsc, base_tsc, base_ns, mult, shift);
        }
    }
    return monotonic_ns();
}

/// Whether this machine's TSC may stand in for CLOCK_MONOTONIC: invariant (CPUID), and
/// the kernel itself uses it as its clocksource (so it found it synchronised across CPUs).
bool tsc_is_trustworthy() noexcept;

/// The daemon's side: calibrates the TSC against CLOCK_MONOTONIC and keeps the domain's
/// clock up to date. Not thread-safe (the daemon's event loop calls it).
class TscCalibrator {
  public:
    /// Starts measuring; `clock` stays unusable (tsc_usable 0) until the first update.
    explicit TscCalibrator(layout::DomainClock* clock) noexcept;
    /// Call from time to time; returns how many milliseconds until the next call is due.
    int tick() noexcept;

  private:
    struct Pair {
        std::uint64_t tsc;
        std::uint64_t ns;
    };
    static Pair sample() noexcept;
    void publish(std::uint64_t base_tsc, std::uint64_t base_ns, std::uint64_t mult) noexcept;

    layout::DomainClock* clock_;
    bool trusted_;
    Pair first_{};
    std::uint64_t next_due_ns_ = 0;
    bool calibrated_ = false;
    std::uint64_t base_tsc_ = 0, base_ns_ = 0, mult_ = 0;
};

}  // namespace ipcbus::detail
