// SPDX-License-Identifier: Apache-2.0
// Message timestamps: the TSC converted with the domain's one calibration (clock.hpp).
// Two processes' timestamps of the same instant must agree, and they must stay
// CLOCK_MONOTONIC nanoseconds (what users compare them with).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "clock.hpp"
#include "ipcbus/node.hpp"
#include "test_domain.hpp"

namespace {

using ipcbus::detail::bus_clock_ns;
using ipcbus::detail::monotonic_ns;
using ipcbus::detail::tsc_to_ns;
using ipcbus::test::ChildProcess;

// --- the conversion --------------------------------------------------------------------

TEST(ClockMath, convertsCountersAfterAndBeforeTheBase) {
    const std::uint64_t mult = 1ULL << 31;  // half a nanosecond per tick, shift 32
    EXPECT_EQ(tsc_to_ns(1'000'000, 1'000'000, 5'000, mult, 32), 5'000U);
    EXPECT_EQ(tsc_to_ns(1'002'000, 1'000'000, 5'000, mult, 32), 6'000U);
    EXPECT_EQ(tsc_to_ns(998'000, 1'000'000, 5'000, mult, 32), 4'000U);
    // Large distances do not overflow (128-bit product).
    const std::uint64_t far = 1ULL << 62;
    EXPECT_EQ(tsc_to_ns(far, 0, 0, mult, 32), far / 2);
}

TEST(ClockMath, anUncalibratedOrOddClockFallsBackToMonotonic) {
    ipcbus::layout::DomainClock clock{};
    const std::uint64_t before = monotonic_ns();
    const std::uint64_t t = bus_clock_ns(&clock);  // tsc_usable 0
    EXPECT_GE(t, before);
    EXPECT_LE(t, monotonic_ns());
    clock.tsc_usable.store(1);
    clock.calibration[0].sequence.store(1);  // the daemon in the middle of an update, for ever
    const std::uint64_t during = bus_clock_ns(&clock);
    EXPECT_GE(during, t);
    EXPECT_LE(during, monotonic_ns());
    EXPECT_GE(bus_clock_ns(nullptr), during);
}

// The calibrator, run over a clock in our own memory: once calibrated, converted
// counters are CLOCK_MONOTONIC nanoseconds (to within what a calibration over a short
// baseline can promise; the bound is about correctness, not speed).
TEST(ClockCalibration, convertedCountersStayOnClockMonotonic) {
    if (!ipcbus::detail::tsc_is_trustworthy()) {
        GTEST_SKIP() << "this machine's TSC is not a usable clock: timestamps use CLOCK_MONOTONIC";
    }
    ipcbus::layout::DomainClock clock{};
    ipcbus::detail::TscCalibrator calibrator(&clock);
    // The first calibration needs a 20 ms baseline of real time.
    while (calibrator.tick() != 1000) ::sched_yield();
    ASSERT_EQ(clock.tsc_usable.load(), 1U);
    constexpr std::uint64_t kBoundNs = 50'000;
    for (int i = 0; i < 1000; ++i) {
        const std::uint64_t before = monotonic_ns();
        const std::uint64_t t = bus_clock_ns(&clock);
        const std::uint64_t after = monotonic_ns();
        ASSERT_GE(t + kBoundNs, before);
        ASSERT_LE(t, after + kBoundNs);
    }
}

// --- two processes -----------------------------------------------------------------------

class ClockTest : public ipcbus::test::DomainTest {
  protected:
    ipcbus::Node node_ = make_node();
};

// A file both processes map: word 0 is the turn, words 1.. the peer's timestamps.
class SharedWords {
  public:
    explicit SharedWords(std::size_t words) : bytes_(words * sizeof(std::uint64_t)) {
        char name[] = "/tmp/ipcbus-clock-XXXXXX";
        const int fd = ::mkstemp(name);
        path_ = name;
        if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(bytes_)) != 0) return;
        void* memory = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ::close(fd);
        if (memory != MAP_FAILED) words_ = static_cast<std::uint64_t*>(memory);
    }
    ~SharedWords() {
        if (words_ != nullptr) ::munmap(words_, bytes_);
        ::unlink(path_.c_str());
    }
    SharedWords(const SharedWords&) = delete;
    SharedWords& operator=(const SharedWords&) = delete;
    [[nodiscard]] std::uint64_t* words() const { return words_; }
    [[nodiscard]] const std::string& path() const { return path_; }

  private:
    std::size_t bytes_;
    std::string path_;
    std::uint64_t* words_ = nullptr;
};

// The test takes t1, hands the turn to the peer, which takes tB at once and hands it
// back, and the test takes t2: tB happened between t1 and t2, so clocks that agree must
// give t1 <= tB <= t2 in every round. Clocks that differ by d fail every round faster
// than d, so passing proves they agree to within the fastest round (printed: well under a
// microsecond when both processes run on their own cores).
TEST_F(ClockTest, twoProcessesAgreeOnTheSameInstant) {
    constexpr std::uint64_t kRounds = 2000;
    SharedWords shared(kRounds + 1);
    ASSERT_NE(shared.words(), nullptr);
    ChildProcess peer({IPCBUS_CLOCK_PEER_PATH, "clock", domain_, "clock/agree",
                       "file=" + shared.path(), "rounds=" + std::to_string(kRounds),
                       "deadline_s=60"});
    ASSERT_EQ(peer.wait_for_line("ready"), "ready");
    // The daemon's first calibration comes 20 ms after it started: compare TSC timestamps.
    const ipcbus::layout::DomainClock* clock = node_.daemon()->clock();
    ASSERT_NE(clock, nullptr);
    const bool tsc = ipcbus::detail::tsc_is_trustworthy();
    ASSERT_TRUE(!tsc || ipcbus::test::eventually([&] { return clock->tsc_usable.load() == 1; }))
        << "the daemon never calibrated the domain's clock";
    std::atomic_ref<std::uint64_t> turn(shared.words()[0]);
    std::vector<std::uint64_t> before(kRounds), after(kRounds);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (std::uint64_t i = 0; i < kRounds; ++i) {
        before[i] = node_.now();
        // Release/acquire: the handshake (see clock_peer.cpp).
        turn.store(2 * i + 1, std::memory_order_release);
        while (turn.load(std::memory_order_acquire) != 2 * i + 2) {
            ASSERT_LT(std::chrono::steady_clock::now(), give_up) << "the peer stopped answering";
        }
        after[i] = node_.now();
    }
    EXPECT_EQ(peer.wait_for_line("done"), "done");
    EXPECT_EQ(peer.wait(), 0);
    std::uint64_t tightest = UINT64_MAX;
    for (std::uint64_t i = 0; i < kRounds; ++i) {
        const std::uint64_t theirs =
            std::atomic_ref<std::uint64_t>(shared.words()[i + 1]).load(std::memory_order_relaxed);
        ASSERT_LE(before[i], theirs) << "round " << i << ": the peer's clock is behind ours";
        ASSERT_LE(theirs, after[i]) << "round " << i << ": the peer's clock is ahead of ours";
        tightest = std::min(tightest, after[i] - before[i]);
    }
    std::printf("clocks agree within %llu ns (the fastest of %llu rounds; TSC %s)\n",
                static_cast<unsigned long long>(tightest), static_cast<unsigned long long>(kRounds),
                tsc ? "in use" : "not trusted here");
}

}  // namespace
