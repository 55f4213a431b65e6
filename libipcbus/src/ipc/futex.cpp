// SPDX-License-Identifier: Apache-2.0
#include "ipc/futex.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449  // the same number on every architecture (Linux 5.16)
#endif

namespace ipcbus::detail {
namespace {

// The futex word's address: the kernel compares and sleeps on it, so it must be the very
// word of the atomic (std::atomic<uint32_t> is a plain 32-bit word, checked below).
std::uint32_t* address_of(const std::atomic<std::uint32_t>& word) noexcept {
    return const_cast<std::uint32_t*>(reinterpret_cast<const std::uint32_t*>(&word));
}
static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));

timespec relative(std::uint64_t ns) noexcept {
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000ULL);
    ts.tv_nsec = static_cast<long>(ns % 1'000'000'000ULL);
    return ts;
}

FutexWait outcome(long rc) noexcept {
    if (rc >= 0) return FutexWait::woken;
    switch (errno) {
        case EAGAIN:  // the word changed before we slept
        case EINTR:
            return FutexWait::woken;
        case ETIMEDOUT:
            return FutexWait::timed_out;
        default:
            return FutexWait::failed;
    }
}

// Counts a wait from its start to its end (relaxed: statistics).
struct CountedWait {
    CountedWait() noexcept {
        futex_counters().waits.fetch_add(1, std::memory_order_relaxed);
        futex_counters().sleeping.fetch_add(1, std::memory_order_relaxed);
    }
    ~CountedWait() { futex_counters().sleeping.fetch_sub(1, std::memory_order_relaxed); }
    CountedWait(const CountedWait&) = delete;
    CountedWait& operator=(const CountedWait&) = delete;
};

}  // namespace

FutexCounters& futex_counters() noexcept {
    static FutexCounters counters;
    return counters;
}

FutexWait futex_wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                     std::uint64_t timeout_ns) noexcept {
    const timespec timeout = relative(timeout_ns);
    const CountedWait counted;
    return outcome(
        ::syscall(SYS_futex, address_of(word), FUTEX_WAIT, expected, &timeout, nullptr, 0));
}

int futex_wake(const std::atomic<std::uint32_t>& word, int count) noexcept {
    futex_counters().wakes.fetch_add(1, std::memory_order_relaxed);  // statistics
    const long rc = ::syscall(SYS_futex, address_of(word), FUTEX_WAKE, count, nullptr, nullptr, 0);
    return rc < 0 ? 0 : static_cast<int>(rc);
}

FutexWait futex_wait_any(std::span<const FutexWaitItem> items, std::uint64_t timeout_ns,
                         int& woken_index) noexcept {
    woken_index = -1;
    if (items.empty() || items.size() > kMaxFutexWaitItems) {
        errno = EINVAL;
        return FutexWait::failed;
    }
    // struct futex_waitv {u64 val; u64 uaddr; u32 flags; u32 reserved;} (linux/futex.h of
    // 5.16+); spelled out here so the library builds against older kernel headers too.
    struct WaitV {
        std::uint64_t val;
        std::uint64_t uaddr;
        std::uint32_t flags;
        std::uint32_t reserved;
    };
    WaitV waits[kMaxFutexWaitItems];
    for (std::size_t i = 0; i < items.size(); ++i) {
        waits[i] =
            WaitV{items[i].expected, reinterpret_cast<std::uintptr_t>(address_of(*items[i].word)),
                  /*FUTEX2_SIZE_U32*/ 0x02, 0};
    }
    // futex_waitv takes an absolute timeout on the given clock.
    timespec deadline{};
    ::clock_gettime(CLOCK_MONOTONIC, &deadline);
    const timespec add = relative(timeout_ns);
    deadline.tv_sec += add.tv_sec;
    deadline.tv_nsec += add.tv_nsec;
    if (deadline.tv_nsec >= 1'000'000'000L) {
        deadline.tv_nsec -= 1'000'000'000L;
        deadline.tv_sec += 1;
    }
    const CountedWait counted;
    const long rc = ::syscall(SYS_futex_waitv, waits, static_cast<unsigned>(items.size()), 0U,
                              &deadline, CLOCK_MONOTONIC);
    if (rc >= 0) woken_index = static_cast<int>(rc);
    return outcome(rc);
}

}  // namespace ipcbus::detail
