// SPDX-License-Identifier: Apache-2.0
// The ipcbus tool as a real child process, driven as a shell would: arguments, environment,
// standard input, and both output streams captured, so tests can check the exact error
// line on stderr and tell a clean exit from a death by signal.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ipcbus::test {

/// How a finished process ended and what it wrote.
struct CliOutcome {
    bool exited = false;  // false: a signal killed it
    int exit_code = -1;   // when exited
    int signal = 0;       // when killed
    std::string out;
    std::string err;
};

class CliProcess {
  public:
    /// Starts the ipcbus tool with `args`; `env` entries ("NAME=value") are added to this
    /// process's environment, replacing a variable of the same name.
    explicit CliProcess(const std::vector<std::string>& args,
                        const std::vector<std::string>& env = {});
    CliProcess(const CliProcess&) = delete;
    CliProcess& operator=(const CliProcess&) = delete;
    ~CliProcess();  // kills and reaps a process still running

    /// Next line it wrote to stdout (without '\n'); std::nullopt at end of output.
    std::optional<std::string> read_line();
    /// Next line it wrote to stderr; std::nullopt at end of it.
    std::optional<std::string> read_error_line();
    /// Sends it a signal, as Ctrl-C (SIGINT) would.
    void send_signal(int signal_number);
    /// Writes `input` to its stdin and closes it, reads the rest of its stdout and all of
    /// its stderr, and reaps it.
    CliOutcome finish(std::string_view input = {});

    [[nodiscard]] pid_t pid() const noexcept { return pid_; }

  private:
    pid_t pid_ = -1;
    int stdin_fd_ = -1;
    int stdout_fd_ = -1;
    int stderr_fd_ = -1;
    std::string stdout_buffer_;
    std::string stderr_buffer_;
    bool reaped_ = false;
};

/// Runs the ipcbus tool to completion with `args`, `input` on its stdin.
CliOutcome run_cli(const std::vector<std::string>& args, std::string_view input = {},
                   const std::vector<std::string>& env = {});

/// Path of the ipcbus tool (set by CMake).
std::string cli_path();

}  // namespace ipcbus::test
