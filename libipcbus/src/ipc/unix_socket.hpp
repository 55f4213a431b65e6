// Unix-domain SOCK_SEQPACKET sockets in the abstract namespace, carrying whole messages
// and, alongside, at most one file descriptor (SCM_RIGHTS). Used between ipcbusd and its
// clients. SEQPACKET keeps message boundaries and reports a peer's death as end of file.
// The abstract namespace leaves no socket file behind after a crash, and bind() failing
// with EADDRINUSE is how a second daemon for the same domain is refused.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "ipc/unique_fd.hpp"
#include "ipcbus/result.hpp"

namespace ipcbus::detail {

/// Largest message either side sends or accepts.
inline constexpr std::size_t kMaxMessageSize = 64 * 1024;

/// The daemon's socket name for a domain (abstract: no file system entry).
std::string daemon_socket_name(std::string_view domain);

/// Binds and listens (daemon side). EADDRINUSE means another daemon owns the domain.
Result<UniqueFd> listen_seqpacket(const std::string& abstract_name);

/// Connects (client side); errno-style failure in the Error message.
Result<UniqueFd> connect_seqpacket(const std::string& abstract_name);

/// Sends one message, with `pass_fd` attached unless it is -1. Returns 0 or an errno.
int send_message(int socket, std::string_view message, int pass_fd = -1) noexcept;

enum class RecvStatus { message, closed, too_large, would_block, error };

/// Receives one message into `out`. A descriptor that came with it lands in `fd` (closed
/// automatically if unwanted). too_large: the message exceeded kMaxMessageSize (dropped).
RecvStatus recv_message(int socket, std::string& out, UniqueFd& fd);

/// The peer's credentials as the kernel recorded them at connect time (SO_PEERCRED).
struct PeerCredentials {
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
};
bool peer_credentials(int socket, PeerCredentials& out) noexcept;

}  // namespace ipcbus::detail
