// SPDX-License-Identifier: Apache-2.0
// What every example process shares: labelled output, a clean stop on SIGINT/SIGTERM, a run
// limit, waiting for subscribers, and latency percentiles.
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "ipcbus/loan.hpp"
#include "ipcbus/result.hpp"
#include "ipcbus/subscriber.hpp"

namespace example {

/// Sets up the process: `label` prefixes every line it prints, stdout is line-buffered
/// (so a pipe or a test sees each line at once), SIGINT and SIGTERM ask it to stop.
void init(std::string label);

/// The label given to init().
const std::string& label();

/// True once SIGINT or SIGTERM arrived. Loops check it between short waits (the signal
/// may land on a library thread, so a blocking call is not always interrupted).
[[nodiscard]] bool stop_requested() noexcept;

/// CLOCK_MONOTONIC in ns: the clock ipcbus stamps messages with, so it compares across
/// processes.
[[nodiscard]] std::uint64_t now_ns() noexcept;

/// Prints "[label] <message>" on stdout.
template <class... Args>
void say(fmt::format_string<Args...> format, Args&&... args) {
    fmt::print("[{}] {}\n", label(), fmt::format(format, std::forward<Args>(args)...));
    std::fflush(stdout);
}

/// Prints "[label] error: <what>" on stderr and exits with 1.
[[noreturn]] void fail(std::string_view what);

/// The value of a setup call; exits through fail() with the library's message (which
/// names the topic and the cause) if it failed.
template <class T>
T need(ipcbus::Result<T>&& result) {
    if (!result) fail(result.error().message);
    return std::move(result).value();
}

/// How long a process may run (--seconds): every process exits by itself even if its
/// peers never show up or never finish.
class RunLimit {
  public:
    explicit RunLimit(double seconds)
        : end_(std::chrono::steady_clock::now() +
               std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                   std::chrono::duration<double>(seconds))) {}

    /// False once a stop was requested or the time is up.
    [[nodiscard]] bool keep_going() const noexcept {
        return !stop_requested() && std::chrono::steady_clock::now() < end_;
    }
    [[nodiscard]] bool timed_out() const noexcept {
        return std::chrono::steady_clock::now() >= end_;
    }

  private:
    std::chrono::steady_clock::time_point end_;
};

/// Waits until `publisher` sees at least `count` subscribers: a subscriber gets only what
/// is published after it attached, so a publisher whose readers must see everything waits
/// for them first. False if stopped or out of time.
/// How long blocking calls wait at most before they look at the stop flag and the clock
/// again: short enough that Ctrl-C feels immediate, long enough to cost no CPU.
inline constexpr std::chrono::milliseconds kStopCheckInterval{100};

template <class Publisher>
bool wait_for_subscribers(const Publisher& publisher, std::size_t count, const RunLimit& limit) {
    while (limit.keep_going()) {
        if (publisher.wait_for_subscribers(count, kStopCheckInterval)) return true;
    }
    return false;
}

/// Sends `value` on a topic. In reliable mode the ring may be full of messages a slow
/// reader still needs: the send then waits (up to the publisher's block timeout, set it to
/// kStopCheckInterval) and is retried, until it goes through or we must stop (false).
template <class Publisher, class T>
bool send_or_stop(Publisher& publisher, const T& value, const RunLimit& limit) {
    for (;;) {
        auto sent = publisher.send(value);
        if (sent) return true;
        if (sent.error() != ipcbus::LoanError::would_block) {
            fail(fmt::format("send on '{}' failed: {}", publisher.topic(),
                             ipcbus::to_string(sent.error())));
        }
        if (!limit.keep_going()) return false;
    }
}

/// The next message of `subscriber`, sleeping until it comes (blocking receive); nullopt if
/// we must stop first. A damaged message is skipped (the library counts it in lost()).
template <class T>
std::optional<ipcbus::Sample<T>> receive_or_stop(ipcbus::Subscriber<T>& subscriber,
                                                 const RunLimit& limit) {
    while (limit.keep_going()) {
        auto received = subscriber.receive(kStopCheckInterval);
        if (received) return std::move(received).value();
        if (received.error() == ipcbus::ReceiveError::wait_failed) {
            fail(fmt::format("waiting on '{}' failed", subscriber.topic()));
        }
    }
    return std::nullopt;
}

/// One-way latencies (publish to receive, from SampleInfo::timestamp_ns), reported as
/// percentiles. Reserves its memory up front, so recording does not allocate on the way.
class LatencyStats {
  public:
    explicit LatencyStats(std::size_t expected = 1 << 16) { samples_.reserve(expected); }

    /// Records the latency of a message published at `published_ns`.
    void add_since(std::uint64_t published_ns) {
        const std::uint64_t now = now_ns();
        samples_.push_back(now > published_ns ? now - published_ns : 0);
    }
    [[nodiscard]] std::size_t count() const noexcept { return samples_.size(); }
    /// "p50=12.3us p99=45.6us max=80.1us" ("p50=- p99=- max=-" with no samples).
    [[nodiscard]] std::string describe();

  private:
    std::vector<std::uint64_t> samples_;
};

/// Prints the line scripts/demo.sh and the tests look for:
/// "[label] summary: <counts> latency p50=... p99=... max=...".
void say_summary(std::string_view counts, LatencyStats& latency);
/// The same for a process that only publishes: "[label] summary: <counts>".
void say_summary(std::string_view counts);

/// Copies `text` into a fixed char array, always NUL-terminated.
template <std::size_t N>
void copy_name(char (&out)[N], std::string_view text) {
    const std::size_t n = text.size() < N - 1 ? text.size() : N - 1;
    for (std::size_t i = 0; i < n; ++i) out[i] = text[i];
    for (std::size_t i = n; i < N; ++i) out[i] = '\0';
}

}  // namespace example
