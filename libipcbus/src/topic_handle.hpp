// SPDX-License-Identifier: Apache-2.0
// A topic granted by the daemon: the mapped segments plus the daemon's handle for them.
// Closing it tells the daemon (which frees the reader's roster entry or the publisher's
// entry, and drops the topic when its last user leaves).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "daemon_client.hpp"
#include "ipc/memfd_segment.hpp"
#include "ipcbus/node.hpp"
#include "protocol.hpp"

namespace ipcbus::detail {

class TopicHandle {
  public:
    /// Asks the daemon for `request`'s topic as `role`, maps the segments it sends and
    /// checks them against the request (the daemon is trusted, not blindly).
    static Result<TopicHandle> open(const Node& node, const TopicRequest& request,
                                    protocol::Role role);
    /// A subscriber's open. If the topic does not exist yet, the daemon keeps the
    /// subscriber waiting for it: the result is then empty, `waiting_id` is the
    /// registration, and `handler` receives the "attached" (or "attach_failed") event.
    static Result<std::optional<TopicHandle>> open_or_wait(const Node& node,
                                                           const TopicRequest& request,
                                                           DaemonClient::EventHandler handler,
                                                           std::uint64_t& waiting_id);
    /// Maps and checks what the daemon granted (`body`, `fds`: a reply or an "attached"
    /// event). The handle does not own the registration until own(). Never calls the
    /// daemon, so it may run in an event handler.
    static Result<TopicHandle> from_grant(std::shared_ptr<DaemonClient> daemon,
                                          const TopicRequest& request, bool publisher,
                                          const nlohmann::json& body, std::vector<UniqueFd>& fds);
    /// From now on closing this handle forgets registration `local_id`.
    void own(std::uint64_t local_id) noexcept { local_id_ = local_id; }

    TopicHandle(TopicHandle&& other) noexcept = default;
    TopicHandle& operator=(TopicHandle&&) = delete;
    TopicHandle(const TopicHandle&) = delete;
    TopicHandle& operator=(const TopicHandle&) = delete;
    ~TopicHandle() {
        if (daemon_ && local_id_ != 0) daemon_->forget(local_id_);
    }

    [[nodiscard]] const SegmentView& view() const noexcept { return topic_.view(); }
    [[nodiscard]] const TopicIdentity& identity() const noexcept { return topic_.identity(); }
    /// Publisher: its id (busy stamps, pool owner). Subscriber: its roster entry.
    [[nodiscard]] std::uint32_t index() const noexcept { return index_; }
    /// Publisher: its entry in the publisher table.
    [[nodiscard]] std::uint32_t entry() const noexcept { return entry_; }
    /// Subscriber in a group: the group's roster entry.
    [[nodiscard]] std::uint32_t group_index() const noexcept { return group_index_; }
    /// Publisher: "granted", "revoking" or "shared" (the exclusive fast path).
    [[nodiscard]] const std::string& exclusive() const noexcept { return exclusive_; }
    /// Subscriber: its own memory, and its group's.
    [[nodiscard]] layout::ReaderRow* reader_row() const noexcept { return reader_row_; }
    [[nodiscard]] layout::GroupState* group_state() const noexcept { return group_state_; }
    [[nodiscard]] const std::shared_ptr<DaemonClient>& daemon() const noexcept { return daemon_; }
    [[nodiscard]] std::uint64_t local_id() const noexcept { return local_id_; }

  private:
    TopicHandle() = default;

    std::shared_ptr<DaemonClient> daemon_;
    std::uint64_t local_id_ = 0;  // our registration with the DaemonClient
    std::uint32_t index_ = 0;
    std::uint32_t entry_ = 0;
    std::uint32_t group_index_ = 0;
    std::string exclusive_;
    TopicSegment topic_ = TopicSegment::empty();
    SharedMemory reader_ = SharedMemory::empty();
    SharedMemory group_ = SharedMemory::empty();
    layout::ReaderRow* reader_row_ = nullptr;
    layout::GroupState* group_state_ = nullptr;
};

}  // namespace ipcbus::detail
