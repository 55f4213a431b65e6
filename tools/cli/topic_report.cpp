#include "topic_report.hpp"

#include <algorithm>

namespace ipcbus::cli {

nlohmann::ordered_json topic_summary_json(const TopicInfo& topic) {
    return {{"name", topic.name},
            {"type", topic.type_name},
            {"slot_size", topic.slot_size},
            {"capacity", topic.capacity},
            {"mode", topic.mode},
            {"publishers", topic.publishers},
            {"subscribers", topic.subscribers},
            {"published", topic.published}};
}

std::uint64_t reader_lag(const TopicInfo& topic, const ReaderInfo& reader) noexcept {
    return topic.published > reader.next_sequence ? topic.published - reader.next_sequence : 0;
}

std::uint64_t group_lag(const TopicInfo& topic, const GroupInfo& group) noexcept {
    return topic.published > group.next_sequence ? topic.published - group.next_sequence : 0;
}

const TopicInfo* find_topic(const std::vector<TopicInfo>& topics, std::string_view name) noexcept {
    const auto it = std::find_if(topics.begin(), topics.end(),
                                 [name](const TopicInfo& topic) { return topic.name == name; });
    return it == topics.end() ? nullptr : &*it;
}

}  // namespace ipcbus::cli
