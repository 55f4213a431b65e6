// SPDX-License-Identifier: Apache-2.0
// quickstart_publisher: publishes market ticks at a fixed rate, zero-copy.
//
//   quickstart_publisher [--count N] [--rate HZ] [--subscribers K] [--topic NAME]
//
// Waits (up to 10 s) until K subscribers are attached, then publishes N ticks at HZ and
// a final tick marked `last`.
#include <time.h>

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
};

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string key = argv[i];
        if (key == "--count")
            a.count = std::stoull(argv[i + 1]);
        else if (key == "--rate")
            a.rate_hz = std::stod(argv[i + 1]);
        else if (key == "--subscribers")
            a.subscribers = std::stoul(argv[i + 1]);
        else if (key == "--topic")
            a.topic = argv[i + 1];
    }
    return a;
}

std::uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace

int main(int argc, char** argv) {
    const Args args = parse(argc, argv);
    auto node = ipcbus::Node::create();
    if (!node) return std::fprintf(stderr, "error: %s\n", node.error().message.c_str()), 1;
    auto pub = ipcbus::Publisher<quickstart::MarketTick>::create(*node, args.topic, {4096, 0, 0});
    if (!pub) return std::fprintf(stderr, "error: %s\n", pub.error().message.c_str()), 1;

    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (pub->subscriber_count() < args.subscribers &&
           std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::printf(
        "[publisher] %zu subscriber(s) attached to '%s'; publishing %llu ticks at %.0f Hz\n",
        pub->subscriber_count(), args.topic.c_str(), static_cast<unsigned long long>(args.count),
        args.rate_hz);
    std::fflush(stdout);

    const auto period = std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / args.rate_hz));
    auto next = std::chrono::steady_clock::now();
    for (std::uint64_t i = 0; i <= args.count; ++i) {
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
        tick.last = i == args.count;
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
        next += period;
        std::this_thread::sleep_until(next);
    }
    std::printf("[publisher] done: %llu ticks published\n",
                static_cast<unsigned long long>(args.count));
    std::printf("[publisher] summary: published=%llu\n",
                static_cast<unsigned long long>(args.count));
    return 0;
}
