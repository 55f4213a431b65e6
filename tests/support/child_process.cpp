// SPDX-License-Identifier: Apache-2.0
#include "child_process.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace ipcbus::test {

ChildProcess::ChildProcess(const std::vector<std::string>& argv) {
    int in[2];
    int out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) std::abort();
    pid_ = ::fork();
    if (pid_ < 0) std::abort();
    if (pid_ == 0) {
        ::dup2(in[0], STDIN_FILENO);
        ::dup2(out[1], STDOUT_FILENO);
        // Nothing else crosses the exec (whatever the test runner left open, say), so a
        // child starts with exactly descriptors 0-2, as the resource-limit tests assume.
        ::close_range(3, ~0U, 0);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        std::perror("execv");
        ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    stdin_fd_ = in[1];
    stdout_fd_ = out[0];
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      stdin_fd_(std::exchange(other.stdin_fd_, -1)),
      stdout_fd_(std::exchange(other.stdout_fd_, -1)),
      buffered_(std::move(other.buffered_)),
      status_(other.status_) {}

ChildProcess::~ChildProcess() {
    if (pid_ > 0 && !status_) {
        ::kill(pid_, SIGKILL);
        wait();
    }
    if (stdin_fd_ >= 0) ::close(stdin_fd_);
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

bool ChildProcess::wait_stopped() {
    if (status_) return false;
    int status = 0;
    for (;;) {
        const pid_t got = ::waitpid(pid_, &status, WUNTRACED);
        if (got == pid_) break;
        if (got < 0 && errno != EINTR) return false;
    }
    if (WIFSTOPPED(status)) return true;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
}

void ChildProcess::resume() {
    if (pid_ > 0 && !status_) ::kill(pid_, SIGCONT);
}

std::optional<std::string> ChildProcess::read_line() {
    for (;;) {
        if (auto nl = buffered_.find('\n'); nl != std::string::npos) {
            std::string line = buffered_.substr(0, nl);
            buffered_.erase(0, nl + 1);
            return line;
        }
        char chunk[4096];
        const ssize_t n = ::read(stdout_fd_, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return std::nullopt;
        buffered_.append(chunk, static_cast<std::size_t>(n));
    }
}

std::optional<std::string> ChildProcess::wait_for_line(const std::string& prefix) {
    while (auto line = read_line()) {
        if (line->starts_with(prefix)) return line;
    }
    return std::nullopt;
}

bool ChildProcess::write_line(const std::string& line) {
    const std::string data = line + "\n";
    return ::write(stdin_fd_, data.data(), data.size()) == static_cast<ssize_t>(data.size());
}

void ChildProcess::close_stdin() {
    if (stdin_fd_ >= 0) ::close(std::exchange(stdin_fd_, -1));
}

int ChildProcess::wait() {
    if (status_) return *status_;
    int raw = 0;
    while (::waitpid(pid_, &raw, 0) < 0 && errno == EINTR) {
    }
    status_ = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
    return *status_;
}

std::string peer_path() {
    return IPCBUS_TEST_PEER_PATH;
}

}  // namespace ipcbus::test

namespace ipcbus::test {

int ChildProcess::kill_hard() {
    if (!status_) ::kill(pid_, SIGKILL);
    return wait();
}

int ChildProcess::terminate() {
    if (!status_) ::kill(pid_, SIGTERM);
    return wait();
}

std::string daemon_path() {
    return IPCBUS_DAEMON_PATH;
}

std::string delivery_peer_path() {
    return IPCBUS_DELIVERY_PEER_PATH;
}

}  // namespace ipcbus::test
