// SPDX-License-Identifier: Apache-2.0
#include "topic_handle.hpp"

#include "ipc/membarrier.hpp"
#include "names.hpp"

namespace ipcbus::detail {
namespace {

Error topic_error(ErrorCode code, std::string_view topic, const std::string& what) {
    return Error{code, "topic '" + std::string(topic) + "': " + what};
}

}  // namespace

Result<TopicHandle> TopicHandle::open(const Node& node, const TopicRequest& request,
                                      protocol::Role role) {
    if (auto ok = validate_topic_name(request.topic); !ok) return std::move(ok).error();
    const bool publisher = role == protocol::Role::publisher;
    nlohmann::json open_request = protocol::make_open(request, role);
    // A lone publisher may claim with plain stores only if the daemon can revoke that
    // safely: its process must be registered for membarrier (ring_writer.cpp, revoke_exclusive).
    if (publisher) open_request["exclusive_ok"] = register_for_heavy_fence();
    auto reply = node.daemon()->call(open_request);
    if (!reply) return std::move(reply).error();
    auto handle = protocol::get_uint(reply->body, "handle");
    auto index = protocol::get_uint(reply->body, "index", UINT32_MAX);
    if (!handle || !index) {
        return topic_error(ErrorCode::system_error, request.topic, "daemon granted no segment");
    }
    const auto group = reply->body.find("group_entry");
    const bool grouped = !publisher && group != reply->body.end();
    const std::size_t expected = publisher ? 1 : (grouped ? 3 : 2);
    if (reply->fds.size() != expected) {
        // The daemon granted the topic, but the kernel dropped the descriptors on the way
        // in: almost always because this process is out of file descriptors (found by
        // tests/integration/test_robustness.cpp). Give the handle back, and say so.
        (void)node.daemon()->call(protocol::make_close(*handle));
        return topic_error(ErrorCode::resource_exhausted, request.topic,
                           std::to_string(reply->fds.size()) + " of the " +
                               std::to_string(expected) +
                               " segment descriptors arrived: is the process out of file "
                               "descriptors (RLIMIT_NOFILE)?");
    }
    // What a restarted daemon needs to be told: the request and the grant.
    nlohmann::json adopt = open_request;
    adopt["index"] = *index;
    for (const char* field : {"entry", "generation", "group_entry"}) {
        if (const auto it = reply->body.find(field); it != reply->body.end()) adopt[field] = *it;
    }
    std::vector<int> raw;
    for (const auto& fd : reply->fds) raw.push_back(fd.get());
    // From here on the daemon holds a handle for us: the guard closes it on every failure
    // path, and otherwise keeps what a restarted daemon needs to be told.
    TopicHandle guard;
    guard.daemon_ = node.daemon();
    guard.local_id_ = node.daemon()->remember(adopt, raw, *handle, publisher);
    guard.index_ = static_cast<std::uint32_t>(*index);
    // Subscribers get, and map, the topic segment read-only: they cannot write messages.
    auto topic = TopicSegment::map(std::move(reply->fds[0]), request.topic, publisher);
    if (!topic) return std::move(topic).error();
    if (auto ok = check_compatible(topic->validated(), request); !ok) return std::move(ok).error();
    const SegmentView& view = topic->view();
    if (publisher) {
        auto entry = protocol::get_uint(reply->body, "entry", view.max_publishers - 1);
        if (!entry || *index == 0 || *index > layout::kMaxPublisherId) {
            return topic_error(ErrorCode::corrupt_segment, request.topic,
                               "daemon granted an invalid publisher entry");
        }
        guard.entry_ = static_cast<std::uint32_t>(*entry);
        if (const auto it = reply->body.find("exclusive");
            it != reply->body.end() && it->is_string()) {
            guard.exclusive_ = it->get<std::string>();
        }
    } else {
        if (*index >= view.max_readers) {
            return topic_error(ErrorCode::corrupt_segment, request.topic,
                               "daemon granted roster entry " + std::to_string(*index) + " of " +
                                   std::to_string(view.max_readers));
        }
        auto reader = SharedMemory::map(std::move(reply->fds[1]), true, false, request.topic);
        if (!reader) return std::move(reader).error();
        auto row = validate_reader_segment(reader->bytes(), request.topic, guard.index_);
        if (!row) return std::move(row).error();
        guard.reader_ = std::move(reader).value();
        guard.reader_row_ = *row;
        if (grouped) {
            auto group_index = protocol::get_uint(reply->body, "group_entry", view.max_readers - 1);
            if (!group_index) {
                return topic_error(ErrorCode::corrupt_segment, request.topic,
                                   "daemon granted no consumer group entry");
            }
            auto memory = SharedMemory::map(std::move(reply->fds[2]), true, false, request.topic);
            if (!memory) return std::move(memory).error();
            auto state = validate_group_segment(memory->bytes(), request.topic,
                                                static_cast<std::uint32_t>(*group_index));
            if (!state) return std::move(state).error();
            guard.group_index_ = static_cast<std::uint32_t>(*group_index);
            guard.group_ = std::move(memory).value();
            guard.group_state_ = *state;
        }
    }
    guard.topic_ = std::move(topic).value();
    return guard;
}

}  // namespace ipcbus::detail
