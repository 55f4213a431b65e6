// SPDX-License-Identifier: Apache-2.0
#include "ipc/unix_socket.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace ipcbus::detail {
namespace {

// A name starting with '/' is a socket file; any other is abstract: sun_path starts with
// NUL and the length is explicit. False if the name does not fit sun_path.
bool make_address(const std::string& name, sockaddr_un& addr, socklen_t& len) {
    std::memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    const bool file = is_socket_file(name);
    const std::size_t offset = file ? 0 : 1;  // a file's path ends with NUL, within sun_path
    if (name.size() + 1 > sizeof(addr.sun_path)) return false;
    std::memcpy(addr.sun_path + offset, name.data(), name.size());
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + offset + name.size() +
                                 (file ? 1 : 0));
    return true;
}

Error socket_error(const char* what, const std::string& name, int err) {
    return Error{
        err == EACCES || err == EPERM ? ErrorCode::permission_denied : ErrorCode::system_error,
        std::string(what) + " " + describe_socket(name) + ": " + std::strerror(err)};
}

Error too_long(const std::string& name) {
    return Error{ErrorCode::invalid_argument,
                 "socket " + describe_socket(name) + " is longer than the " +
                     std::to_string(sizeof(sockaddr_un::sun_path) - 1) +
                     " bytes a Unix socket address holds: choose a shorter directory"};
}

}  // namespace

bool is_socket_file(std::string_view name) noexcept {
    return name.starts_with('/');
}

std::string describe_socket(const std::string& name) {
    return is_socket_file(name) ? name : "@" + name;
}

std::string daemon_socket_name(std::string_view domain) {
    return "ipcbus/" + std::string(domain);
}

Result<UniqueFd> listen_seqpacket(const std::string& name) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd.valid()) return socket_error("socket", name, errno);
    sockaddr_un addr{};
    socklen_t len = 0;
    if (!make_address(name, addr, len)) return too_long(name);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
        return socket_error("bind", name, errno);
    }
    if (::listen(fd.get(), 128) != 0) return socket_error("listen", name, errno);
    return fd;
}

Result<UniqueFd> connect_seqpacket(const std::string& name) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return socket_error("socket", name, errno);
    sockaddr_un addr{};
    socklen_t len = 0;
    if (!make_address(name, addr, len)) return too_long(name);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
        return socket_error("connect", name, errno);
    }
    return fd;
}

int send_message(int socket, std::string_view message, std::span<const int> pass_fds) noexcept {
    if (pass_fds.size() > kMaxPassedFds) return EINVAL;
    iovec iov{const_cast<char*>(message.data()), message.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds)]{};
    if (!pass_fds.empty()) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * pass_fds.size());
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * pass_fds.size());
        std::memcpy(CMSG_DATA(c), pass_fds.data(), sizeof(int) * pass_fds.size());
    }
    for (;;) {
        // MSG_NOSIGNAL: a vanished peer is an error code here, not a SIGPIPE.
        if (::sendmsg(socket, &msg, MSG_NOSIGNAL) >= 0) return 0;
        if (errno != EINTR) return errno;
    }
}

RecvStatus recv_message(int socket, std::string& out, std::vector<UniqueFd>& fds, bool dont_wait) {
    // One buffer per thread, allocated once: resizing `out` to the maximum for every
    // message would zero 64 KiB each time.
    thread_local std::vector<char> buffer(kMaxMessageSize + 1);
    iovec iov{buffer.data(), buffer.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    // Room for more descriptors than we keep: a hostile peer may send extras; we close them.
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 2 * kMaxPassedFds)]{};
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    do {
        n = ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC | (dont_wait ? MSG_DONTWAIT : 0));
    } while (n < 0 && errno == EINTR);
    fds.clear();
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int received = -1;
            std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (fds.size() < kMaxPassedFds) {
                fds.emplace_back(received);
            } else {
                ::close(received);
            }
        }
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return RecvStatus::would_block;
    if (n < 0) return errno == ECONNRESET ? RecvStatus::closed : RecvStatus::error;
    if (n == 0) return RecvStatus::closed;
    if (static_cast<std::size_t>(n) > kMaxMessageSize || (msg.msg_flags & MSG_TRUNC) != 0) {
        fds.clear();
        return RecvStatus::too_large;
    }
    out.assign(buffer.data(), static_cast<std::size_t>(n));
    return RecvStatus::message;
}

bool peer_credentials(int socket, PeerCredentials& out) noexcept {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(socket, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
    out = PeerCredentials{cred.pid, cred.uid, cred.gid};
    return true;
}

}  // namespace ipcbus::detail
