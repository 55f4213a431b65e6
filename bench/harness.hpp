// SPDX-License-Identifier: Apache-2.0
// The cross-process benchmark harness shared by the programs in bench/ and bench/peers/:
// clocks (rdtscp), CPU pinning, forked peer processes that report failures, the spin-wait
// every busy loop uses, payloads that carry their sequence number, percentiles.
// Header-only; every program includes it once.
#pragma once

#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <functional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

constexpr std::size_t kHeader = sizeof(std::uint64_t);  // sequence number at offset 0
constexpr std::size_t kMaxChildren = 8;
// A single wait that makes no progress for this long means the peer is stuck.
constexpr std::uint64_t kStallLimitNs = 60'000'000'000ULL;

// Set by SIGINT/SIGTERM in the harness process: it stops at its next check and cleans up.
inline volatile std::sig_atomic_t g_interrupted = 0;

extern "C" inline void on_interrupt(int) {
    g_interrupted = 1;
}

inline void install_interrupt_handlers() {
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, nullptr);
    ::sigaction(SIGTERM, &action, nullptr);
}

struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

[[noreturn]] inline void fail(const std::string& what) {
    throw Failure(what);
}

inline std::uint64_t monotonic_ns() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

/// Timestamps for latency samples: rdtscp (waits for earlier instructions, cheap, no vDSO
/// call) calibrated against CLOCK_MONOTONIC; CLOCK_MONOTONIC itself elsewhere.
class TickClock {
  public:
#if defined(__x86_64__) || defined(__i386__)
    static constexpr const char* kSource = "rdtscp";
    static std::uint64_t now() noexcept {
        unsigned aux = 0;
        return __rdtscp(&aux);
    }
#else
    static constexpr const char* kSource = "CLOCK_MONOTONIC";
    static std::uint64_t now() noexcept {
        return monotonic_ns();
    }
#endif

    /// Measures ticks per nanosecond by spinning for `duration_ns`.
    void calibrate(std::uint64_t duration_ns) noexcept {
        const std::uint64_t m0 = monotonic_ns();
        const std::uint64_t t0 = now();
        std::uint64_t m1 = m0;
        while (m1 - m0 < duration_ns) m1 = monotonic_ns();
        const std::uint64_t t1 = now();
        ns_per_tick_ = static_cast<double>(m1 - m0) / static_cast<double>(t1 - t0);
    }
    [[nodiscard]] double ns_per_tick() const noexcept {
        return ns_per_tick_;
    }

  private:
    double ns_per_tick_ = 1.0;
};

class AnonymousSharedMemory {
  public:
    explicit AnonymousSharedMemory(std::size_t size) : size_(size) {
        address_ =
            ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (address_ == MAP_FAILED) fail("mmap of harness memory failed: " + errno_text());
    }
    AnonymousSharedMemory(const AnonymousSharedMemory&) = delete;
    AnonymousSharedMemory& operator=(const AnonymousSharedMemory&) = delete;
    ~AnonymousSharedMemory() { ::munmap(address_, size_); }

    [[nodiscard]] void* get() const noexcept { return address_; }

    static std::string errno_text() { return std::strerror(errno); }

  private:
    std::size_t size_;
    void* address_ = nullptr;
};

/// What a child process reports back.
struct alignas(64) ChildReport {
    std::uint64_t received;
    std::uint64_t lost;
    std::uint64_t skipped;
    std::uint64_t bad;  // payload did not match its sequence number
    char error[192];
};

inline std::vector<int> allowed_cpus() {
    std::vector<int> cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
    }
    return cpus;
}

inline bool pin_to_cpu(int cpu) {
    if (cpu < 0) return false;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return ::sched_setaffinity(0, sizeof(set), &set) == 0;
}

inline void copy_error(ChildReport& report, std::string_view text) noexcept {
    const std::size_t n = std::min(text.size(), sizeof(report.error) - 1);
    std::memcpy(report.error, text.data(), n);
    report.error[n] = '\0';
}

