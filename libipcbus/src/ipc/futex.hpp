// SPDX-License-Identifier: Apache-2.0
// Futexes on words in shared memory: the one way processes of a topic sleep and wake each
// other. Shared (not FUTEX_PRIVATE) because the word is mapped by several processes.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>

namespace ipcbus::detail {

enum class FutexWait : std::uint8_t {
    woken,  // woken, or the word no longer held `expected` (re-check your condition)
    timed_out,
    failed,  // an unexpected error (never EINTR: a signal counts as woken)
};

/// Sleeps while `word` holds `expected`, at most `timeout_ns` (relative). Every return may
/// be spurious: callers re-check what they wait for.
FutexWait futex_wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                     std::uint64_t timeout_ns) noexcept;

/// Wakes up to `count` sleepers on `word`; returns how many were woken.
int futex_wake(const std::atomic<std::uint32_t>& word, int count) noexcept;

/// One word of a futex_waitv call.
struct FutexWaitItem {
    const std::atomic<std::uint32_t>* word;
    std::uint32_t expected;
};

/// Upper bound of items in one futex_wait_any call (the kernel's FUTEX_WAITV_MAX).
inline constexpr std::size_t kMaxFutexWaitItems = 128;

/// Sleeps until any of `items` no longer holds its expected value, it is woken, or the
/// timeout passes (Linux 5.16+: futex_waitv). `woken_index` is the index the kernel
/// reports, -1 if none. failed with errno ENOSYS on older kernels.
FutexWait futex_wait_any(std::span<const FutexWaitItem> items, std::uint64_t timeout_ns,
                         int& woken_index) noexcept;

/// How many futex system calls this process has made (all threads), for tests and
/// benchmarks that check the one-wake-up-per-sleep rule. Relaxed counters.
struct FutexCounters {
    std::atomic<std::uint64_t> waits{0};     // futex_wait and futex_wait_any calls
    std::atomic<std::uint64_t> wakes{0};     // futex_wake calls
    std::atomic<std::uint32_t> sleeping{0};  // threads inside a wait call right now
    // Sleeps readers announced to publishers (wait.cpp); a reader whose re-check then finds
    // data does not wait, but a publisher may already be waking it: one wake-up per
    // announcement at most is the rule.
    std::atomic<std::uint64_t> announced{0};
};
FutexCounters& futex_counters() noexcept;

}  // namespace ipcbus::detail
