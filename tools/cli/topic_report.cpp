// SPDX-License-Identifier: Apache-2.0
#include "topic_report.hpp"

#include <algorithm>

namespace ipcbus::cli {
namespace {

nlohmann::ordered_json bridges_json(const TopicInfo& topic) {
    auto bridges = nlohmann::ordered_json::array();
    for (const BridgeInfo& bridge : topic.bridges) {
        bridges.push_back(
            {{"direction", bridge.direction}, {"remote", bridge.remote}, {"pid", bridge.pid}});
    }
    return bridges;
}

}  // namespace

nlohmann::ordered_json topic_summary_json(const TopicInfo& topic) {
    return {{"name", topic.name},
            {"type", topic.type_name},
            {"slot_size", topic.slot_size},
            {"capacity", topic.capacity},
            {"mode", topic.mode},
            {"publishers", topic.publishers},
            {"subscribers", topic.subscribers},
            {"published", topic.published},
            {"bridges", bridges_json(topic)}};
}

std::string bridged_summary(const TopicInfo& topic) {
    bool out = false;
    bool in = false;
    for (const BridgeInfo& bridge : topic.bridges) {
        out = out || bridge.direction == "export";
        in = in || bridge.direction == "import";
    }
    if (out && in) return "both";
    if (out) return "export";
    return in ? "import" : "-";
}

std::uint64_t reader_lag(const TopicInfo& topic, const ReaderInfo& reader) noexcept {
    return topic.published > reader.next_sequence ? topic.published - reader.next_sequence : 0;
}

std::uint64_t group_lag(const TopicInfo& topic, const GroupInfo& group) noexcept {
    return topic.published > group.next_sequence ? topic.published - group.next_sequence : 0;
}

std::optional<HoldingBack> holding_back(const TopicInfo& topic, std::uint64_t now_ns) noexcept {
    const PublisherInfo* longest = nullptr;
    for (const PublisherInfo& publisher : topic.publisher_details) {
        if (publisher.blocked_since_ns == 0) continue;
        if (longest == nullptr || publisher.blocked_since_ns < longest->blocked_since_ns) {
            longest = &publisher;
        }
    }
    if (longest == nullptr) return std::nullopt;
    const ReaderInfo* slowest = nullptr;
    for (const ReaderInfo& reader : topic.readers) {
        if (slowest == nullptr || reader.released < slowest->released) slowest = &reader;
    }
    const std::uint64_t since = longest->blocked_since_ns;
    return HoldingBack{longest, now_ns > since ? now_ns - since : 0, slowest};
}

const TopicInfo* find_topic(const std::vector<TopicInfo>& topics, std::string_view name) noexcept {
    const auto it = std::find_if(topics.begin(), topics.end(),
                                 [name](const TopicInfo& topic) { return topic.name == name; });
    return it == topics.end() ? nullptr : &*it;
}

}  // namespace ipcbus::cli
