// SPDX-License-Identifier: Apache-2.0
#include "topic_handle.hpp"

#include <time.h>

#include "ipc/membarrier.hpp"
#include "names.hpp"

namespace ipcbus::detail {
namespace {

// Retries of an open while a restarted daemon waits for a topic's holders: 20 ms apart,
// for up to 10 s (the daemon's window is 1.5 s by default).
constexpr int kRecoveringRetries = 500;
constexpr long kRecoveringPauseNs = 20'000'000;

Error topic_error(ErrorCode code, std::string_view topic, const std::string& what) {
    return Error{code, "topic '" + std::string(topic) + "': " + what};
}

}  // namespace

namespace {

// How many segments a grant carries: the topic; for a subscriber its own, and its group's.
std::size_t segments_expected(bool publisher, const nlohmann::json& body) {
    if (publisher) return 1;
    return body.contains("group_entry") ? 3 : 2;
}

Error missing_descriptors(std::string_view topic, std::size_t got, std::size_t expected) {
    // The daemon granted the topic, but the kernel dropped the descriptors on the way in:
    // almost always because this process is out of file descriptors (found by
    // tests/integration/test_robustness.cpp).
    return topic_error(ErrorCode::resource_exhausted, topic,
                       std::to_string(got) + " of the " + std::to_string(expected) +
                           " segment descriptors arrived: is the process out of file "
                           "descriptors (RLIMIT_NOFILE)?");
}

// What a restarted daemon needs to be told: the request and the grant.
nlohmann::json adopt_request(nlohmann::json open_request, const nlohmann::json& grant) {
    for (const char* field : {"index", "entry", "generation", "group_entry"}) {
        if (const auto it = grant.find(field); it != grant.end()) open_request[field] = *it;
    }
    return open_request;
}

nlohmann::json open_request_for(const TopicRequest& request, protocol::Role role) {
    nlohmann::json open_request = protocol::make_open(request, role);
    // A lone publisher may claim with plain stores only if the daemon can revoke that
    // safely: its process must be registered for membarrier (ring_writer.cpp, revoke_exclusive).
    if (role == protocol::Role::publisher)
        open_request["exclusive_ok"] = register_for_heavy_fence();
    return open_request;
}

// A granted reply: remembered with the client (for restarts), then mapped.
Result<TopicHandle> take_grant(const Node& node, const TopicRequest& request, bool publisher,
                               const nlohmann::json& open_request, DaemonClient::Reply& reply) {
    auto handle = protocol::get_uint(reply.body, "handle");
    if (!handle)
        return topic_error(ErrorCode::system_error, request.topic, "daemon granted no segment");
    const std::size_t expected = segments_expected(publisher, reply.body);
    if (reply.fds.size() != expected) {
        (void)node.daemon()->call(protocol::make_close(*handle));  // give the handle back
        return missing_descriptors(request.topic, reply.fds.size(), expected);
    }
    std::vector<int> raw;
    for (const auto& fd : reply.fds) raw.push_back(fd.get());
    const std::uint64_t local_id =
        node.daemon()->remember(adopt_request(open_request, reply.body), raw, *handle, publisher);
    auto granted =
        TopicHandle::from_grant(node.daemon(), request, publisher, reply.body, reply.fds);
    if (!granted) {
        node.daemon()->forget(local_id);
        return std::move(granted).error();
    }
    granted->own(local_id);
    return granted;
}

}  // namespace

Result<TopicHandle> TopicHandle::open(const Node& node, const TopicRequest& request,
                                      protocol::Role role) {
    if (auto ok = validate_topic_name(request.topic); !ok) return std::move(ok).error();
    // Here rather than at the daemon: its parser can only say that a field is out of the
    // protocol's range; this says which limit, and what to do.
    if (auto plan = plan_segment(request); !plan) return std::move(plan).error();
    const nlohmann::json open_request = open_request_for(request, role);
    auto reply = node.daemon()->call(open_request);
    // The daemon ends its recovery window itself (within seconds): retry until it does.
    for (int tries = 0; !reply && reply.error().message.starts_with(protocol::kRecovering) &&
                        tries < kRecoveringRetries;
         ++tries) {
        timespec pause{0, kRecoveringPauseNs};
        ::nanosleep(&pause, nullptr);
        reply = node.daemon()->call(open_request);
    }
    if (!reply) return std::move(reply).error();
    return take_grant(node, request, role == protocol::Role::publisher, open_request, *reply);
}

Result<std::optional<TopicHandle>> TopicHandle::open_or_wait(const Node& node,
                                                             const TopicRequest& request,
                                                             DaemonClient::EventHandler handler,
                                                             std::uint64_t& waiting_id) {
    if (auto ok = validate_topic_name(request.topic); !ok) return std::move(ok).error();
    if (auto plan = plan_segment(request); !plan) return std::move(plan).error();  // see open()
    const nlohmann::json open_request = open_request_for(request, protocol::Role::subscriber);
    auto reply = node.daemon()->open_or_wait(open_request, std::move(handler), waiting_id);
    if (!reply) return std::move(reply).error();
    if (waiting_id != 0) return std::optional<TopicHandle>{};
    auto granted = take_grant(node, request, false, open_request, *reply);
    if (!granted) return std::move(granted).error();
    return std::optional<TopicHandle>(std::move(granted).value());
}

Result<TopicHandle> TopicHandle::from_grant(std::shared_ptr<DaemonClient> daemon,
                                            const TopicRequest& request, bool publisher,
                                            const nlohmann::json& body,
                                            std::vector<UniqueFd>& fds) {
    auto index = protocol::get_uint(body, "index", UINT32_MAX);
    if (!index)
        return topic_error(ErrorCode::system_error, request.topic, "daemon granted no segment");
    const std::size_t expected = segments_expected(publisher, body);
    if (fds.size() != expected) return missing_descriptors(request.topic, fds.size(), expected);
    TopicHandle guard;
    guard.daemon_ = std::move(daemon);
    guard.index_ = static_cast<std::uint32_t>(*index);
    // Subscribers get, and map, the topic segment read-only: they cannot write messages.
    auto topic = TopicSegment::map(std::move(fds[0]), request.topic, publisher);
    if (!topic) return std::move(topic).error();
    if (auto ok = check_compatible(topic->validated(), request); !ok) return std::move(ok).error();
    const SegmentView& view = topic->view();
    if (publisher) {
        auto entry = protocol::get_uint(body, "entry", view.max_publishers - 1);
        if (!entry || *index == 0 || *index > layout::kMaxPublisherId) {
            return topic_error(ErrorCode::corrupt_segment, request.topic,
                               "daemon granted an invalid publisher entry");
        }
        guard.entry_ = static_cast<std::uint32_t>(*entry);
        if (const auto it = body.find("exclusive"); it != body.end() && it->is_string()) {
            guard.exclusive_ = it->get<std::string>();
        }
    } else {
        if (*index >= view.max_readers) {
            return topic_error(ErrorCode::corrupt_segment, request.topic,
                               "daemon granted roster entry " + std::to_string(*index) + " of " +
                                   std::to_string(view.max_readers));
        }
        auto reader = SharedMemory::map(std::move(fds[1]), true, false, request.topic);
        if (!reader) return std::move(reader).error();
        auto row = validate_reader_segment(reader->bytes(), request.topic, guard.index_);
        if (!row) return std::move(row).error();
        guard.reader_ = std::move(reader).value();
        guard.reader_row_ = *row;
        if (expected == 3) {
            auto group_index = protocol::get_uint(body, "group_entry", view.max_readers - 1);
            if (!group_index) {
                return topic_error(ErrorCode::corrupt_segment, request.topic,
                                   "daemon granted no consumer group entry");
            }
            auto memory = SharedMemory::map(std::move(fds[2]), true, false, request.topic);
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
