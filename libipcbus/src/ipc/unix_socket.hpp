// SPDX-License-Identifier: Apache-2.0
// Unix-domain SOCK_SEQPACKET sockets, abstract or files, carrying whole messages
// and, alongside, a few file descriptors (SCM_RIGHTS). Used between ipcbusd and its
// clients. SEQPACKET keeps message boundaries and reports a peer's death as end of file.
// The abstract namespace leaves no socket file behind after a crash, and bind() failing
// with EADDRINUSE is how a second daemon for the same domain is refused.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ipc/unique_fd.hpp"
#include "ipcbus/result.hpp"

namespace ipcbus::detail {

/// Largest message either side sends or accepts.
inline constexpr std::size_t kMaxMessageSize = 64 * 1024;

/// The daemon's abstract socket name for a domain (no file system entry).
std::string daemon_socket_name(std::string_view domain);

/// Socket names below: one starting with '/' is a socket file, any other is abstract.
bool is_socket_file(std::string_view name) noexcept;

/// "@name" for an abstract name, the path for a file: how messages show a socket.
std::string describe_socket(const std::string& name);

/// Binds and listens (daemon side). EADDRINUSE means another daemon owns the domain.
Result<UniqueFd> listen_seqpacket(const std::string& name);

/// Connects (client side); errno-style failure in the Error message.
Result<UniqueFd> connect_seqpacket(const std::string& name);

/// Most descriptors one message carries; a receiver closes any beyond.
inline constexpr std::size_t kMaxPassedFds = 8;

/// Sends one message with `pass_fds` attached (at most kMaxPassedFds). Returns 0 or an errno.
int send_message(int socket, std::string_view message, std::span<const int> pass_fds = {}) noexcept;

enum class RecvStatus { message, closed, too_large, would_block, error };

/// Receives one message into `out`. Descriptors that came with it land in `fds` (the
/// first kMaxPassedFds; others are closed at once). too_large: the message exceeded
/// kMaxMessageSize (dropped, descriptors closed).
/// With `dont_wait`, returns would_block at once when nothing is pending.
RecvStatus recv_message(int socket, std::string& out, std::vector<UniqueFd>& fds,
                        bool dont_wait = false);

/// The peer's credentials as the kernel recorded them at connect time (SO_PEERCRED).
struct PeerCredentials {
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
};
bool peer_credentials(int socket, PeerCredentials& out) noexcept;

}  // namespace ipcbus::detail
