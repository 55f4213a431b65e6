// ipcbus_bench_latency: cross-process latency and throughput of ipcbus, measured in the
// same run as raw shared-memory floors so every number comes with its ratio to what the
// hardware can do at best.
//
//   latency   ping-pong between two processes pinned to two CPUs; one-way = RTT / 2.
//             raw floor: one cache line bounced with an atomic sequence number;
//             ipcbus: a "ping" and a "pong" topic, 64 B, 4 KiB (every byte written and
//             read back), 1 MiB zero-copy (only an 8-byte header written and read).
//   throughput  one publisher, N messages of 64 B as fast as possible (overwrite mode);
//             raw SPSC ring baseline, then ipcbus with 1 and with 4 subscriber processes.
//
// Every latency sample is kept; the table shows percentiles, never averages.
// Usage: ipcbus_bench_latency [--json] [--quick] [--samples N] [--messages N]

#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <functional>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ipcbus/ipcbus.hpp"

namespace {

// ---------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------

struct Config {
    bool json = false;
    bool quick = false;
    std::size_t samples = 100'000;       // recorded round trips per latency row
    std::size_t warmup = 10'000;         // unrecorded round trips before them
    std::uint64_t messages = 5'000'000;  // per throughput row
    std::size_t many_subscribers = 4;
};

constexpr std::size_t kSmall = 64;
constexpr std::size_t kPageSize = 4096;
constexpr std::size_t kHuge = 1024 * 1024;
constexpr std::size_t kHeader = sizeof(std::uint64_t);  // sequence number at offset 0
constexpr std::uint32_t kLatencyCapacity = 64;          // slots of the ping/pong rings
constexpr std::uint32_t kHugeCapacity = 16;             // 16 x 1 MiB per 1 MiB topic
constexpr std::uint32_t kThroughputCapacity = 1024;     // slots of the throughput rings
constexpr std::size_t kMaxChildren = 8;
// A single wait that makes no progress for this long means the peer is stuck.
constexpr std::uint64_t kStallLimitNs = 60'000'000'000ULL;

// Set by SIGINT/SIGTERM in the harness process: it stops at its next check and cleans up.
volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void on_interrupt(int) {
    g_interrupted = 1;
}

void install_interrupt_handlers() {
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, nullptr);
    ::sigaction(SIGTERM, &action, nullptr);
}

struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

[[noreturn]] void fail(const std::string& what) {
    throw Failure(what);
}

// ---------------------------------------------------------------------------------------
// Clocks
// ---------------------------------------------------------------------------------------

std::uint64_t monotonic_ns() noexcept {
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

/// The publishing thread's wall clock, CPU time and involuntary context switches: the
/// publisher's rate is wall-clock, and on a shared machine the other two tell how much of
/// that wall time it actually ran.
struct RunMark {
    std::uint64_t wall_ns;
    std::uint64_t cpu_ns;
    long preempted;

    static RunMark now() noexcept {
        RunMark m{};
        timespec ts{};
        ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        m.cpu_ns = static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
                   static_cast<std::uint64_t>(ts.tv_nsec);
        rusage usage{};
        ::getrusage(RUSAGE_THREAD, &usage);
        m.preempted = usage.ru_nivcsw;
        m.wall_ns = monotonic_ns();
        return m;
    }
};

// ---------------------------------------------------------------------------------------
// Shared memory for the harness itself (created before fork, inherited by children)
// ---------------------------------------------------------------------------------------

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

/// Start-up handshake and results, in one anonymous MAP_SHARED page set.
struct Control {
    alignas(64) std::atomic<std::uint32_t> ready;
    // The raw latency floor: the only cache line the two processes bounce.
    alignas(64) std::atomic<std::uint64_t> floor_word;
    alignas(64) ChildReport reports[kMaxChildren];

    void reset() noexcept {
        ready.store(0, std::memory_order_relaxed);
        floor_word.store(0, std::memory_order_relaxed);
        for (auto& r : reports) r = ChildReport{};
    }
};

/// The raw throughput baseline's slot: one cache line, sequence word + payload.
struct alignas(64) RawSlot {
    std::atomic<std::uint64_t> seq;  // sequence + 1 of the message in the slot; 0 = empty
    std::byte payload[64 - sizeof(std::uint64_t)];
};
static_assert(sizeof(RawSlot) == 64);

// ---------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------

std::vector<int> allowed_cpus() {
    std::vector<int> cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
    }
    return cpus;
}

