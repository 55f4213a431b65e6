// SPDX-License-Identifier: Apache-2.0
// The hot path (loan, publish, take, release) must not allocate. This binary replaces the
// global allocator with a counting one and checks the count across many messages.
#include <gtest/gtest.h>

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

#include "ipcbus/ipcbus.hpp"
#include "test_domain.hpp"

namespace {
std::atomic<std::uint64_t> g_allocations{0};
}

// gcc pairs inlined `new` with our `delete` and, not seeing that both are ours (malloc and
// free underneath), warns of a mismatch.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(std::size_t size) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}

namespace {

struct Frame {
    std::uint64_t seq;
    std::uint8_t pixels[1000];
};

class HotPathTest : public ipcbus::test::DomainTest {};

TEST_F(HotPathTest, loanPublishTakeReleaseNeverAllocate) {
    ipcbus::Node node = make_node();
    auto pub = ipcbus::Publisher<Frame>::create(node, "hot/frames", {64, 0, 0});
    auto sub = ipcbus::Subscriber<Frame>::create(node, "hot/frames");
    auto raw_pub = ipcbus::RawPublisher::create(node, "hot/raw", {64, 256, 0});
    auto raw_sub = ipcbus::RawSubscriber::create(node, "hot/raw");
    ASSERT_TRUE(pub && sub && raw_pub && raw_sub);
    std::byte buffer[256]{};

    const std::uint64_t before = g_allocations.load();
    std::uint64_t received = 0;
    for (std::uint64_t i = 0; i < 10'000; ++i) {
        auto loan = pub->loan();
        ASSERT_TRUE(loan);
        (*loan)->seq = i;
        (void)pub->publish(std::move(*loan));
        auto sample = sub->take();
        ASSERT_TRUE(sample && sample->has_value());
        received += (**sample)->seq == i ? 1 : 0;
        ASSERT_TRUE(raw_pub->send(std::span(buffer).first(100)));
        auto copy = raw_sub->take_copy(buffer);
        ASSERT_TRUE(copy && copy->has_value());
    }
    EXPECT_EQ(g_allocations.load() - before, 0U) << "the hot path allocated";
    EXPECT_EQ(received, 10'000U);
}

// System calls trapped in the process that installed the filter (counted by the SIGSYS
// handler; a trapped call does not run and returns ENOSYS).
std::atomic<std::uint64_t> g_syscalls{0};

extern "C" void count_syscall(int) {
    g_syscalls.fetch_add(1, std::memory_order_relaxed);
}

// From here on every system call of this (single-threaded) process traps, except those
// needed to return from the handler and to exit.
bool trap_syscalls() {
    struct sigaction sa {};
    sa.sa_handler = count_syscall;
    if (::sigaction(SIGSYS, &sa, nullptr) != 0) return false;
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_rt_sigreturn, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_exit_group, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog program{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
    return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
           ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

struct Counts {
    std::atomic<int> trapped;
    std::atomic<std::uint64_t> syscalls;
    std::atomic<std::uint64_t> delivered;
};

// With no reader asleep, publishing and taking make no system call at all: the wake-up is
// skipped. The loop runs in a forked child (its only thread, so the filter covers all of
// it, and nothing of the parent's runtime trips over it), which reports through shared
// memory and _exits. Its one deliberate getpid() proves that the counter counts.
TEST_F(HotPathTest, publishingWithoutSleepingReadersMakesNoSystemCall) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "sanitizer runtimes make system calls of their own (the release build "
                    "runs this test)";
#endif
    ipcbus::Node node = make_node();
    auto pub = ipcbus::RawPublisher::create(node, "quiet/path", {64, 64, 0});
    auto sub = ipcbus::RawSubscriber::create(node, "quiet/path");
    ASSERT_TRUE(pub && sub);
    void* page =
        ::mmap(nullptr, sizeof(Counts), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(page, MAP_FAILED);
    auto* counts = new (page) Counts{};
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        std::byte message[64]{};
        ::alarm(60);  // a child stuck in a trapped call must not hang the suite
        counts->trapped = trap_syscalls() ? 1 : 0;
        const std::uint64_t start = g_syscalls.load();
        for (std::uint64_t i = 0; i < 10'000; ++i) {
            if (!pub->send(message)) continue;
            auto copied = sub->take_copy(message);
            if (copied && copied->has_value()) counts->delivered.fetch_add(1);
        }
        ::syscall(SYS_getpid);  // the control: exactly one
        counts->syscalls = g_syscalls.load() - start;
        ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status)) << "the child died: status " << status;
    ASSERT_EQ(counts->trapped.load(), 1) << "seccomp unavailable";
    EXPECT_EQ(counts->delivered.load(), 10'000U);
    EXPECT_EQ(counts->syscalls.load(), 1U)
        << "the hot path made " << counts->syscalls.load() - 1 << " system call(s)";
    ::munmap(page, sizeof(Counts));
}

}  // namespace
