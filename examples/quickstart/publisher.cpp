// SPDX-License-Identifier: Apache-2.0
// quickstart_publisher: publishes market ticks at a fixed rate, zero-copy.
//
//   quickstart_publisher [--count N] [--rate HZ] [--subscribers K] [--topic NAME]
//                        [--seconds S]
//
// Waits (up to 10 s) until K subscribers are attached, then publishes N ticks at HZ and
// a final tick marked `last`; stops after S seconds in any case.
#include <time.h>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "ipcbus/ipcbus.hpp"
#include "market_tick.hpp"

namespace {

struct Args {
    std::uint64_t count = 5000;
    double rate_hz = 2000;
    std::size_t subscribers = 0;
    std::string topic = "quickstart/ticks";
    double seconds = 60;
};

std::uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace

int main(int argc, char** argv) {
    Args args;
    CLI::App app{"Publishes market ticks at a fixed rate, zero-copy."};
    app.add_option("--count", args.count, "Ticks to publish before the last one")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--rate", args.rate_hz, "Ticks per second")->check(CLI::PositiveNumber);
    app.add_option("--subscribers", args.subscribers, "Wait (up to 10 s) for K subscribers");
    app.add_option("--topic", args.topic, "Topic name");
    app.add_option("--seconds", args.seconds, "Stop after S seconds at most")
        ->check(CLI::PositiveNumber);
    CLI11_PARSE(app, argc, argv);  // an unknown flag is an error, not ignored

    auto node = ipcbus::Node::create();
    if (!node) return std::fprintf(stderr, "error: %s\n", node.error().message.c_str()), 1;
    auto pub = ipcbus::Publisher<quickstart::MarketTick>::create(*node, args.topic, {4096, 0, 0});
    if (!pub) return std::fprintf(stderr, "error: %s\n", pub.error().message.c_str()), 1;

    // Subscribers see only what is published after they attach: wait for them first.
    if (auto attached = pub->wait_for_subscribers(args.subscribers, std::chrono::seconds(10));
        !attached) {
        std::fprintf(stderr, "[publisher] warning: %s; publishing anyway\n",
                     attached.error().message.c_str());
    }
    const auto end = std::chrono::steady_clock::now() +
                     std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double>(args.seconds));
    std::printf(
        "[publisher] %zu subscriber(s) attached to '%s'; publishing %llu ticks at %.0f Hz\n",
        pub->subscriber_count(), args.topic.c_str(), static_cast<unsigned long long>(args.count),
        args.rate_hz);
    std::fflush(stdout);

    const auto period = std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / args.rate_hz));
    auto next = std::chrono::steady_clock::now();
    std::uint64_t published = 0;
    for (std::uint64_t i = 0; i <= args.count; ++i) {
        const bool last = i == args.count || std::chrono::steady_clock::now() >= end;
        auto loan = pub->loan();  // a slot in shared memory: we write the tick in place
        if (!loan)
            return std::fprintf(stderr, "error: %s\n", ipcbus::to_string(loan.error()).data()), 1;
        quickstart::MarketTick& tick = **loan;
        std::strncpy(tick.symbol, i % 2 == 0 ? "ACME" : "GLOBX", sizeof tick.symbol);
        tick.bid = 100.0 + static_cast<double>(i % 100) * 0.01;
        tick.ask = tick.bid + 0.02;
        tick.bid_size = 100 + static_cast<std::uint32_t>(i % 7);
        tick.ask_size = 200;
        tick.exchange_time_ns = now_ns();
        tick.last = last;
        const quickstart::MarketTick sent = tick;  // the loan is gone once published
        auto seq = pub->publish(std::move(*loan));
        if (!seq) {
            return std::fprintf(stderr, "error: %s\n", ipcbus::to_string(seq.error()).data()), 1;
        }
        if (i % 1000 == 0 && i != args.count) {
            std::printf("[publisher] seq=%llu %s bid=%.2f ask=%.2f\n",
                        static_cast<unsigned long long>(*seq), sent.symbol, sent.bid, sent.ask);
            std::fflush(stdout);
        }
        if (last) {
            published = i;
            break;
        }
        next += period;
        std::this_thread::sleep_until(next);
    }
    std::printf("[publisher] done: %llu ticks published\n",
                static_cast<unsigned long long>(published));
    std::printf("[publisher] summary: published=%llu\n",
                static_cast<unsigned long long>(published));
    return 0;
}
