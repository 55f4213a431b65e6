// SPDX-License-Identifier: Apache-2.0
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

#include "harness.hpp"
#include "ipcbus/ipcbus.hpp"

namespace {

using namespace bench;  // NOLINT(google-build-using-namespace): the shared harness

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
constexpr std::uint32_t kLatencyCapacity = 64;       // slots of the ping/pong rings
constexpr std::uint32_t kHugeCapacity = 16;          // 16 x 1 MiB per 1 MiB topic
constexpr std::uint32_t kThroughputCapacity = 1024;  // slots of the throughput rings

// ---------------------------------------------------------------------------------------
// Clocks (TickClock: harness.hpp)
// ---------------------------------------------------------------------------------------

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
// Processes (the harness: harness.hpp)
// ---------------------------------------------------------------------------------------

void wait_ready(Control& control, std::uint32_t count, Children* children) {
    Waiter waiter(children);
    while (control.ready.load(std::memory_order_acquire) < count) waiter.pause();
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
        return static_cast<double>(percentile(rtt_ticks, q)) * ns_per_tick / 2.0;
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
    Children children(control.reports);
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

    Children children(control.reports);
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
            if (auto published = pong_pub.publish(std::move(*out)); !published) {
                fail(std::string("publish: ") + std::string(ipcbus::to_string(published.error())));
            }
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
            if (auto published = ping_pub.publish(std::move(*out)); !published) {
                fail(std::string("publish: ") + std::string(ipcbus::to_string(published.error())));
            }
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

    Children children(control.reports);
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

    Children children(control.reports);
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
            fill_payload(loan->data(), i, true);
            if (auto published = pub.publish(std::move(*loan)); !published) {
                fail(std::string("publish: ") + std::string(ipcbus::to_string(published.error())));
            }
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
