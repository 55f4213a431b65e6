// SPDX-License-Identifier: Apache-2.0
#include "cli_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <utility>

extern char** environ;

namespace ipcbus::test {
namespace {

std::vector<std::string> environment_with(const std::vector<std::string>& overrides) {
    std::vector<std::string> env;
    for (char** entry = environ; *entry != nullptr; ++entry) env.emplace_back(*entry);
    for (const auto& assignment : overrides) {
        const std::string prefix = assignment.substr(0, assignment.find('=') + 1);
        std::erase_if(env, [&](const std::string& e) { return e.starts_with(prefix); });
        env.push_back(assignment);
    }
    return env;
}

std::vector<char*> c_strings(const std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
    out.push_back(nullptr);
    return out;
}

void make_pipe(int fds[2]) {
    if (::pipe2(fds, O_CLOEXEC) != 0) std::abort();
}

// Reads what is there into `into`; false at end of output.
bool read_some(int fd, std::string& into) {
    std::array<char, 4096> chunk;  // filled by read()
    ssize_t n = 0;
    while ((n = ::read(fd, chunk.data(), chunk.size())) < 0 && errno == EINTR) {
    }
    if (n <= 0) return false;
    into.append(chunk.data(), static_cast<std::size_t>(n));
    return true;
}

void close_fd(int& fd) {
    if (fd >= 0) ::close(std::exchange(fd, -1));
}

// The next whole line in `buffer`, reading more from `fd` as needed.
std::optional<std::string> next_line(int fd, std::string& buffer) {
    for (;;) {
        if (const auto newline = buffer.find('\n'); newline != std::string::npos) {
            std::string line = buffer.substr(0, newline);
            buffer.erase(0, newline + 1);
            return line;
        }
        if (!read_some(fd, buffer)) return std::nullopt;
    }
}

}  // namespace

std::string cli_path() {
    return IPCBUS_CLI_PATH;
}

CliProcess::CliProcess(const std::vector<std::string>& args, const std::vector<std::string>& env) {
    // A child that exits before reading its input must not kill the test with SIGPIPE.
    ::signal(SIGPIPE, SIG_IGN);
    std::vector<std::string> argv{cli_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    const std::vector<std::string> envp = environment_with(env);
    const auto argv_c = c_strings(argv);
    const auto envp_c = c_strings(envp);
    int in[2], out[2], err[2];
    make_pipe(in);
    make_pipe(out);
    make_pipe(err);
    pid_ = ::fork();
    if (pid_ < 0) std::abort();
    if (pid_ == 0) {  // only async-signal-safe calls until exec: the test has threads
        ::signal(SIGPIPE, SIG_DFL);
        ::dup2(in[0], STDIN_FILENO);
        ::dup2(out[1], STDOUT_FILENO);
        ::dup2(err[1], STDERR_FILENO);
        ::execve(argv_c[0], argv_c.data(), envp_c.data());
        ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    stdin_fd_ = in[1];
    stdout_fd_ = out[0];
    stderr_fd_ = err[0];
}

CliProcess::~CliProcess() {
    if (!reaped_) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
    close_fd(stdin_fd_);
    close_fd(stdout_fd_);
    close_fd(stderr_fd_);
}

std::optional<std::string> CliProcess::read_line() {
    return next_line(stdout_fd_, stdout_buffer_);
}

std::optional<std::string> CliProcess::read_error_line() {
    return next_line(stderr_fd_, stderr_buffer_);
}

void CliProcess::send_signal(int signal_number) {
    ::kill(pid_, signal_number);
}

CliOutcome CliProcess::finish(std::string_view input) {
    CliOutcome outcome;
    outcome.out = std::exchange(stdout_buffer_, {});
    outcome.err = std::exchange(stderr_buffer_, {});
    // Feed stdin while draining both outputs: a child blocked writing to a full pipe would
    // never read the rest of its input.
    while (stdout_fd_ >= 0 || stderr_fd_ >= 0) {
        if (input.empty()) close_fd(stdin_fd_);
        std::array<pollfd, 3> fds{pollfd{stdin_fd_, POLLOUT, 0}, pollfd{stdout_fd_, POLLIN, 0},
                                  pollfd{stderr_fd_, POLLIN, 0}};
        if (::poll(fds.data(), fds.size(), -1) < 0) continue;  // EINTR
        if (fds[0].revents & (POLLOUT | POLLERR)) {
            const ssize_t n = ::write(stdin_fd_, input.data(), input.size());
            input = n > 0 ? input.substr(static_cast<std::size_t>(n)) : std::string_view{};
        }
        if (fds[1].revents != 0 && !read_some(stdout_fd_, outcome.out)) close_fd(stdout_fd_);
        if (fds[2].revents != 0 && !read_some(stderr_fd_, outcome.err)) close_fd(stderr_fd_);
    }
    close_fd(stdin_fd_);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    outcome.exited = WIFEXITED(status);
    outcome.exit_code = outcome.exited ? WEXITSTATUS(status) : -1;
    outcome.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    return outcome;
}

CliOutcome run_cli(const std::vector<std::string>& args, std::string_view input,
                   const std::vector<std::string>& env) {
    return CliProcess(args, env).finish(input);
}

}  // namespace ipcbus::test
