#include "topic_handle.hpp"

#include "names.hpp"

namespace ipcbus::detail {

Result<TopicHandle> TopicHandle::open(const Node& node, const TopicRequest& request,
                                      protocol::Role role) {
    if (auto ok = validate_topic_name(request.topic); !ok) return std::move(ok).error();
    const nlohmann::json open_request = protocol::make_open(request, role);
    auto reply = node.daemon()->call(open_request);
    if (!reply) return std::move(reply).error();
    auto handle = protocol::get_uint(reply->body, "handle");
    auto index = protocol::get_uint(reply->body, "index", UINT32_MAX);
    if (handle && index && reply->fds.size() != 2) {
        // The daemon granted the topic, but the kernel dropped the descriptors on the way
        // in: almost always because this process is out of file descriptors (found by
        // tests/integration/test_robustness.cpp). Give the handle back, and say so.
        (void)node.daemon()->call(protocol::make_close(*handle));
        return Error{ErrorCode::resource_exhausted,
                     "topic '" + std::string(request.topic) +
                         "': " + std::to_string(reply->fds.size()) +
                         " of the 2 segment descriptors arrived: is the process out of file "
                         "descriptors (RLIMIT_NOFILE)?"};
    }
    if (!handle || !index) {
        return Error{ErrorCode::system_error,
                     "topic '" + std::string(request.topic) + "': daemon granted no segment"};
    }
    // From here on the daemon holds a handle for us: the guard closes it on every failure
    // path, and otherwise keeps what a restarted daemon needs to be told.
    const std::uint64_t local_id =
        node.daemon()->remember(open_request, static_cast<std::uint32_t>(*index),
                                reply->fds[0].get(), reply->fds[1].get(), *handle);
    TopicHandle guard(node.daemon(), local_id, static_cast<std::uint32_t>(*index),
                      MappedSegment::empty());
    // Subscribers get, and map, the data segment read-only: they cannot write messages.
    auto segment = MappedSegment::map(std::move(reply->fds[0]), std::move(reply->fds[1]),
                                      request.topic, role == protocol::Role::publisher);
    if (!segment) return std::move(segment).error();
    if (auto ok = check_compatible(segment->view(), request); !ok) return std::move(ok).error();
    if (role == protocol::Role::subscriber && *index >= segment->view().max_readers) {
        return Error{ErrorCode::corrupt_segment, "topic '" + std::string(request.topic) +
                                                     "': daemon granted reader row " +
                                                     std::to_string(*index) + " of " +
                                                     std::to_string(segment->view().max_readers)};
    }
    guard.segment_ = std::move(segment).value();
    return guard;
}

}  // namespace ipcbus::detail
