// SPDX-License-Identifier: Apache-2.0
// Reading standard input line by line without making Ctrl-C wait for the next line.
#pragma once

#include <optional>
#include <string>

namespace ipcbus::cli {

/// Reads lines from a file descriptor. It waits in poll() with a short timeout and looks
/// at stop_requested() in between: the signal may be delivered to a library thread, which
/// would leave a plain blocking read() waiting.
class LineReader {
  public:
    explicit LineReader(int fd) noexcept : fd_(fd) {}

    /// The next line without its '\n' (a last line without one counts too); std::nullopt
    /// at end of input or once a stop is requested. Throws CliError on a read error.
    std::optional<std::string> next();

  private:
    /// Appends what can be read to buffer_ (or notes end of input); false on a stop request.
    bool fill();

    int fd_;
    std::string buffer_;
    bool at_end_ = false;
};

}  // namespace ipcbus::cli