/// The child processes of one measurement. Kills and reaps whatever is left when it goes
/// out of scope (e.g. when the measurement failed).
class Children {
  public:
    explicit Children(ChildReport* reports) : reports_(reports) {}
    Children(const Children&) = delete;
    Children& operator=(const Children&) = delete;
    ~Children() {
        for (Child& c : children_) {
            if (c.reaped) continue;
            ::kill(c.pid, SIGKILL);
            int status = 0;
            while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
            }
        }
    }

    /// Forks a child pinned to `cpu` that runs `body` and exits with its return value.
    /// The body gets the child's index (its row in Control::reports).
    void spawn(int cpu, const std::function<int(std::size_t)>& body) {
        const std::size_t index = children_.size();
        if (index >= kMaxChildren) fail("too many child processes");
        std::fflush(stdout);
        std::fflush(stderr);
        const pid_t parent = ::getpid();
        const pid_t pid = ::fork();
        if (pid < 0) fail("fork failed: " + AnonymousSharedMemory::errno_text());
        if (pid == 0) {
            // Child. Never return into the parent's code; never run its destructors.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(3);
            ::signal(SIGINT, SIG_DFL);
            ::signal(SIGTERM, SIG_DFL);
            int rc = 1;
            try {
                if (cpu >= 0 && !pin_to_cpu(cpu)) {
                    copy_error(reports_[index], "cannot pin child to its CPU");
                } else {
                    rc = body(index);
                }
            } catch (const std::exception& e) {
                copy_error(reports_[index], e.what());
                rc = 1;
            } catch (...) {
                copy_error(reports_[index], "unknown exception");
                rc = 1;
            }
            ::_exit(rc);
        }
        children_.push_back(Child{pid, index, false, 0});
    }

    /// Throws if a child has failed. (A child that finished its work and exited 0 is only
    /// reaped: its last message may be the very one the caller is about to see.)
    void check_alive() {
        for (Child& c : children_) {
            if (c.reaped) continue;
            int status = 0;
            const pid_t r = ::waitpid(c.pid, &status, WNOHANG);
            if (r == c.pid) {
                c.reaped = true;
                c.status = status;
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                    fail("child " + std::to_string(c.index) + " failed: " + describe(c));
                }
            }
        }
    }

    /// Reaps every child; throws if one did not exit with status 0 in time.
    void wait_all() {
        const std::uint64_t deadline = monotonic_ns() + kStallLimitNs;
        for (Child& c : children_) {
            while (!c.reaped) {
                int status = 0;
                const pid_t r = ::waitpid(c.pid, &status, WNOHANG);
                if (r == c.pid) {
                    c.reaped = true;
                    c.status = status;
                    break;
                }
                if (r < 0 && errno != EINTR) fail("waitpid failed");
                if (monotonic_ns() > deadline) fail("child " + std::to_string(c.index) + " hangs");
                const timespec ts{0, 1'000'000};  // reaping only: nothing is timed here
                ::nanosleep(&ts, nullptr);
            }
        }
        for (const Child& c : children_) {
            if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0) {
                fail("child " + std::to_string(c.index) + " failed: " + describe(c));
            }
        }
    }

  private:
    struct Child {
        pid_t pid;
        std::size_t index;
        bool reaped;
        int status;
    };

    std::string describe(const Child& c) const {
        std::string text;
        if (WIFEXITED(c.status)) {
            text = "exit status " + std::to_string(WEXITSTATUS(c.status));
        } else if (WIFSIGNALED(c.status)) {
            text = "killed by signal " + std::to_string(WTERMSIG(c.status));
        } else {
            text = "status " + std::to_string(c.status);
        }
        const char* error = reports_[c.index].error;
        if (error[0] != '\0') text += " (" + std::string(error) + ")";
        return text;
    }

    ChildReport* reports_;  // kMaxChildren of them, shared with the children
    std::vector<Child> children_;
};

/// Spin-wait helper used by every busy loop (the same for floors and ipcbus, so both pay
/// the same). Spins with pause; every 16k spins yields the CPU (so oversubscribed runs
/// still progress), checks that the peers are alive and that the wait is not stuck.
class Waiter {
  public:
    explicit Waiter(Children* children) noexcept : children_(children) {}

    void pause() {
        if ((++spins_ & 0x3fffU) != 0) {
            cpu_relax();
            return;
        }
        slow();
    }

  private:
    [[gnu::noinline]] void slow() {
        ::sched_yield();
        if (g_interrupted != 0) fail("interrupted");
        const std::uint64_t now = monotonic_ns();
        if (since_ == 0) {
            since_ = now;
        } else if (now - since_ > kStallLimitNs) {
            fail("no progress for " + std::to_string(kStallLimitNs / 1'000'000'000ULL) + " s");
        }
        if (children_ != nullptr) children_->check_alive();
    }

    Children* children_;
    std::uint32_t spins_ = 0;
    std::uint64_t since_ = 0;
};

inline std::byte pattern_of(std::uint64_t seq) noexcept {
    return static_cast<std::byte>(seq & 0xffU);
}

/// Writes the header and, if `every_byte`, fills the rest with the pattern.
inline void fill_payload(std::span<std::byte> data, std::uint64_t seq, bool every_byte) noexcept {
    if (every_byte && data.size() > kHeader) {
        std::memset(data.data() + kHeader, static_cast<int>(pattern_of(seq)),
                    data.size() - kHeader);
    }
    std::memcpy(data.data(), &seq, kHeader);
}

/// Reads the header and, if `every_byte`, every other byte; true if all match `seq`.
inline bool check_payload(std::span<const std::byte> data, std::uint64_t seq,
                          bool every_byte) noexcept {
    if (data.size() < kHeader) return false;
    std::uint64_t header = 0;
    std::memcpy(&header, data.data(), kHeader);
    bool ok = header == seq;
    if (every_byte) {
        const std::byte want = pattern_of(seq);
        std::byte diff{0};
        for (std::size_t i = kHeader; i < data.size(); ++i) diff |= data[i] ^ want;
        ok = ok && diff == std::byte{0};
    }
    return ok;
}

inline std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("model name", 0) == 0) {
            const auto colon = line.find(':');
            if (colon != std::string::npos) {
                auto start = line.find_first_not_of(" \t", colon + 1);
                return start == std::string::npos ? "" : line.substr(start);
            }
        }
    }
    return "unknown";
}

inline std::string json_string(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
                    out += buf;
                } else {
                    out += c;
                }
        }
    }
    return out + "\"";
}

inline std::string fmt(const char* format, double value) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), format, value);
    return buf;
}

/// Nearest-rank percentile `q` (0..1] of sorted `values`; 0 if there are none.
inline std::uint64_t percentile(const std::vector<std::uint64_t>& sorted, double q) noexcept {
    if (sorted.empty()) return 0;
    const double n = static_cast<double>(sorted.size());
    auto rank = static_cast<std::size_t>(std::ceil(q * n));
    rank = std::clamp<std::size_t>(rank, 1, sorted.size());
    return sorted[rank - 1];
}

}  // namespace bench
