// A process's connection to the ipcbusd of its domain. Publishers and subscribers get
// their segments through it; its closing (the process dying) is how the daemon learns to
// clean up after the process.
//
// If the daemon goes away, a watcher thread reconnects (starting a daemon if allowed) and
// re-registers every topic this process holds, handing the new daemon the segments
// themselves, so the registry is rebuilt. The data path never notices: it does not go
// through the daemon.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "ipc/unique_fd.hpp"
#include "ipcbus/result.hpp"

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
        std::vector<UniqueFd> fds;  // a topic's control and data segments, when granted
    };

    /// Sends a request and waits for its reply. Thread-safe (one request at a time).
    /// While the daemon is away it fails at once with daemon_unreachable.
    Result<Reply> call(const nlohmann::json& request);

    /// Remembers a granted topic so that it can be re-registered with a restarted daemon:
    /// the open request, the reader row or publisher id, and duplicates of the segments'
    /// descriptors. Returns the local id to forget() it by. Thread-safe.
    std::uint64_t remember(nlohmann::json open_request, std::uint32_t index, int control_fd,
                           int data_fd, std::uint64_t daemon_handle);

    /// Closes a remembered topic with the daemon (errors ignored: the daemon also cleans up
    /// when the connection closes). Thread-safe.
    void forget(std::uint64_t local_id) noexcept;

    [[nodiscard]] const std::string& domain() const noexcept { return domain_; }

  private:
    struct Registration {
        nlohmann::json open_request;
        std::uint32_t index;
        UniqueFd control;
        UniqueFd data;
        std::uint64_t daemon_handle;
    };

    Result<Reply> call_locked(const nlohmann::json& request, std::span<const int> pass_fds = {});
    void watch();
    bool wait_for_hangup();
    void reconnect();
    void reregister_locked();

    std::mutex mutex_;  // guards everything below but the atomics
    UniqueFd socket_;
    bool connected_ = true;
    std::string domain_;
    std::map<std::uint64_t, Registration> registered_;
    std::uint64_t next_local_id_ = 1;
    UniqueFd wake_;  // eventfd: tells the watcher to stop
    std::atomic<bool> stopping_{false};
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
