// SPDX-License-Identifier: Apache-2.0
#include "example_support.hpp"

#include <signal.h>
#include <time.h>

#include <algorithm>
#include <atomic>

namespace example {
namespace {

std::string g_label = "example";
// Written by the signal handler: lock-free, so async-signal-safe.
std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void on_stop_signal(int /*signal_number*/) {
    g_stop.store(true, std::memory_order_relaxed);
}

std::string micros(std::uint64_t ns) {
    return fmt::format("{:.1f}us", static_cast<double>(ns) / 1000.0);
}

}  // namespace

void init(std::string label) {
    g_label = std::move(label);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    ::sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;  // no call fails with EINTR; loops look at the flag
    ::sigaction(SIGINT, &action, nullptr);
    ::sigaction(SIGTERM, &action, nullptr);
}

const std::string& label() {
    return g_label;
}

bool stop_requested() noexcept {
    return g_stop.load(std::memory_order_relaxed);
}

std::uint64_t now_ns() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

void fail(std::string_view what) {
    std::fflush(stdout);
    fmt::print(stderr, "[{}] error: {}\n", g_label, what);
    std::exit(1);
}

std::string LatencyStats::describe() {
    if (samples_.empty()) return "p50=- p99=- max=-";
    std::sort(samples_.begin(), samples_.end());
    const auto at = [this](double p) {
        return samples_[static_cast<std::size_t>(p * static_cast<double>(samples_.size() - 1))];
    };
    return fmt::format("p50={} p99={} max={}", micros(at(0.50)), micros(at(0.99)),
                       micros(samples_.back()));
}

void say_summary(std::string_view counts, LatencyStats& latency) {
    say("summary: {} latency {}", counts, latency.describe());
}

void say_summary(std::string_view counts) {
    say("summary: {}", counts);
}

}  // namespace example
