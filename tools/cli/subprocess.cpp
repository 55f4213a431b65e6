// SPDX-License-Identifier: Apache-2.0
#include "subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include "cli_common.hpp"

namespace ipcbus::cli {
namespace {

constexpr int kChildPollIntervalMs = 50;

[[noreturn]] void throw_system_error(const std::string& what) {
    throw CliError(what + ": " + std::strerror(errno));
}

// In the child between fork and exec: only async-signal-safe calls (this process may have
// threads, whose locks the child inherits in whatever state they were).
[[noreturn]] void exec_child(const char* path, char* const* argv, int stdout_fd, pid_t parent) {
    ::dup2(stdout_fd, STDOUT_FILENO);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
    ::execv(path, argv);
    ::_exit(127);
}

}  // namespace

Subprocess::Subprocess(const std::string& path, const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    int out[2];
    // Close-on-exec: no other child inherits this pipe, so its end of output is seen.
    if (::pipe2(out, O_CLOEXEC) != 0) throw_system_error("pipe");
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw_system_error("fork");
    if (pid_ == 0) exec_child(path.c_str(), args.data(), out[1], parent);
    ::close(out[1]);
    stdout_fd_ = out[0];
}

Subprocess::Subprocess(Subprocess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      stdout_fd_(std::exchange(other.stdout_fd_, -1)),
      exit_code_(other.exit_code_) {}

Subprocess::~Subprocess() {
    if (pid_ > 0 && !exit_code_) {
        ::kill(pid_, SIGTERM);
        wait();
    }
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

std::optional<std::string> Subprocess::read_output() {
    std::string output;
    pollfd readable{stdout_fd_, POLLIN, 0};
    std::array<char, 65536> chunk;  // filled by read()
    for (;;) {
        if (stop_requested()) return std::nullopt;
        if (::poll(&readable, 1, kChildPollIntervalMs) <= 0) continue;  // timeout or EINTR
        const ssize_t n = ::read(stdout_fd_, chunk.data(), chunk.size());
        if (n == 0) return output;
        if (n > 0) {
            output.append(chunk.data(), static_cast<std::size_t>(n));
        } else if (errno != EINTR) {
            throw_system_error("reading a subprocess's output");
        }
    }
}

std::optional<int> Subprocess::try_wait() noexcept {
    if (exit_code_) return exit_code_;
    int raw = 0;
    if (::waitpid(pid_, &raw, WNOHANG) == pid_) record(raw);
    return exit_code_;
}

int Subprocess::wait() noexcept {
    if (exit_code_) return *exit_code_;
    int raw = 0;
    pid_t reaped = 0;
    while ((reaped = ::waitpid(pid_, &raw, 0)) < 0 && errno == EINTR) {
    }
    if (reaped == pid_) {
        record(raw);
    } else {
        exit_code_ = -1;  // cannot happen: only this object waits for its child
    }
    return *exit_code_;
}

void Subprocess::record(int raw_status) noexcept {
    exit_code_ = WIFEXITED(raw_status) ? WEXITSTATUS(raw_status) : 128 + WTERMSIG(raw_status);
}

}  // namespace ipcbus::cli
