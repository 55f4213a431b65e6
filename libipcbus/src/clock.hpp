// Clocks. clock_gettime goes through the vDSO on Linux (no system call with the tsc,
// kvm-clock or hyperv clocksources), so it is allowed on the hot path.
#pragma once

#include <time.h>

#include <cstdint>

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

}  // namespace ipcbus::detail
