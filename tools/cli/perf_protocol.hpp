// SPDX-License-Identifier: Apache-2.0
// What `ipcbus perf` and the subscriber processes it starts agree on: the message layout
// and the report each subscriber writes back on its standard output.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

namespace ipcbus::cli::perf {

/// The hidden subcommand the subscriber processes run.
inline constexpr std::string_view kSubscriberCommand = "perf-subscriber";

/// The first bytes of every measured message. A zero-length message ends the run: it is
/// published last, so no reader can lose it.
struct Stamp {
    std::uint64_t sent_ns;  // CLOCK_MONOTONIC just before publishing
    std::uint64_t index;    // 0-based; the first kWarmupMessages are not measured
};
inline constexpr std::size_t kMinMessageSize = sizeof(Stamp);

/// Unmeasured messages sent first, so that first touches of the ring's pages and cold
/// caches do not count as latency.
inline constexpr std::uint64_t kWarmupMessages = 1000;

/// What one subscriber process saw.
struct SubscriberReport {
    std::uint64_t lost = 0;                   // overrun, or torn while it read the stamp
    std::vector<std::uint64_t> latencies_ns;  // one per measured message received
};

inline nlohmann::json to_json(const SubscriberReport& report) {
    return {{"lost", report.lost}, {"latencies_ns", report.latencies_ns}};
}

/// Throws nlohmann::json::exception if `text` is not a report.
inline SubscriberReport report_from_json(std::string_view text) {
    const auto json = nlohmann::json::parse(text);
    return {json.at("lost").get<std::uint64_t>(),
            json.at("latencies_ns").get<std::vector<std::uint64_t>>()};
}

}  // namespace ipcbus::cli::perf
