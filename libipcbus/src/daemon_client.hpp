// A process's connection to the ipcbusd of its domain. Publishers and subscribers get
// their segments through it; its closing (the process dying) is how the daemon learns to
// clean up after the process.
#pragma once

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "ipc/unique_fd.hpp"
#include "ipcbus/result.hpp"

namespace ipcbus::detail {

class DaemonClient {
  public:
    /// Connects to the daemon of `domain`. If none answers, starts one (detached, exits by
    /// itself when idle) unless IPCBUS_NO_AUTOSTART=1, and connects to it.
    static Result<std::shared_ptr<DaemonClient>> connect(const std::string& domain);

    struct Reply {
        nlohmann::json body;
        UniqueFd fd;  // a segment, for replies that grant one
    };

    /// Sends a request and waits for its reply. Thread-safe (one request at a time).
    Result<Reply> call(const nlohmann::json& request);

    /// Tells the daemon a handle is closed; errors are ignored (the daemon also cleans up
    /// when the connection closes). Thread-safe.
    void close_handle(std::uint64_t handle) noexcept;

    [[nodiscard]] const std::string& domain() const noexcept { return domain_; }

    DaemonClient(UniqueFd socket, std::string domain)
        : socket_(std::move(socket)), domain_(std::move(domain)) {}

  private:
    std::mutex mutex_;
    UniqueFd socket_;
    std::string domain_;
};

/// Where the ipcbusd executable is: $IPCBUS_DAEMON, next to this program (or in the build
/// tree's daemon/ folder), the install prefix, or PATH. Empty if not found.
std::string find_daemon_executable();

}  // namespace ipcbus::detail