bool pin_to_cpu(int cpu) {
    if (cpu < 0) return false;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return ::sched_setaffinity(0, sizeof(set), &set) == 0;
}

void copy_error(ChildReport& report, std::string_view text) noexcept {
    const std::size_t n = std::min(text.size(), sizeof(report.error) - 1);
    std::memcpy(report.error, text.data(), n);
    report.error[n] = '\0';
}

/// The child processes of one measurement. Kills and reaps whatever is left when it goes
/// out of scope (e.g. when the measurement failed).
class Children {
  public:
    explicit Children(Control& control) : control_(control) {}
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
                    copy_error(control_.reports[index], "cannot pin child to its CPU");
                } else {
                    rc = body(index);
                }
            } catch (const std::exception& e) {
                copy_error(control_.reports[index], e.what());
                rc = 1;
            } catch (...) {
                copy_error(control_.reports[index], "unknown exception");
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
        const char* error = control_.reports[c.index].error;
        if (error[0] != '\0') text += " (" + std::string(error) + ")";
        return text;
    }

    Control& control_;
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

void wait_ready(Control& control, std::uint32_t count, Children* children) {
    Waiter waiter(children);
    while (control.ready.load(std::memory_order_acquire) < count) waiter.pause();
}

// ---------------------------------------------------------------------------------------
// Payloads: the sequence number in the first 8 bytes, the rest a byte pattern
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// ipcbus helpers
// ---------------------------------------------------------------------------------------

template <class T>
T must(ipcbus::Result<T> result, std::string_view what) {
    if (!result) fail(std::string(what) + ": " + result.error().message);
    return std::move(result).value();
}

ipcbus::Node make_node(const std::string& domain) {
    ipcbus::NodeOptions options;
    options.domain = domain;
    return must(ipcbus::Node::create(options), "node");
}

/// Polls `sub` until it yields a message (zero-copy).
ipcbus::RawSample take_next(ipcbus::RawSubscriber& sub, Children* children) {
    Waiter waiter(children);
    for (;;) {
        auto got = sub.take();
        if (!got) fail(std::string("take: ") + std::string(ipcbus::to_string(got.error())));
        if (got->has_value()) return std::move(**got);
        waiter.pause();
    }
}

// ---------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------

struct LatencyRow {
    std::string key;    // for JSON
    std::string label;  // for humans
    std::size_t payload = 0;
    std::size_t samples = 0;
    double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;  // one-way, ns
};

/// Sorts the round-trip times (ticks) and fills in one-way percentiles (nearest rank).
LatencyRow summarize(std::string key, std::string label, std::size_t payload,
                     std::vector<std::uint64_t>& rtt_ticks, double ns_per_tick) {
    std::sort(rtt_ticks.begin(), rtt_ticks.end());
    LatencyRow row{std::move(key), std::move(label), payload, rtt_ticks.size()};
    if (rtt_ticks.empty()) return row;
    const auto one_way = [&](double q) {
        const double n = static_cast<double>(rtt_ticks.size());
        auto rank = static_cast<std::size_t>(std::ceil(q * n));
        rank = std::clamp<std::size_t>(rank, 1, rtt_ticks.size());
        return static_cast<double>(rtt_ticks[rank - 1]) * ns_per_tick / 2.0;
    };
    row.p50 = one_way(0.50);
    row.p90 = one_way(0.90);
    row.p99 = one_way(0.99);
    row.p999 = one_way(0.999);
    row.max = static_cast<double>(rtt_ticks.back()) * ns_per_tick / 2.0;
    return row;
}

struct ThroughputRow {
    std::string key;
    std::string label;
    std::size_t subscribers = 0;
    std::uint64_t messages = 0;
    double seconds = 0;
    double rate = 0;      // publisher's messages per second (wall clock)
    double cpu_rate = 0;  // publisher's messages per second of its own CPU time
    long preempted = 0;   // publisher's involuntary context switches during the run
    std::vector<ChildReport> reports;
};

void set_rates(ThroughputRow& row, const RunMark& t0, const RunMark& t1) {
    const auto n = static_cast<double>(row.messages);
    row.seconds = static_cast<double>(t1.wall_ns - t0.wall_ns) / 1e9;
    row.rate = n / row.seconds;
    row.cpu_rate = n / (static_cast<double>(t1.cpu_ns - t0.cpu_ns) / 1e9);
    row.preempted = t1.preempted - t0.preempted;
}

