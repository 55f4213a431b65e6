// SPDX-License-Identifier: Apache-2.0
#include "daemon_endpoint.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string_view>

#include "ipc/unix_socket.hpp"
#include "protocol.hpp"

namespace ipcbus::detail {
namespace {

// The uid of a user name or of a decimal uid; false if there is no such user.
bool lookup_uid(const std::string& user, uid_t& uid) {
    if (!user.empty() && user.find_first_not_of("0123456789") == std::string::npos) {
        uid = static_cast<uid_t>(std::strtoul(user.c_str(), nullptr, 10));
        return true;
    }
    passwd entry{};
    passwd* found = nullptr;
    char buffer[4096];
    if (::getpwnam_r(user.c_str(), &entry, buffer, sizeof buffer, &found) != 0 || !found) {
        return false;
    }
    uid = found->pw_uid;
    return true;
}

std::string user_name(uid_t uid) {
    passwd entry{};
    passwd* found = nullptr;
    char buffer[4096];
    std::string name = "uid " + std::to_string(uid);
    if (::getpwuid_r(uid, &entry, buffer, sizeof buffer, &found) == 0 && found) {
        name += " (" + std::string(found->pw_name) + ")";
    }
    return name;
}

const char* daemon_user_variable() {
    const char* v = std::getenv("IPCBUS_DAEMON_USER");
    return v != nullptr ? v : "";
}

// Root can read every segment anyway; our own uid is ourselves; the others a person chose:
// the system user the Debian package creates and whoever IPCBUS_DAEMON_USER names.
bool trusted_daemon_uid(uid_t uid) {
    if (uid == 0 || uid == ::geteuid()) return true;
    uid_t named = 0;
    if (lookup_uid("ipcbus", named) && named == uid) return true;
    std::string_view rest = daemon_user_variable();
    while (!rest.empty()) {
        const auto comma = rest.find(',');
        if (lookup_uid(std::string(rest.substr(0, comma)), named) && named == uid) return true;
        rest = comma == std::string_view::npos ? "" : rest.substr(comma + 1);
    }
    return false;
}

Error untrusted(const std::string& domain, const std::string& socket, const PeerCredentials& peer) {
    const std::string variable = daemon_user_variable();
    return Error{ErrorCode::permission_denied,
                 "domain '" + domain + "': the process serving " + describe_socket(socket) +
                     " (pid " + std::to_string(peer.pid) + ") runs as " + user_name(peer.uid) +
                     ", which is not root, not this process's user (" + user_name(::geteuid()) +
                     "), the 'ipcbus' user, or a user in IPCBUS_DAEMON_USER (" +
                     (variable.empty() ? "unset" : "'" + variable + "'") +
                     "): refusing it, as another user may be impersonating the daemon. If it "
                     "is the domain's daemon, add its user to IPCBUS_DAEMON_USER; otherwise "
                     "stop it and run ipcbusd as a trusted user"};
}

// A daemon that a client of another user autostarted runs with that user's rights and no
// configuration: it serves that user's processes, not ours. Asked only across users, so a
// process talking to its own daemon pays no extra round trip.
Result<Ok> refuse_if_autostarted_by_another(int fd, const std::string& domain, uid_t uid) {
    // A failed send is no answer yet: a daemon turning us away (a connection limit) has
    // sent its reason before hanging up, and the receive below reads it.
    (void)send_message(fd, protocol::make_simple("hello").dump());
    std::string message;
    std::vector<UniqueFd> unused;
    RecvStatus status = recv_message(fd, message, unused);
    // A refusal (a connection limit) is queued behind the reset our unread hello caused.
    if (status == RecvStatus::closed) status = recv_message(fd, message, unused, true);
    if (status != RecvStatus::message) {
        return Error{ErrorCode::daemon_unreachable,
                     "daemon not reachable for domain '" + domain + "': connection lost"};
    }
    auto hello = protocol::parse_reply(message);
    if (!hello) return std::move(hello).error();
    if (hello->value("autostarted", false)) {
        return Error{ErrorCode::permission_denied,
                     "domain '" + domain + "': its daemon was autostarted by a client of " +
                         user_name(uid) +
                         " for that user's processes, with no configuration: refusing it. "
                         "Run a daemon for every user (ipcbusd --domain " +
                         domain + " --config FILE, or the ipcbusd@" + domain + " unit)"};
    }
    return Ok{};
}

Result<Ok> verify_daemon(int fd, const std::string& domain, const std::string& socket) {
    PeerCredentials peer;
    if (!peer_credentials(fd, peer)) {
        return Error{
            ErrorCode::system_error,
            "domain '" + domain + "': cannot read the credentials of " + describe_socket(socket)};
    }
    if (!trusted_daemon_uid(peer.uid)) return untrusted(domain, socket, peer);
    if (peer.uid != ::geteuid()) return refuse_if_autostarted_by_another(fd, domain, peer.uid);
    return Ok{};
}

std::string socket_in(const std::string& dir, const std::string& domain) {
    return dir + "/" + domain + ".sock";
}

}  // namespace

std::string socket_dir_from_environment() {
    const char* v = std::getenv("IPCBUS_SOCKET_DIR");
    return v != nullptr ? std::string(v) : std::string();
}

std::vector<std::string> daemon_sockets(const std::string& domain) {
    if (const std::string dir = socket_dir_from_environment(); !dir.empty()) {
        return {socket_in(dir, domain)};
    }
    std::vector<std::string> sockets;
    struct stat st {};
    if (const std::string system = socket_in(kSystemSocketDir, domain);
        ::stat(system.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
        sockets.push_back(system);
    }
    sockets.push_back(daemon_socket_name(domain));
    return sockets;
}

Result<UniqueFd> connect_to_daemon(const std::string& domain) {
    std::string tried;
    for (const std::string& socket : daemon_sockets(domain)) {
        auto fd = connect_seqpacket(socket);
        if (!fd && fd.error().code == ErrorCode::permission_denied) return fd;
        if (!fd) {
            tried += (tried.empty() ? "" : "; ") + fd.error().message;
            continue;
        }
        if (auto verified = verify_daemon(fd->get(), domain, socket); !verified) {
            return std::move(verified).error();
        }
        return fd;
    }
    return Error{ErrorCode::daemon_unreachable, tried};
}

}  // namespace ipcbus::detail
