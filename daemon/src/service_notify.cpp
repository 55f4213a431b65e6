// SPDX-License-Identifier: Apache-2.0
#include "service_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace ipcbusd {

std::string notify_ready() {
    const char* target = std::getenv("NOTIFY_SOCKET");
    if (target == nullptr || *target == '\0') return {};
    const std::string_view path = target;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof address.sun_path || (path[0] != '/' && path[0] != '@')) {
        return "NOTIFY_SOCKET '" + std::string(path) + "' is not a socket path or @name";
    }
    std::memcpy(address.sun_path, path.data(), path.size());
    if (path[0] == '@') address.sun_path[0] = '\0';  // an abstract name
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::string("socket for NOTIFY_SOCKET: ") + std::strerror(errno);
    constexpr std::string_view kReady = "READY=1";
    const ssize_t sent = ::sendto(fd, kReady.data(), kReady.size(), MSG_NOSIGNAL,
                                  reinterpret_cast<const sockaddr*>(&address), length);
    const int error = errno;
    ::close(fd);
    if (sent < 0)
        return "sending READY=1 to NOTIFY_SOCKET '" + std::string(path) +
               "': " + std::strerror(error);
    return {};
}

}  // namespace ipcbusd
