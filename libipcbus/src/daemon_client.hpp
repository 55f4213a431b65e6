// SPDX-License-Identifier: Apache-2.0
// A process's connection to the ipcbusd of its domain. Publishers and subscribers get
// their segments through it; its closing (the process dying) is how the daemon learns to
// clean up after the process.
//
// Besides replies, the daemon sends events on the connection (protocol.hpp): the segments
// of a publisher's readers as they come, and revocations of the exclusive fast path. They
// are handed to the handler of the registration they name, from whichever thread reads
// them: a thread in call(), or the watcher thread, which sleeps on the connection.
//
// If the daemon goes away, the watcher thread reconnects (starting a daemon if allowed) and
// re-registers every topic this process holds, handing the new daemon the segments
// themselves, so the registry is rebuilt. The data path never notices: it does not go
// through the daemon.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "ipc/memfd_segment.hpp"
#include "ipc/unique_fd.hpp"
#include "ipcbus/result.hpp"
#include "layout/segment_layout.hpp"

namespace ipcbus::detail {

class DaemonClient {
  public:
    /// Connects to the daemon of `domain`. If none answers, starts one (detached, exits by
    /// itself when idle) unless IPCBUS_NO_AUTOSTART=1, and connects to it.
    static Result<std::shared_ptr<DaemonClient>> connect(const std::string& domain);

    /// `wake`: an eventfd that stops the watcher thread.
    DaemonClient(UniqueFd socket, UniqueFd wake, std::string domain);
    DaemonClient(const DaemonClient&) = delete;
    DaemonClient& operator=(const DaemonClient&) = delete;
    ~DaemonClient();  // stops the watcher thread

    struct Reply {
        nlohmann::json body;
        std::vector<UniqueFd> fds;  // segments, when granted
    };
    /// Receives an event meant for a registration, with the descriptors it carried. Runs
    /// with the client's lock held: it must not call the client.
    using EventHandler =
        std::function<void(const nlohmann::json& event, std::vector<UniqueFd>& fds)>;

    /// Sends a request and waits for its reply. Thread-safe (one request at a time).
    /// While the daemon is away it fails at once with daemon_unreachable.
    Result<Reply> call(const nlohmann::json& request);

    /// Remembers a granted topic so that it can be re-registered with a restarted daemon:
    /// the open request with the grant's fields, and duplicates of the segments'
    /// descriptors. Returns the local id to forget() it by. Thread-safe.
    std::uint64_t remember(nlohmann::json adopt_request, std::span<const int> fds,
                           std::uint64_t daemon_handle, bool publisher);
    /// Sends a subscriber's "open". If the daemon answers that the topic does not exist
    /// yet, registers the wait under the same lock (so its "attached" event cannot come
    /// before `handler` is there) and sets `waiting_id` to it; otherwise 0. Thread-safe.
    Result<Reply> open_or_wait(const nlohmann::json& request, EventHandler handler,
                               std::uint64_t& waiting_id);
    /// Routes events for a registration to `handler` (null: none). Thread-safe.
    void set_event_handler(std::uint64_t local_id, EventHandler handler);
    /// Asks for a publisher's readers: their segments arrive as events (now, and as they
    /// come), also after a daemon restart. Thread-safe.
    Result<Ok> subscribe_roster(std::uint64_t local_id);

    /// Runs `work` soon on the watcher thread, with no lock of the client held: how an event
    /// handler (which runs under the lock) gets the user's callbacks called. Thread-safe,
    /// also from a handler or from posted work.
    void post(std::function<void()> work);

    /// Closes a remembered topic with the daemon (errors ignored: the daemon also cleans up
    /// when the connection closes). Thread-safe.
    void forget(std::uint64_t local_id) noexcept;

    /// What went wrong on the watcher thread, unasked (a daemon refused as untrusted, a
    /// topic the restarted daemon would not take back), oldest first; clears them.
    /// Thread-safe.
    std::vector<Error> take_problems();

    [[nodiscard]] const std::string& domain() const noexcept { return domain_; }
    /// The domain's clock (the daemon's TSC calibration); null if the daemon sent none.
    [[nodiscard]] const layout::DomainClock* clock() const noexcept { return clock_; }

  private:
    struct Registration {
        nlohmann::json adopt_request;
        std::vector<UniqueFd> fds;
        std::uint64_t daemon_handle;  // 0: the daemon holds none for it (adoption refused)
        bool publisher;
        bool roster = false;  // the publisher asked for its readers' segments
        EventHandler handler;
        // A subscriber waiting for its topic: after a restart it opens again (there are no
        // segments to adopt) until "attached" arrives.
        bool waiting = false;
    };

    Result<Reply> call_locked(const nlohmann::json& request, std::span<const int> pass_fds = {});
    void dispatch_event_locked(const nlohmann::json& event, std::vector<UniqueFd>& fds);
    void attached_locked(Registration& r, const nlohmann::json& grant, std::vector<UniqueFd>& fds);
    void reopen_waiting_locked(Registration& r);
    void drain_events();
    void watch();
    bool wait_for_hangup();
    void reconnect();
    void reregister_locked();
    void map_domain_segment(std::vector<UniqueFd>& fds);
    void run_posted();
    void recount_matched_locked();
    void report_locked(Error problem);

    std::mutex mutex_;  // guards everything below but the atomics
    UniqueFd socket_;
    bool connected_ = true;
    std::string domain_;
    std::map<std::uint64_t, Registration> registered_;
    std::vector<Error> problems_;  // not yet taken by the application
    std::uint64_t next_local_id_ = 1;
    UniqueFd wake_;            // eventfd: tells the watcher to stop, or that work was posted
    std::mutex posted_mutex_;  // guards posted_ (never held with mutex_ waited for)
    std::vector<std::function<void()>> posted_;
    std::atomic<bool> stopping_{false};
    // The domain segment of the first daemon we met. Kept across restarts: timestamps of
    // topics already open must not change their calibration mid-stream.
    SharedMemory domain_segment_ = SharedMemory::empty();
    const layout::DomainClock* clock_ = nullptr;
    // The process that made this client. In a child forked from it the connection is the
    // parent's: the child must not speak on it (a "close" would close the parent's
    // handles), and the watcher thread does not exist there.
    const pid_t owner_pid_;
    [[nodiscard]] bool in_forked_child() const noexcept;
    std::thread watcher_;
};

/// Where the ipcbusd executable is: $IPCBUS_DAEMON, next to this program (or in the build
/// tree's daemon/ folder), the install prefix, or PATH. Empty if not found.
std::string find_daemon_executable();

}  // namespace ipcbus::detail
