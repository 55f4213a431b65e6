// SPDX-License-Identifier: Apache-2.0
#include "endpoints.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "ipc/unix_socket.hpp"

namespace ipcbusd {
namespace {

using ipcbus::Error;
using ipcbus::ErrorCode;
using ipcbus::Result;
using ipcbus::detail::UniqueFd;

constexpr int kFirstPassedFd = 3;  // SD_LISTEN_FDS_START

Error already_served(const std::string& domain, const std::string& where) {
    return Error{ErrorCode::resource_exhausted,
                 "another ipcbusd already serves domain '" + domain + "' (" + where + ")"};
}

int socket_option(int fd, int option) {
    int value = -1;
    socklen_t len = sizeof value;
    return ::getsockopt(fd, SOL_SOCKET, option, &value, &len) == 0 ? value : -1;
}

// "@name" or the path a passed socket is bound to, for the log.
std::string bound_name(int fd) {
    sockaddr_un addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
        len <= offsetof(sockaddr_un, sun_path)) {
        return "fd " + std::to_string(fd);
    }
    const std::size_t n = len - offsetof(sockaddr_un, sun_path);
    if (addr.sun_path[0] == '\0') return "@" + std::string(addr.sun_path + 1, n - 1);
    return std::string(addr.sun_path, ::strnlen(addr.sun_path, n));
}

// The listening sockets a service manager passed (systemd's LISTEN_PID/LISTEN_FDS), each
// checked to be what clients expect: a listening Unix SOCK_SEQPACKET socket. None: not
// activated. The variables are removed so that no child of ours takes them for its own.
Result<std::vector<UniqueFd>> passed_listeners() {
    const char* pid = std::getenv("LISTEN_PID");
    const char* count = std::getenv("LISTEN_FDS");
    std::vector<UniqueFd> passed;
    if (pid == nullptr || count == nullptr ||
        std::strtol(pid, nullptr, 10) != static_cast<long>(::getpid())) {
        return passed;
    }
    const long n = std::strtol(count, nullptr, 10);
    for (int fd = kFirstPassedFd; fd < kFirstPassedFd + n; ++fd) passed.emplace_back(fd);
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    for (const UniqueFd& fd : passed) {
        if (socket_option(fd.get(), SO_DOMAIN) != AF_UNIX ||
            socket_option(fd.get(), SO_TYPE) != SOCK_SEQPACKET ||
            socket_option(fd.get(), SO_ACCEPTCONN) != 1) {
            return Error{ErrorCode::invalid_argument,
                         "socket activation passed fd " + std::to_string(fd.get()) +
                             ", which is not a listening Unix SOCK_SEQPACKET socket: set "
                             "ListenSequentialPacket= in the .socket unit"};
        }
        ::fcntl(fd.get(), F_SETFD, FD_CLOEXEC);
        ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
    }
    return passed;
}

}  // namespace

Endpoints::Endpoints(Endpoints&& other) noexcept
    : listeners_(std::move(other.listeners_)),
      names_(std::move(other.names_)),
      lock_(std::move(other.lock_)),
      socket_file_(std::exchange(other.socket_file_, {})) {}

Endpoints& Endpoints::operator=(Endpoints&& other) noexcept {
    if (this != &other) {
        if (!socket_file_.empty()) ::unlink(socket_file_.c_str());
        listeners_ = std::move(other.listeners_);
        names_ = std::move(other.names_);
        lock_ = std::move(other.lock_);
        socket_file_ = std::exchange(other.socket_file_, {});
    }
    return *this;
}

Endpoints::~Endpoints() {
    if (!socket_file_.empty()) ::unlink(socket_file_.c_str());
}

bool Endpoints::is_listener(int fd) const noexcept {
    for (const UniqueFd& l : listeners_) {
        if (l.get() == fd) return true;
    }
    return false;
}

std::string Endpoints::describe() const {
    std::string all;
    for (const std::string& name : names_) all += (all.empty() ? "" : " and ") + name;
    return all;
}

Result<Endpoints> Endpoints::open(const EndpointOptions& options) {
    Endpoints endpoints;
    auto passed = passed_listeners();
    if (!passed) return std::move(passed).error();
    if (!passed->empty()) {
        // The socket file is systemd's; the lock still keeps a daemon started by hand with
        // the same --socket-dir from replacing it.
        if (!options.socket_dir.empty()) {
            if (auto locked = endpoints.lock_domain(options); !locked) {
                return std::move(locked).error();
            }
        }
        for (UniqueFd& fd : *passed) {
            endpoints.names_.push_back(bound_name(fd.get()));
            endpoints.listeners_.push_back(std::move(fd));
        }
        return endpoints;
    }
    if (!options.socket_dir.empty()) {
        if (auto bound = endpoints.bind_socket_file(options); !bound) {
            return std::move(bound).error();
        }
    }
    if (options.abstract_name) {
        const std::string name = ipcbus::detail::daemon_socket_name(options.domain);
        auto fd = ipcbus::detail::listen_seqpacket(name);
        if (fd) {
            endpoints.names_.push_back("@" + name);
            endpoints.listeners_.push_back(std::move(fd).value());
        } else if (fd.error().message.find(std::strerror(EADDRINUSE)) == std::string::npos) {
            return std::move(fd).error();
        } else if (endpoints.listeners_.empty()) {
            return already_served(options.domain, "it holds @" + name);
        } else {
            // Not ours, though we hold the domain's lock: another user's process took the
            // name while no daemon ran. Clients that find the socket file are safe; those
            // that look only for the name refuse the impostor (it is not a trusted user).
            spdlog::warn("@{} is held by another process (an impostor?): serving {} only", name,
                         endpoints.describe());
        }
    }
    if (endpoints.listeners_.empty()) {
        return Error{ErrorCode::invalid_argument,
                     "no socket to serve domain '" + options.domain +
                         "' on: give --socket-dir, or do not turn off the abstract name"};
    }
    return endpoints;
}

// DIR/<domain>.sock, guarded by DIR/<domain>.lock: a socket file outlives a crashed daemon,
// so who serves the domain is decided by the lock (released by the kernel at death), and a
// file left behind is removed before binding.
Result<ipcbus::Ok> Endpoints::lock_domain(const EndpointOptions& options) {
    const std::string lock_path = options.socket_dir + "/" + options.domain + ".lock";
    lock_.reset(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!lock_.valid()) {
        return Error{errno == EACCES ? ErrorCode::permission_denied : ErrorCode::system_error,
                     "cannot open " + lock_path + ": " + std::strerror(errno) +
                         " (the socket directory must exist and be writable by the daemon's "
                         "user, and by no one else)"};
    }
    if (::flock(lock_.get(), LOCK_EX | LOCK_NB) != 0) {
        return already_served(options.domain, "it holds " + lock_path);
    }
    return ipcbus::Ok{};
}

Result<ipcbus::Ok> Endpoints::bind_socket_file(const EndpointOptions& options) {
    if (auto locked = lock_domain(options); !locked) return std::move(locked).error();
    const std::string path = options.socket_dir + "/" + options.domain + ".sock";
    ::unlink(path.c_str());  // a dead daemon's: the lock says no live one serves it
    auto fd = ipcbus::detail::listen_seqpacket(path);
    if (!fd) return std::move(fd).error();
    // Who may connect is the access policy's to decide, not the file mode.
    ::chmod(path.c_str(), 0666);
    socket_file_ = path;
    names_.push_back(path);
    listeners_.push_back(std::move(fd).value());
    return ipcbus::Ok{};
}

}  // namespace ipcbusd