// ---------------------------------------------------------------------------------------
// The measurements
// ---------------------------------------------------------------------------------------

struct Env {
    Config config;
    Control* control = nullptr;
    std::string domain;
    int cpu_main = -1;  // this process (publisher, pinger)
    int cpu_peer = -1;  // the other process(es)
    TickClock clock;
};

/// Raw floor: one cache line, A writes 2k+1, B answers 2k+2.
std::vector<std::uint64_t> measure_floor(Env& env) {
    Control& control = *env.control;
    control.reset();
    const std::uint64_t total = env.config.warmup + env.config.samples;
    Children children(control);
    children.spawn(env.cpu_peer, [&](std::size_t) {
        control.ready.fetch_add(1, std::memory_order_release);
        for (std::uint64_t k = 0; k < total; ++k) {
            const std::uint64_t want = 2 * k + 1;
            Waiter waiter(nullptr);
            while (control.floor_word.load(std::memory_order_acquire) != want) waiter.pause();
            control.floor_word.store(want + 1, std::memory_order_release);
        }
        return 0;
    });

    std::vector<std::uint64_t> rtt;
    rtt.reserve(env.config.samples);
    control.ready.fetch_add(1, std::memory_order_release);
    wait_ready(control, 2, &children);
    for (std::uint64_t k = 0; k < total; ++k) {
        const std::uint64_t t0 = TickClock::now();
        control.floor_word.store(2 * k + 1, std::memory_order_release);
        Waiter waiter(&children);
        while (control.floor_word.load(std::memory_order_acquire) != 2 * k + 2) waiter.pause();
        const std::uint64_t t1 = TickClock::now();
        if (k >= env.config.warmup) rtt.push_back(t1 - t0);
    }
    children.wait_all();
    return rtt;
}

/// ipcbus ping-pong over two raw topics of `payload` bytes. `every_byte`: the sender
/// writes, and the receiver checks, every byte; otherwise only the 8-byte header (the
/// zero-copy case: the message stays where the sender built it).
std::vector<std::uint64_t> measure_ipcbus_pingpong(Env& env, std::size_t payload, bool every_byte) {
    Control& control = *env.control;
    control.reset();
    const std::uint64_t total = env.config.warmup + env.config.samples;
    const std::string ping = "bench/ping-" + std::to_string(payload);
    const std::string pong = "bench/pong-" + std::to_string(payload);
    ipcbus::TopicOptions options;
    options.slot_size = payload;
    options.capacity = payload >= kHuge ? kHugeCapacity : kLatencyCapacity;

    Children children(control);
    children.spawn(env.cpu_peer, [&](std::size_t index) {
        const ipcbus::Node node = make_node(env.domain);
        auto ping_sub = must(ipcbus::RawSubscriber::create(node, ping, options), "ping sub");
        auto pong_pub = must(ipcbus::RawPublisher::create(node, pong, options), "pong pub");
        // Our subscriber is attached: the pinger may start.
        control.ready.fetch_add(1, std::memory_order_release);
        for (std::uint64_t k = 0; k < total; ++k) {
            {
                const ipcbus::RawSample in = take_next(ping_sub, nullptr);
                const bool ok = check_payload(in.data(), k, every_byte);
                if (!ok || in.overwritten() || in.data().size() != payload) {
                    ++control.reports[index].bad;
                    fail("ping " + std::to_string(k) + " arrived damaged or out of order");
                }
            }
            auto out = pong_pub.loan(payload);
            if (!out) fail(std::string("loan: ") + std::string(ipcbus::to_string(out.error())));
            fill_payload(out->data(), k, every_byte);
            pong_pub.publish(std::move(*out));
        }
        return 0;
    });

    std::vector<std::uint64_t> rtt;
    rtt.reserve(env.config.samples);
    {
        const ipcbus::Node node = make_node(env.domain);
        auto ping_pub = must(ipcbus::RawPublisher::create(node, ping, options), "ping pub");
        auto pong_sub = must(ipcbus::RawSubscriber::create(node, pong, options), "pong sub");
        control.ready.fetch_add(1, std::memory_order_release);
        wait_ready(control, 2, &children);
        for (std::uint64_t k = 0; k < total; ++k) {
            const std::uint64_t t0 = TickClock::now();
            auto out = ping_pub.loan(payload);
            if (!out) fail(std::string("loan: ") + std::string(ipcbus::to_string(out.error())));
            fill_payload(out->data(), k, every_byte);
            ping_pub.publish(std::move(*out));
            const ipcbus::RawSample in = take_next(pong_sub, &children);
            const bool ok = check_payload(in.data(), k, every_byte) && !in.overwritten() &&
                            in.data().size() == payload;
            const std::uint64_t t1 = TickClock::now();
            if (!ok) fail("pong " + std::to_string(k) + " arrived damaged or out of order");
            if (k >= env.config.warmup) rtt.push_back(t1 - t0);
        }
        children.wait_all();
    }  // our publisher and subscriber detach here; the last one out removes the segments
    return rtt;
}

