// SPDX-License-Identifier: Apache-2.0
// A child process whose standard output this process reads (for `ipcbus perf`).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace ipcbus::cli {

class Subprocess {
  public:
    /// Starts `path` with `argv` (argv[0] is the name it sees) and its standard output on a
    /// pipe. The child receives SIGTERM if this process dies first, so it never outlives
    /// an interrupted run. Throws CliError if it cannot be started.
    Subprocess(const std::string& path, const std::vector<std::string>& argv);
    Subprocess(Subprocess&& other) noexcept;
    Subprocess(const Subprocess&) = delete;
    Subprocess& operator=(const Subprocess&) = delete;
    Subprocess& operator=(Subprocess&&) = delete;
    ~Subprocess();  // terminates and reaps a child still running

    /// All it writes to stdout until it closes it; std::nullopt if a stop was requested
    /// first.
    std::optional<std::string> read_output();
    /// Its exit code (128 + signal if a signal ended it) if it has exited; does not wait.
    std::optional<int> try_wait() noexcept;
    /// Waits for it to exit; its exit code, or 128 + signal.
    int wait() noexcept;

  private:
    void record(int raw_status) noexcept;

    pid_t pid_ = -1;
    int stdout_fd_ = -1;
    std::optional<int> exit_code_;
};

}  // namespace ipcbus::cli
