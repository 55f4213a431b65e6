// A topic granted by the daemon: the mapped segment plus the daemon's handle for it.
// Closing it tells the daemon (which frees the reader entry, and drops the topic when its
// last user leaves).
#pragma once

#include <cstdint>
#include <memory>

#include "daemon_client.hpp"
#include "ipc/memfd_segment.hpp"
#include "ipcbus/node.hpp"
#include "protocol.hpp"

namespace ipcbus::detail {

class TopicHandle {
  public:
    /// Asks the daemon for `request`'s topic as `role`, maps the segment it sends and
    /// checks it once more against the request (the daemon is trusted, not blindly).
    static Result<TopicHandle> open(const Node& node, const TopicRequest& request,
                                    protocol::Role role);

    TopicHandle(TopicHandle&& other) noexcept
        : daemon_(std::move(other.daemon_)),
          local_id_(other.local_id_),
          index_(other.index_),
          segment_(std::move(other.segment_)) {}
    TopicHandle& operator=(TopicHandle&&) = delete;
    TopicHandle(const TopicHandle&) = delete;
    TopicHandle& operator=(const TopicHandle&) = delete;
    ~TopicHandle() {
        if (daemon_) daemon_->forget(local_id_);
    }

    [[nodiscard]] const SegmentView& view() const noexcept { return segment_.view(); }
    /// Reader-table row (subscriber) or publisher id (publisher), assigned by the daemon.
    [[nodiscard]] std::uint32_t index() const noexcept { return index_; }

  private:
    TopicHandle(std::shared_ptr<DaemonClient> daemon, std::uint64_t local_id, std::uint32_t index,
                MappedSegment segment) noexcept
        : daemon_(std::move(daemon)),
          local_id_(local_id),
          index_(index),
          segment_(std::move(segment)) {}

    std::shared_ptr<DaemonClient> daemon_;
    std::uint64_t local_id_;  // our registration with the DaemonClient
    std::uint32_t index_;
    MappedSegment segment_;
};

}  // namespace ipcbus::detail