/// Raw SPSC ring in shared memory: the producer writes the payload, then stores the
/// sequence (release); it never waits (like overwrite mode). The consumer polls.
ThroughputRow measure_raw_ring(Env& env) {
    Control& control = *env.control;
    control.reset();
    const std::uint64_t n = env.config.messages;
    constexpr std::uint64_t capacity = kThroughputCapacity;
    constexpr std::uint64_t mask = capacity - 1;
    AnonymousSharedMemory memory(capacity * sizeof(RawSlot));
    auto* ring = static_cast<RawSlot*>(memory.get());
    for (std::uint64_t i = 0; i < capacity; ++i) {
        auto* slot = ::new (static_cast<void*>(ring + i)) RawSlot;
        slot->seq.store(0, std::memory_order_relaxed);
    }

    Children children(control);
    children.spawn(env.cpu_peer, [&](std::size_t index) {
        ChildReport& report = control.reports[index];
        control.ready.fetch_add(1, std::memory_order_release);
        std::byte copy[sizeof(RawSlot::payload)];
        std::uint64_t next = 0;
        Waiter waiter(nullptr);
        while (next < n) {
            RawSlot& slot = ring[next & mask];
            const std::uint64_t seen = slot.seq.load(std::memory_order_acquire);
            if (seen == next + 1) {
                std::memcpy(copy, slot.payload, sizeof(copy));
                if (check_payload(copy, next, true)) {
                    ++report.received;
                } else {
                    ++report.bad;  // torn: this minimal ring has no overwrite detection
                }
                ++next;
                waiter = Waiter(nullptr);
            } else if (seen > next + 1) {
                // Lapped: the slot holds a later lap; jump to the oldest message that can
                // still be in the ring.
                const std::uint64_t oldest = seen - capacity;
                report.lost += oldest - next;
                next = oldest;
            } else {
                waiter.pause();
            }
        }
        return 0;
    });

    control.ready.fetch_add(1, std::memory_order_release);
    wait_ready(control, 2, &children);
    const RunMark t0 = RunMark::now();
    for (std::uint64_t i = 0; i < n; ++i) {
        RawSlot& slot = ring[i & mask];
        fill_payload(slot.payload, i, true);
        slot.seq.store(i + 1, std::memory_order_release);
    }
    const RunMark t1 = RunMark::now();
    children.wait_all();

    ThroughputRow row;
    row.key = "raw_ring";
    row.label = "raw SPSC ring, 1 consumer";
    row.subscribers = 1;
    row.messages = n;
    set_rates(row, t0, t1);
    row.reports.push_back(control.reports[0]);
    return row;
}

