// SPDX-License-Identifier: Apache-2.0
// quickstart_subscriber: reads market ticks in place and reports what it sees.
//
//   quickstart_subscriber [--name NAME] [--topic NAME] [--seconds S]
//
// Polls (spinning briefly, then yielding the CPU), prints every 1000th tick with its
// sequence number and one-way latency, and on the publisher's last tick prints a summary:
// received, lost, and latency percentiles (also when S seconds pass first, or when every
// publisher has gone: killed before its last tick, say). Publishers arriving and leaving
// are reported as they happen (matched events: no polling).
#include <sched.h>
#include <time.h>

#include <CLI/CLI.hpp>
#include <chrono>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <vector>

#include "ipcbus/ipcbus.hpp"
#include "market_tick.hpp"

namespace {

std::uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

std::uint64_t percentile(std::vector<std::uint64_t>& v, double p) {
    if (v.empty()) return 0;
    const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
}

}  // namespace

int main(int argc, char** argv) {
    std::string name = "subscriber";
    std::string topic = "quickstart/ticks";
    double seconds = 60;
    CLI::App app{"Reads market ticks in place and reports what it sees."};
    app.add_option("--name", name, "Label of this subscriber");
    app.add_option("--topic", topic, "Topic name");
    app.add_option("--seconds", seconds, "Stop after S seconds at most")
        ->check(CLI::PositiveNumber);
    CLI11_PARSE(app, argc, argv);  // an unknown flag is an error, not ignored
    const auto end = std::chrono::steady_clock::now() +
                     std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double>(seconds));
    // Set by the matched callback (a library thread), read by the loop below; declared
    // before the subscriber, so it outlives the callback.
    std::atomic<bool> publishers_gone{false};
    auto node = ipcbus::Node::create();
    if (!node) return std::fprintf(stderr, "error: %s\n", node.error().message.c_str()), 1;
    auto sub = ipcbus::Subscriber<quickstart::MarketTick>::create(*node, topic, {4096, 0, 0});
    if (!sub) return std::fprintf(stderr, "error: %s\n", sub.error().message.c_str()), 1;
    std::printf("[%s] attached to '%s'\n", name.c_str(), topic.c_str());
    std::fflush(stdout);
    sub->set_matched_callback([&](const ipcbus::MatchedStatus& status) {
        std::printf("[%s] %s: %zu publisher(s) now\n", name.c_str(),
                    status.current_change > 0 ? "publisher arrived" : "publisher left",
                    status.current);
        std::fflush(stdout);
        // Release: pairs with the acquire load in the loop, whose take() comes after.
        publishers_gone.store(status.current == 0, std::memory_order_release);
    });

    std::vector<std::uint64_t> latencies;
    latencies.reserve(1 << 20);
    for (unsigned idle = 0;;) {
        // Read before take(): a publisher gone by then had published all it ever will.
        const bool gone = publishers_gone.load(std::memory_order_acquire);
        auto taken = sub->take();
        if (!taken)
            return std::fprintf(stderr, "error: %s\n", ipcbus::to_string(taken.error()).data()), 1;
        if (!taken->has_value()) {
            if (++idle > 200) sched_yield();  // spin a little, then let others run
            if (idle % 4096 == 0 && std::chrono::steady_clock::now() >= end) break;
            // Drained, and nobody is left to publish: a publisher that died before its
            // last tick does not keep us waiting until --seconds.
            if (gone) break;
            continue;
        }
        idle = 0;
        const auto& tick = **taken;
        const std::uint64_t latency = now_ns() - tick.info().timestamp_ns;
        if (tick->last) break;
        latencies.push_back(latency);
        if (tick.sequence() % 1000 == 0) {
            std::printf("[%s] seq=%llu %s bid=%.2f latency=%llu ns lost=%llu\n", name.c_str(),
                        static_cast<unsigned long long>(tick.sequence()), tick->symbol, tick->bid,
                        static_cast<unsigned long long>(latency),
                        static_cast<unsigned long long>(sub->lost()));
            std::fflush(stdout);
        }
    }
    const std::size_t received = latencies.size();
    std::printf(
        "[%s] summary: received=%zu lost=%llu latency p50=%llu ns p99=%llu ns max=%llu ns\n",
        name.c_str(), received, static_cast<unsigned long long>(sub->lost()),
        static_cast<unsigned long long>(percentile(latencies, 0.50)),
        static_cast<unsigned long long>(percentile(latencies, 0.99)),
        static_cast<unsigned long long>(percentile(latencies, 1.0)));
    return 0;
}
