// SPDX-License-Identifier: Apache-2.0
#include "line_reader.hpp"

#include <poll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include "cli_common.hpp"

namespace ipcbus::cli {
namespace {

constexpr int kStopCheckIntervalMs = 50;

[[noreturn]] void throw_read_error() {
    throw CliError(std::string("reading standard input: ") + std::strerror(errno));
}

}  // namespace

std::optional<std::string> LineReader::next() {
    for (;;) {
        if (const auto newline = buffer_.find('\n'); newline != std::string::npos) {
            std::string line = buffer_.substr(0, newline);
            buffer_.erase(0, newline + 1);
            return line;
        }
        if (at_end_) {
            if (buffer_.empty()) return std::nullopt;
            return std::exchange(buffer_, {});
        }
        if (!fill()) return std::nullopt;
    }
}

bool LineReader::fill() {
    pollfd readable{fd_, POLLIN, 0};
    for (;;) {
        if (stop_requested()) return false;
        const int ready = ::poll(&readable, 1, kStopCheckIntervalMs);
        if (ready < 0 && errno != EINTR) throw_read_error();
        if (ready <= 0) continue;
        std::array<char, 65536> chunk;  // filled by read()
        const ssize_t n = ::read(fd_, chunk.data(), chunk.size());
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            throw_read_error();
        }
        if (n == 0) {
            at_end_ = true;
        } else {
            buffer_.append(chunk.data(), static_cast<std::size_t>(n));
        }
        return true;
    }
}

}  // namespace ipcbus::cli