/// ipcbus: one publisher (this process) and `subscribers` subscriber processes, 64 B.
ThroughputRow measure_ipcbus_throughput(Env& env, std::size_t subscribers) {
    Control& control = *env.control;
    control.reset();
    const std::uint64_t n = env.config.messages;
    const std::string topic = "bench/tput-" + std::to_string(subscribers);
    ipcbus::TopicOptions options;
    options.slot_size = kSmall;
    options.capacity = kThroughputCapacity;

    Children children(control);
    for (std::size_t s = 0; s < subscribers; ++s) {
        children.spawn(env.cpu_peer, [&](std::size_t index) {
            ChildReport& report = control.reports[index];
            const ipcbus::Node node = make_node(env.domain);
            auto sub = must(ipcbus::RawSubscriber::create(node, topic, options), "subscriber");
            const std::uint64_t start = sub.next_sequence();
            control.ready.fetch_add(1, std::memory_order_release);
            alignas(64) std::byte copy[kSmall];
            Waiter waiter(nullptr);
            while (sub.next_sequence() - start < n) {
                auto got = sub.take_copy(copy);
                if (!got)
                    fail(std::string("take_copy: ") + std::string(ipcbus::to_string(got.error())));
                if (got->has_value()) {
                    const ipcbus::SampleInfo& info = **got;
                    const std::span<const std::byte> data(copy, info.size);
                    if (info.size == kSmall && check_payload(data, info.sequence, true)) {
                        ++report.received;
                    } else {
                        ++report.bad;
                    }
                    waiter = Waiter(nullptr);
                } else {
                    waiter.pause();
                }
            }
            report.lost = sub.lost();
            report.skipped = sub.skipped();
            return 0;
        });
    }

    ThroughputRow row;
    row.key = "ipcbus_" + std::to_string(subscribers) + "sub";
    row.label = "ipcbus, " + std::to_string(subscribers) +
                (subscribers == 1 ? " subscriber" : " subscribers");
    row.subscribers = subscribers;
    row.messages = n;
    {
        const ipcbus::Node node = make_node(env.domain);
        auto pub = must(ipcbus::RawPublisher::create(node, topic, options), "publisher");
        wait_ready(control, static_cast<std::uint32_t>(subscribers), &children);
        const RunMark t0 = RunMark::now();
        for (std::uint64_t i = 0; i < n; ++i) {
            auto loan = pub.loan(kSmall);
            if (!loan) fail(std::string("loan: ") + std::string(ipcbus::to_string(loan.error())));
            fill_payload(loan->data(), loan->sequence(), true);
            pub.publish(std::move(*loan));
        }
        const RunMark t1 = RunMark::now();
        set_rates(row, t0, t1);
        children.wait_all();
    }
    for (std::size_t s = 0; s < subscribers; ++s) row.reports.push_back(control.reports[s]);
    return row;
}

// ---------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------

std::string cpu_model() {
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

std::string json_string(std::string_view text) {
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

std::string fmt(const char* format, double value) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), format, value);
    return buf;
}

struct Target {
    std::string key;
    std::string text;
    double value;      // measured ratio
    double threshold;  // what the issue asks for
    bool at_most;      // value <= threshold (else >=)
    [[nodiscard]] bool met() const { return at_most ? value <= threshold : value >= threshold; }
};

struct Results {
    std::string cpu;
    std::size_t cpus = 0;
    double tick_mhz = 0;
    std::vector<LatencyRow> latency;
    std::vector<ThroughputRow> throughput;
    std::vector<Target> targets;
};

const LatencyRow* find_latency(const Results& r, std::string_view key) {
    for (const auto& row : r.latency) {
        if (row.key == key) return &row;
    }
    return nullptr;
}
const ThroughputRow* find_throughput(const Results& r, std::string_view key) {
    for (const auto& row : r.throughput) {
        if (row.key == key) return &row;
    }
    return nullptr;
}

void compute_targets(Results& r, const Config& config) {
    const LatencyRow* floor = find_latency(r, "raw_floor");
    const LatencyRow* small = find_latency(r, "ipcbus_64B");
    const LatencyRow* huge = find_latency(r, "ipcbus_1MiB_zero_copy");
    if (floor != nullptr && small != nullptr && floor->p50 > 0) {
        r.targets.push_back({"latency_64B_p50", "64 B one-way p50 <= 1.5x raw floor p50",
                             small->p50 / floor->p50, 1.5, true});
    }
    if (floor != nullptr && huge != nullptr && floor->p50 > 0) {
        r.targets.push_back({"latency_1MiB_p50", "1 MiB zero-copy one-way p50 <= 1.5x floor",
                             huge->p50 / floor->p50, 1.5, true});
    }
    const ThroughputRow* raw = find_throughput(r, "raw_ring");
    const ThroughputRow* one = find_throughput(r, "ipcbus_1sub");
    const ThroughputRow* many =
        find_throughput(r, "ipcbus_" + std::to_string(config.many_subscribers) + "sub");
    if (raw != nullptr && one != nullptr && raw->rate > 0) {
        r.targets.push_back({"throughput_1sub", "64 B, 1 subscriber >= 0.5x raw ring rate",
                             one->rate / raw->rate, 0.5, false});
    }
    if (one != nullptr && many != nullptr && one->rate > 0) {
        r.targets.push_back({"throughput_4sub",
                             std::to_string(config.many_subscribers) +
                                 " subscribers: publisher rate >= 0.9x 1-subscriber rate",
                             many->rate / one->rate, 0.9, false});
    }
}

