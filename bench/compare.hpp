// SPDX-License-Identifier: Apache-2.0
// The comparison harness: the same ping-pong, fixed-rate and streaming runs for every
// system (the raw floor, ipcbus, and the peers in bench/peers/), so their rows are
// comparable. A program lists its systems and calls compare_main(); scripts/bench.sh
// collects the rows of every program and prints one table.
//
// Each row forks side A (pinger / sender, first CPU) and side B (echoer / receiver(s),
// second CPU); both open their ends of the system in the child itself (nothing is shared
// across fork but an anonymous MAP_SHARED mapping). A system is a "link" class with
//   void sync();                 after both sides opened (e.g. wait for a subscription)
//   void send(std::uint64_t k);  writes message k (header: 8-byte sequence number only;
//                                touch: every byte) and sends it; waits if the queue is full
//   void receive(std::uint64_t k);  waits for the next message, checks it is message k
//                                (header: the sequence number; touch: every byte), fail()s
//                                otherwise
//
// Runs, per payload size and mode:
//   pingpong  A sends k, waits for the answer(s); one-way = RTT / 2; every sample kept.
//   fixed     the same at a fixed rate (100 kHz): send k is scheduled at start + k*period
//             and its latency is measured from the scheduled time, so a slow round trip
//             delays (and is charged to) the ones after it: no coordinated omission.
//   stream    A sends N messages back to back, B checks each and answers the last one;
//             rate = N / (first send -> last answer). Every system is lossless here: it
//             makes the sender wait when the receiver is behind.
//
// Output: one tab-separated line per row on stdout (see print_row), progress on stderr.
#pragma once

#include <atomic>
#include <charconv>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "harness.hpp"

