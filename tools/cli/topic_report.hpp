// SPDX-License-Identifier: Apache-2.0
// How `ipcbus topics` and `ipcbus info` describe a topic, in JSON and in text.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ipcbus/node.hpp"

namespace ipcbus::cli {

/// The topic's identity, parameters and counts (not its readers):
/// name, type, slot_size, capacity, mode, publishers, subscribers, published, and
/// bridges: [{direction, remote, pid}].
nlohmann::ordered_json topic_summary_json(const TopicInfo& topic);

/// How the topic crosses to other hosts: "export", "import", "both" or "-".
[[nodiscard]] std::string bridged_summary(const TopicInfo& topic);

/// Messages published that the reader has not reached yet (0 if it is ahead of the count
/// the daemon read a moment earlier).
[[nodiscard]] std::uint64_t reader_lag(const TopicInfo& topic, const ReaderInfo& reader) noexcept;

/// Messages published that the consumer group has not handed out yet.
[[nodiscard]] std::uint64_t group_lag(const TopicInfo& topic, const GroupInfo& group) noexcept;

/// A publisher waiting for space in a full reliable ring (or pool), and the reader whose
/// position keeps the space taken: the one that released the least.
struct HoldingBack {
    const PublisherInfo* publisher;  // blocked the longest
    std::uint64_t blocked_ns;        // for how long, when the daemon looked
    const ReaderInfo* reader;        // nullptr when no reader is attached (history alone)
};

/// Who holds the topic back now (`now_ns`: CLOCK_MONOTONIC); std::nullopt when no
/// publisher waits for space.
[[nodiscard]] std::optional<HoldingBack> holding_back(const TopicInfo& topic,
                                                      std::uint64_t now_ns) noexcept;

/// The topic named `name` in `topics`, or nullptr.
const TopicInfo* find_topic(const std::vector<TopicInfo>& topics, std::string_view name) noexcept;

}  // namespace ipcbus::cli