void print_table(const Results& r, const Env& env) {
    const Config& c = env.config;
    std::printf("ipcbus cross-process benchmark%s\n", c.quick ? " (--quick: small counts)" : "");
    std::printf("cpu: %s, %zu CPUs usable; main process on CPU %d, peer(s) on CPU %d\n",
                r.cpu.c_str(), r.cpus, env.cpu_main, env.cpu_peer);
    std::printf("timestamps: %s at %.1f MHz, calibrated against CLOCK_MONOTONIC\n",
                TickClock::kSource, r.tick_mhz);
    std::printf("latency: %zu round trips per row after %zu warm-up; one-way = RTT/2\n\n",
                c.samples, c.warmup);

    const LatencyRow* floor = find_latency(r, "raw_floor");
    std::printf("%-38s %8s %8s %8s %8s %10s %10s\n", "one-way latency [ns]", "p50", "p90", "p99",
                "p99.9", "max", "p50/floor");
    for (const auto& row : r.latency) {
        const double ratio = floor != nullptr && floor->p50 > 0 ? row.p50 / floor->p50 : 0.0;
        std::printf("%-38s %8.0f %8.0f %8.0f %8.0f %10.0f %9.2fx\n", row.label.c_str(), row.p50,
                    row.p90, row.p99, row.p999, row.max, ratio);
    }

    std::printf("\n64 B throughput, %llu messages, publisher never waits (overwrite mode)\n",
                static_cast<unsigned long long>(c.messages));
    const ThroughputRow* raw = find_throughput(r, "raw_ring");
    std::printf("%-27s %11s %7s %11s %9s   %s\n", "", "pub msgs/s", "vs raw", "per CPU-s",
                "preempted", "per subscriber: received / lost");
    for (const auto& row : r.throughput) {
        const double ratio = raw != nullptr && raw->rate > 0 ? row.rate / raw->rate : 0.0;
        std::string subs;
        for (const auto& rep : row.reports) {
            if (!subs.empty()) subs += ", ";
            subs += std::to_string(rep.received) + " / " + std::to_string(rep.lost);
            if (rep.skipped != 0) subs += " (skipped " + std::to_string(rep.skipped) + ")";
            if (rep.bad != 0) subs += " (bad " + std::to_string(rep.bad) + ")";
        }
        std::printf("%-27s %11s %6.2fx %11s %9ld   %s\n", row.label.c_str(),
                    (fmt("%.2f", row.rate / 1e6) + " M").c_str(), ratio,
                    (fmt("%.2f", row.cpu_rate / 1e6) + " M").c_str(), row.preempted, subs.c_str());
    }

    std::printf("\ntargets (measured, not asserted):\n");
    for (const auto& t : r.targets) {
        std::printf("  [%s] %-58s measured %.2fx\n", t.met() ? " met " : "MISSED", t.text.c_str(),
                    t.value);
    }
    std::printf("\nmax is a single worst sample: on a VM it is dominated by host preemption.\n");
}