namespace bench::compare {

enum class Run : std::uint8_t { pingpong, fixed, stream };
enum class Role : std::uint8_t { a, b };

inline const char* to_string(Run run) noexcept {
    switch (run) {
        case Run::pingpong:
            return "pingpong";
        case Run::fixed:
            return "fixed";
        case Run::stream:
            return "stream";
    }
    return "?";
}

/// One row's parameters.
struct Case {
    std::size_t size = 64;  // payload bytes
    bool touch = false;     // every byte written and read (else the 8-byte header only)
    Run run = Run::pingpong;
    std::uint64_t count = 0;   // recorded round trips, or messages streamed
    std::uint64_t warmup = 0;  // unrecorded round trips first (latency runs)
    std::uint32_t slots = 64;  // queue depth every system gets for this size
    double rate_hz = 100'000;  // fixed runs
};

/// Handshake and results: one anonymous MAP_SHARED mapping made before the forks.
struct Shared {
    alignas(64) std::atomic<std::uint32_t> opened;
    alignas(64) std::atomic<std::uint32_t> synced;
    alignas(64) ChildReport reports[kMaxChildren];
    alignas(64) std::uint64_t elapsed_ticks;  // A: latency runs: the whole run; stream: N msgs
};

/// What a side's child gets: which end it is, the row, and where to put results.
struct Endpoint {
    Role role = Role::a;
    std::size_t peer = 0;   // B's index (0 for A)
    std::size_t peers = 1;  // number of B processes
    Case c;
    std::string tag;          // unique per row and program run: names, paths, topics
    void* scratch = nullptr;  // the system's own pre-fork shared memory, if it asked for any
    Shared* shared = nullptr;
    std::uint64_t* samples = nullptr;  // A: round-trip ticks, c.count of them
    std::uint64_t period_ticks = 0;    // fixed runs
};

/// A system under test.
struct System {
    std::string key;
    std::string label;
    std::size_t peers = 1;  // B processes (subscribers)
    /// Runs in each child: opens the link for `ep` and calls drive(link, ep).
    std::function<void(Endpoint&)> side;
    /// Optional: bytes of anonymous shared memory the parent maps before the forks.
    std::function<std::size_t(const Case&)> scratch_bytes;
    /// Optional: runs in the parent before and after each row (e.g. unlink names).
    std::function<void(const std::string& tag)> cleanup;
    /// False: runs only when named with --systems (rows for a particular question).
    bool by_default = true;
};

inline void barrier(std::atomic<std::uint32_t>& counter, std::uint32_t parties) {
    counter.fetch_add(1, std::memory_order_acq_rel);  // pairs with the loads below
    Waiter waiter(nullptr);
    while (counter.load(std::memory_order_acquire) < parties) waiter.pause();
}

/// The measured loops, the same for every system. Runs in a child.
template <class Link>
void drive(Link& link, Endpoint& ep) {
    const auto parties = static_cast<std::uint32_t>(ep.peers + 1);
    barrier(ep.shared->opened, parties);
    link.sync();
    barrier(ep.shared->synced, parties);
    const Case& c = ep.c;
    const std::uint64_t total = c.run == Run::stream ? c.count : c.warmup + c.count;
    if (ep.role == Role::b) {
        if (c.run == Run::stream) {
            for (std::uint64_t k = 0; k < total; ++k) link.receive(k);
            link.send(total - 1);
        } else {
            for (std::uint64_t k = 0; k < total; ++k) {
                link.receive(k);
                link.send(k);
            }
        }
        return;
    }
    if (c.run == Run::stream) {
        const std::uint64_t t0 = TickClock::now();
        for (std::uint64_t k = 0; k < total; ++k) link.send(k);
        for (std::size_t p = 0; p < ep.peers; ++p) link.receive(total - 1);
        ep.shared->elapsed_ticks = TickClock::now() - t0;
        return;
    }
    const std::uint64_t start = TickClock::now() + ep.period_ticks;
    for (std::uint64_t k = 0; k < total; ++k) {
        std::uint64_t t0 = 0;
        if (c.run == Run::fixed) {
            t0 = start + k * ep.period_ticks;
            while (TickClock::now() < t0) cpu_relax();
        } else {
            t0 = TickClock::now();
        }
        link.send(k);
        for (std::size_t p = 0; p < ep.peers; ++p) link.receive(k);
        const std::uint64_t t1 = TickClock::now();
        if (k >= c.warmup) ep.samples[k - c.warmup] = t1 - t0;
    }
    ep.shared->elapsed_ticks = TickClock::now() - start;
}

/// Spins on `ready()` with the harness's Waiter (pause; yield and stall check now and then).
template <class Ready>
void spin_until(Ready&& ready) {
    Waiter waiter(nullptr);
    while (!ready()) waiter.pause();
}

/// Checks message `k` in `data` per the mode, and fails with `what` if it is wrong.
inline void expect_payload(std::span<const std::byte> data, std::size_t size, std::uint64_t k,
                           bool touch, const char* what) {
    if (data.size() != size || !check_payload(data, k, touch)) {
        fail(std::string(what) + ": message " + std::to_string(k) + " damaged or out of order");
    }
}

// ---------------------------------------------------------------------------------------
// Rows and the program's main
// ---------------------------------------------------------------------------------------

struct Options {
    std::vector<std::size_t> sizes{64, 4096, 1U << 20, 8U << 20};
    std::vector<bool> modes{false, true};  // touch?
    std::vector<Run> runs{Run::pingpong, Run::fixed, Run::stream};
    std::vector<std::string> systems;  // empty: all
    double scale = 1.0;                // multiplies every count
};

/// Default counts per size: enough samples for a stable p99.9 where a round trip is
/// cheap, fewer where one moves megabytes (the whole table must fit in a few minutes).
inline Case make_case(std::size_t size, bool touch, Run run, double scale) {
    Case c;
    c.size = size;
    c.touch = touch;
    c.run = run;
    std::uint64_t latency = 20'000;
    std::uint64_t stream = 200'000;
    c.slots = 64;
    if (size > 64 * 1024) {
        latency = 1'000;
        stream = 2'000;
        c.slots = 16;
    }
    if (size > 2 * 1024 * 1024) {
        latency = 200;
        stream = 200;
        c.slots = 8;
    }
    const auto scaled = [&](std::uint64_t n) {
        return std::max<std::uint64_t>(10,
                                       static_cast<std::uint64_t>(static_cast<double>(n) * scale));
    };
    c.count = scaled(run == Run::stream ? stream : latency);
    c.warmup = run == Run::stream ? 0 : std::max<std::uint64_t>(5, c.count / 10);
    return c;
}

/// Runs one row: forks A and B (pinned), waits for them, prints the row.
inline void run_row(const System& system, const Case& c, const std::string& tag, TickClock& clock,
                    const std::vector<int>& cpus) {
    AnonymousSharedMemory shared_memory(sizeof(Shared));
    auto* shared = ::new (shared_memory.get()) Shared{};
    AnonymousSharedMemory sample_memory(std::max<std::size_t>(1, c.count) * sizeof(std::uint64_t));
    std::optional<AnonymousSharedMemory> scratch;
    if (system.scratch_bytes) scratch.emplace(system.scratch_bytes(c));
    if (system.cleanup) system.cleanup(tag);

    Endpoint ep;
    ep.peers = system.peers;
    ep.c = c;
    ep.tag = tag;
    ep.scratch = scratch ? scratch->get() : nullptr;
    ep.shared = shared;
    ep.samples = static_cast<std::uint64_t*>(sample_memory.get());
    ep.period_ticks = static_cast<std::uint64_t>(1e9 / c.rate_hz / clock.ns_per_tick());
    const int cpu_a = cpus.size() >= 2 ? cpus[0] : -1;
    const int cpu_b = cpus.size() >= 2 ? cpus[1] : -1;
    {
        Children children(shared->reports);
        for (std::size_t p = 0; p < system.peers; ++p) {
            children.spawn(cpu_b, [&](std::size_t) {
                Endpoint mine = ep;
                mine.role = Role::b;
                mine.peer = p;
                system.side(mine);
                return 0;
            });
        }
        children.spawn(cpu_a, [&](std::size_t) {
            Endpoint mine = ep;
            mine.role = Role::a;
            system.side(mine);
            return 0;
        });
        children.wait_all();
    }
    if (system.cleanup) system.cleanup(tag);

    const double npt = clock.ns_per_tick();
    const double elapsed_s = static_cast<double>(shared->elapsed_ticks) * npt / 1e9;
    std::vector<double> q(5, 0.0);
    double rate = 0;
    double gbps = 0;
    std::uint64_t samples = 0;
    if (c.run == Run::stream) {
        rate = static_cast<double>(c.count) / elapsed_s;
        gbps = rate * static_cast<double>(c.size) / 1e9;
    } else {
        std::vector<std::uint64_t> rtt(ep.samples, ep.samples + c.count);
        std::sort(rtt.begin(), rtt.end());
        const double qs[] = {0.50, 0.90, 0.99, 0.999, 1.0};
        for (std::size_t i = 0; i < 5; ++i) {
            q[i] = static_cast<double>(percentile(rtt, qs[i])) * npt / 2.0;  // one-way
        }
        samples = rtt.size();
        rate = static_cast<double>(c.warmup + c.count) / elapsed_s;  // round trips per second
    }
    // row  system label peers size mode run samples p50 p90 p99 p99.9 max rate_hz GB/s
    std::printf("row\t%s\t%s\t%zu\t%zu\t%s\t%s\t%llu\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.4f\n",
                system.key.c_str(), system.label.c_str(), system.peers, c.size,
                c.touch ? "touch" : "header", to_string(c.run),
                static_cast<unsigned long long>(samples), q[0], q[1], q[2], q[3], q[4], rate, gbps);
    std::fflush(stdout);
}

template <class T, class Parse>
std::vector<T> split_list(std::string_view text, Parse parse) {
    std::vector<T> out;
    while (!text.empty()) {
        const auto comma = text.find(',');
        out.push_back(parse(text.substr(0, comma)));
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
    }
    return out;
}

inline std::size_t parse_size(std::string_view text) {
    std::size_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
    if (unit == "K" || unit == "KiB") {
        value <<= 10;
    } else if (unit == "M" || unit == "MiB") {
        value <<= 20;
    } else if (!unit.empty()) {
        fail("bad size: " + std::string(text));
    }
    if (ec != std::errc{} || value < kHeader) fail("bad size: " + std::string(text));
    return value;
}

inline int usage(const char* program, int rc) {
    std::fprintf(rc == 0 ? stdout : stderr,
                 "usage: %s [--sizes 64,4K,1M,8M] [--modes header,touch]\n"
                 "          [--runs pingpong,fixed,stream] [--systems KEY,...] [--scale F]\n"
                 "          [--quick] [--list]\n"
                 "Prints one tab-separated line per row (scripts/bench.sh makes the table).\n",
                 program);
    return rc;
}

/// The program: parses the options, runs every selected row of every system.
inline int compare_main(int argc, char** argv, const std::vector<System>& systems) {
    Options o;
    try {
        for (int i = 1; i < argc; ++i) {
            const std::string_view arg = argv[i];
            const bool has_value = i + 1 < argc;
            if (arg == "--sizes" && has_value) {
                o.sizes = split_list<std::size_t>(argv[++i], parse_size);
            } else if (arg == "--modes" && has_value) {
                o.modes = split_list<bool>(argv[++i], [](std::string_view m) {
                    if (m != "header" && m != "touch") fail("bad mode: " + std::string(m));
                    return m == "touch";
                });
            } else if (arg == "--runs" && has_value) {
                o.runs = split_list<Run>(argv[++i], [](std::string_view r) {
                    if (r == "pingpong") return Run::pingpong;
                    if (r == "fixed") return Run::fixed;
                    if (r == "stream") return Run::stream;
                    fail("bad run: " + std::string(r));
                });
            } else if (arg == "--systems" && has_value) {
                o.systems = split_list<std::string>(
                    argv[++i], [](std::string_view s) { return std::string(s); });
            } else if (arg == "--scale" && has_value) {
                o.scale = std::stod(argv[++i]);
                if (!(o.scale > 0)) fail("--scale must be positive");
            } else if (arg == "--quick") {
                o.scale = 0.01;
            } else if (arg == "--list") {
                for (const auto& s : systems)
                    std::printf("%s\t%s\n", s.key.c_str(), s.label.c_str());
                return 0;
            } else if (arg == "--help" || arg == "-h") {
                return usage(argv[0], 0);
            } else {
                std::fprintf(stderr, "unknown argument: %s\n", argv[i]);
                return usage(argv[0], 2);
            }
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return usage(argv[0], 2);
    }

    install_interrupt_handlers();
    const auto cpus = allowed_cpus();
    if (cpus.size() < 2) std::fprintf(stderr, "warning: fewer than 2 CPUs: sides not pinned\n");
    TickClock clock;
    clock.calibrate(100'000'000ULL);
    std::size_t row = 0;
    try {
        for (const auto& system : systems) {
            const bool named =
                std::find(o.systems.begin(), o.systems.end(), system.key) != o.systems.end();
            if (o.systems.empty() ? !system.by_default : !named) continue;
            for (const std::size_t size : o.sizes) {
                for (const bool touch : o.modes) {
                    for (const Run run : o.runs) {
                        if (g_interrupted != 0) fail("interrupted");
                        const Case c = make_case(size, touch, run, o.scale);
                        std::fprintf(stderr, "  %-14s %8zu B %-6s %-8s\n", system.key.c_str(), size,
                                     touch ? "touch" : "header", to_string(run));
                        run_row(system, c, std::to_string(::getpid()) + "-" + std::to_string(row++),
                                clock, cpus);
                    }
                }
            }
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: error: %s\n", argv[0], e.what());
        return 1;
    }
    return 0;
}

}  // namespace bench::compare
