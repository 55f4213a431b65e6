// SPDX-License-Identifier: Apache-2.0
#include "wait_for_message.hpp"

#include <cstdio>

#include <algorithm>

namespace ipcbus::cli {
namespace {

// The longest a single blocking receive sleeps: a SIGINT may be delivered to one of the
// library's threads and so not interrupt it, and the stop flag is looked at in between.
constexpr auto kStopCheckInterval = std::chrono::milliseconds(100);

}  // namespace

bool wait_until_attached(RawSubscriber& subscriber) {
    if (subscriber.is_attached()) return true;
    std::fprintf(stderr, "waiting for topic '%.*s' (no publisher has created it yet)...\n",
                 static_cast<int>(subscriber.topic().size()), subscriber.topic().data());
    std::fflush(stderr);
    while (!stop_requested()) {
        (void)subscriber.wait(kStopCheckInterval);  // returns early once attached
        if (subscriber.is_attached()) return true;
        if (auto error = subscriber.attach_error()) throw CliError(error->message);
    }
    return false;
}

std::optional<SampleInfo> wait_for_message(RawSubscriber& subscriber, std::span<std::byte> buffer,
                                           Clock::time_point deadline) {
    while (!stop_requested()) {
        const auto now = Clock::now();
        if (now >= deadline) return std::nullopt;
        const auto slice = std::min<Clock::duration>(deadline - now, kStopCheckInterval);
        auto received = subscriber.receive_copy(buffer, slice);
        if (received) return *received;
        switch (received.error()) {
            case ReceiveError::buffer_too_small:
                throw CliError("internal error: receive buffer smaller than the topic's slot size");
            case ReceiveError::wait_failed:
                throw CliError("topic '" + std::string(subscriber.topic()) +
                               "': waiting for a message failed");
            default:
                // timed_out: look at the clock and the stop flag again. A corrupt slot
                // consumed the message and counted it in lost().
                break;
        }
    }
    return std::nullopt;
}

}  // namespace ipcbus::cli