void print_json(const Results& r, const Env& env) {
    const Config& c = env.config;
    std::string out = "{";
    out += "\"benchmark\":\"ipcbus_bench_latency\",";
    out += "\"quick\":" + std::string(c.quick ? "true" : "false") + ",";
    out += "\"cpu_model\":" + json_string(r.cpu) + ",";
    out += "\"cpus\":" + std::to_string(r.cpus) + ",";
    out += "\"cpu_main\":" + std::to_string(env.cpu_main) + ",";
    out += "\"cpu_peer\":" + std::to_string(env.cpu_peer) + ",";
    out += "\"clock\":" + json_string(TickClock::kSource) + ",";
    out += "\"tick_mhz\":" + fmt("%.3f", r.tick_mhz) + ",";
    out += "\"samples\":" + std::to_string(c.samples) + ",";
    out += "\"warmup\":" + std::to_string(c.warmup) + ",";
    const LatencyRow* floor = find_latency(r, "raw_floor");
    out += "\"latency_one_way_ns\":[";
    for (std::size_t i = 0; i < r.latency.size(); ++i) {
        const auto& row = r.latency[i];
        const double ratio = floor != nullptr && floor->p50 > 0 ? row.p50 / floor->p50 : 0.0;
        if (i != 0) out += ",";
        out += "{\"name\":" + json_string(row.key) +
               ",\"payload_bytes\":" + std::to_string(row.payload) +
               ",\"samples\":" + std::to_string(row.samples) + ",\"p50\":" + fmt("%.1f", row.p50) +
               ",\"p90\":" + fmt("%.1f", row.p90) + ",\"p99\":" + fmt("%.1f", row.p99) +
               ",\"p99_9\":" + fmt("%.1f", row.p999) + ",\"max\":" + fmt("%.1f", row.max) +
               ",\"p50_vs_floor\":" + fmt("%.3f", ratio) + "}";
    }
    out += "],";
    const ThroughputRow* raw = find_throughput(r, "raw_ring");
    out += "\"throughput_64B\":[";
    for (std::size_t i = 0; i < r.throughput.size(); ++i) {
        const auto& row = r.throughput[i];
        const double ratio = raw != nullptr && raw->rate > 0 ? row.rate / raw->rate : 0.0;
        if (i != 0) out += ",";
        out += "{\"name\":" + json_string(row.key) +
               ",\"subscribers\":" + std::to_string(row.subscribers) +
               ",\"messages\":" + std::to_string(row.messages) +
               ",\"seconds\":" + fmt("%.6f", row.seconds) +
               ",\"publisher_msgs_per_s\":" + fmt("%.0f", row.rate) +
               ",\"publisher_msgs_per_cpu_s\":" + fmt("%.0f", row.cpu_rate) +
               ",\"publisher_preempted\":" + std::to_string(row.preempted) +
               ",\"vs_raw_ring\":" + fmt("%.3f", ratio) + ",\"subscriber_reports\":[";
        for (std::size_t s = 0; s < row.reports.size(); ++s) {
            const auto& rep = row.reports[s];
            if (s != 0) out += ",";
            out += "{\"received\":" + std::to_string(rep.received) +
                   ",\"lost\":" + std::to_string(rep.lost) +
                   ",\"skipped\":" + std::to_string(rep.skipped) +
                   ",\"bad\":" + std::to_string(rep.bad) + "}";
        }
        out += "]}";
    }
    out += "],\"targets\":[";
    for (std::size_t i = 0; i < r.targets.size(); ++i) {
        const auto& t = r.targets[i];
        if (i != 0) out += ",";
        out += "{\"name\":" + json_string(t.key) + ",\"description\":" + json_string(t.text) +
               ",\"measured\":" + fmt("%.3f", t.value) +
               ",\"threshold\":" + fmt("%.3f", t.threshold) +
               ",\"met\":" + (t.met() ? "true" : "false") + "}";
    }
    out += "]}";
    std::printf("%s\n", out.c_str());
}

// ---------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------

void usage(std::FILE* to) {
    std::fprintf(to,
                 "usage: ipcbus_bench_latency [--json] [--quick] [--samples N] [--messages N]\n"
                 "  --json        print one JSON object instead of the table\n"
                 "  --quick       small counts (a few seconds; CI smoke run)\n"
                 "  --samples N   recorded round trips per latency row (default 100000)\n"
                 "  --messages N  messages per throughput row (default 5000000)\n");
}

std::optional<std::uint64_t> parse_count(std::string_view text) {
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || value == 0) return std::nullopt;
    return value;
}

std::optional<Config> parse_args(int argc, char** argv) {
    Config c;
    std::optional<std::uint64_t> samples;
    std::optional<std::uint64_t> messages;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--json") {
            c.json = true;
        } else if (arg == "--quick") {
            c.quick = true;
        } else if ((arg == "--samples" || arg == "--messages") && i + 1 < argc) {
            auto value = parse_count(argv[++i]);
            if (!value) {
                std::fprintf(stderr, "%s needs a positive number\n", argv[i - 1]);
                return std::nullopt;
            }
            (arg == "--samples" ? samples : messages) = value;
        } else if (arg == "--help" || arg == "-h") {
            usage(stdout);
            std::exit(0);
        } else {
            std::fprintf(stderr, "unknown argument: %s\n", argv[i]);
            usage(stderr);
            return std::nullopt;
        }
    }
    if (c.quick) {
        c.samples = 2'000;
        c.messages = 200'000;
    }
    if (samples) c.samples = *samples;
    if (messages) c.messages = *messages;
    c.warmup = std::clamp<std::size_t>(c.samples / 10, 100, 10'000);
    return c;
}

