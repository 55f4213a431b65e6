// SPDX-License-Identifier: Apache-2.0
// Real child processes for multi-process tests: fork + exec of a peer program, with its
// stdin and stdout on pipes so the test synchronises on what the child says, never on
// sleeps.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace ipcbus::test {

class ChildProcess {
  public:
    /// Starts `argv[0]` with the given arguments. Aborts the test on failure to fork.
    explicit ChildProcess(const std::vector<std::string>& argv);
    ChildProcess(ChildProcess&& other) noexcept;
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;
    ~ChildProcess();  // kills and reaps a child still running

    /// Next line the child wrote to stdout (without '\n'); nullopt at end of output.
    std::optional<std::string> read_line();
    /// Reads lines until one starts with `prefix`; returns it, or nullopt at end of output.
    std::optional<std::string> wait_for_line(const std::string& prefix);
    /// Writes one line to the child's stdin.
    bool write_line(const std::string& line);
    /// Closes the child's stdin (it sees end of input).
    void close_stdin();
    /// Waits for the child to exit; returns its exit code, or 128+signal if killed.
    int wait();
    /// Sends SIGKILL (as a crash would) and reaps the child.
    int kill_hard();
    /// Sends SIGTERM and reaps the child.
    int terminate();
    /// Waits until the child stops (SIGSTOP, raised by itself or sent); false if it ended.
    bool wait_stopped();
    /// Continues a stopped child (SIGCONT).
    void resume();

    [[nodiscard]] pid_t pid() const noexcept { return pid_; }

  private:
    pid_t pid_ = -1;
    int stdin_fd_ = -1;
    int stdout_fd_ = -1;
    std::string buffered_;
    std::optional<int> status_;
};

/// Path of the peer program (set by CMake).
std::string peer_path();
/// Path of ipcbusd (set by CMake).
std::string daemon_path();
/// Path of the delivery-guarantee peer, tests/support/delivery_peer.cpp (set by CMake).
std::string delivery_peer_path();

}  // namespace ipcbus::test
