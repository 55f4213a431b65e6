// SPDX-License-Identifier: Apache-2.0
// Waiting for the next message of a subscriber: the library's blocking receive, in short
// slices so that a stop request (Ctrl-C) is noticed while nothing arrives.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>

#include "cli_common.hpp"
#include "ipcbus/sample.hpp"
#include "ipcbus/subscriber.hpp"

namespace ipcbus::cli {

/// Where wait_for_message copies messages: as large as the topic's slot size, allocated
/// without touching its pages (slots may be up to 1 GiB; most messages are far smaller).
class ReceiveBuffer {
  public:
    explicit ReceiveBuffer(std::size_t size) : data_(new std::byte[size]), size_(size) {}
    [[nodiscard]] std::span<std::byte> bytes() noexcept { return {data_.get(), size_}; }

  private:
    std::unique_ptr<std::byte[]> data_;
    std::size_t size_;
};

/// Waits (sleeping, per the subscriber's wait strategy) for the next message of
/// `subscriber` and copies it into `buffer` (at least subscriber.max_payload_size() bytes),
/// so what the caller reads is always a consistent message, never one a publisher is
/// overwriting. Returns its info, or std::nullopt if `deadline` passed or a stop was
/// requested first. Messages the reader missed meanwhile are counted in subscriber.lost().
/// Waits until `subscriber` reads its topic: subscribers never create one, so if it does not
/// exist yet this says once on stderr "waiting for topic 'x' (no publisher has created it
/// yet)..." and waits for a publisher. False if a stop was requested first; a CliError if
/// the topic that appeared cannot be read by it (another type, other parameters).
bool wait_until_attached(RawSubscriber& subscriber);

std::optional<SampleInfo> wait_for_message(RawSubscriber& subscriber, std::span<std::byte> buffer,
                                           Clock::time_point deadline = Clock::time_point::max());

}  // namespace ipcbus::cli