int run(Env& env) {
    Results results;
    const auto cpus = allowed_cpus();
    results.cpus = cpus.size();
    results.cpu = cpu_model();
    if (cpus.size() >= 2) {
        env.cpu_main = cpus[0];
        env.cpu_peer = cpus[1];
        if (!pin_to_cpu(env.cpu_main)) fail("cannot pin to CPU " + std::to_string(env.cpu_main));
    } else {
        std::fprintf(stderr, "warning: fewer than 2 usable CPUs; processes are not pinned\n");
    }
    env.clock.calibrate(env.config.quick ? 20'000'000ULL : 100'000'000ULL);
    results.tick_mhz = 1e3 / env.clock.ns_per_tick();

    const auto progress = [&](const char* what) {
        if (g_interrupted != 0) fail("interrupted");
        if (!env.config.json) std::fprintf(stderr, "running: %s\n", what);
    };
    const double npt = env.clock.ns_per_tick();
    {
        progress("raw floor");
        auto rtt = measure_floor(env);
        results.latency.push_back(
            summarize("raw_floor", "raw floor (1 shared cache line)", 8, rtt, npt));
    }
    {
        progress("ipcbus 64 B");
        auto rtt = measure_ipcbus_pingpong(env, kSmall, true);
        results.latency.push_back(
            summarize("ipcbus_64B", "ipcbus 64 B (all bytes written+read)", kSmall, rtt, npt));
    }
    {
        progress("ipcbus 4 KiB");
        auto rtt = measure_ipcbus_pingpong(env, kPageSize, true);
        results.latency.push_back(
            summarize("ipcbus_4KiB", "ipcbus 4 KiB (all bytes written+read)", kPageSize, rtt, npt));
    }
    {
        progress("ipcbus 1 MiB zero-copy");
        auto rtt = measure_ipcbus_pingpong(env, kHuge, false);
        results.latency.push_back(summarize(
            "ipcbus_1MiB_zero_copy", "ipcbus 1 MiB zero-copy (8 B header)", kHuge, rtt, npt));
    }
    progress("raw ring throughput");
    results.throughput.push_back(measure_raw_ring(env));
    progress("ipcbus throughput, 1 subscriber");
    results.throughput.push_back(measure_ipcbus_throughput(env, 1));
    progress("ipcbus throughput, many subscribers");
    results.throughput.push_back(measure_ipcbus_throughput(env, env.config.many_subscribers));

    // Integrity: every message is either received or counted as lost/skipped, and none
    // was damaged. (Speed is never asserted.)
    for (const auto& row : results.throughput) {
        for (const auto& rep : row.reports) {
            if (row.key != "raw_ring" &&
                (rep.bad != 0 || rep.received + rep.lost + rep.skipped != row.messages)) {
                fail(row.label + ": received " + std::to_string(rep.received) + " + lost " +
                     std::to_string(rep.lost) + " + skipped " + std::to_string(rep.skipped) +
                     " != " + std::to_string(row.messages) + " published, or " +
                     std::to_string(rep.bad) + " damaged");
            }
        }
    }

    compute_targets(results, env.config);
    if (env.config.json) {
        print_json(results, env);
    } else {
        print_table(results, env);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const auto config = parse_args(argc, argv);
    if (!config) return 2;

    AnonymousSharedMemory control_memory(sizeof(Control));
    Env env;
    env.config = *config;
    env.control = ::new (control_memory.get()) Control;
    env.control->reset();
    env.domain = "benchlat" + std::to_string(::getpid());

    install_interrupt_handlers();
    int rc = 0;
    try {
        rc = run(env);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ipcbus_bench_latency: error: %s\n", e.what());
        rc = 1;
    }

    // Segments are memfds handed out by the daemon: the kernel frees them with the last
    // process that maps them, so nothing can be left behind in /dev/shm.
    return rc;
}
