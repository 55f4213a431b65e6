#include "daemon_client.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "clock.hpp"
#include "ipc/unix_socket.hpp"
#include "protocol.hpp"

namespace ipcbus::detail {
namespace {

namespace fs = std::filesystem;

// How long a client waits for a daemon it started to accept connections.
constexpr std::uint64_t kStartWaitNs = 5'000'000'000ULL;

bool autostart_disabled() {
    const char* v = std::getenv("IPCBUS_NO_AUTOSTART");
    return v != nullptr && std::string_view(v) == "1";
}

bool is_executable(const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
}

// Starts the daemon detached from us (double fork, new session), so it outlives this
// process and is never our zombie.
bool spawn_daemon(const std::string& path, const std::string& domain) {
    const pid_t child = ::fork();
    if (child < 0) return false;
    if (child == 0) {
        if (::fork() != 0) ::_exit(0);
        ::setsid();
        const int null = ::open("/dev/null", O_RDWR);
        if (null >= 0) {
            ::dup2(null, STDIN_FILENO);
            ::dup2(null, STDOUT_FILENO);
            ::dup2(null, STDERR_FILENO);
        }
        const char* argv[] = {path.c_str(), "--domain", domain.c_str(), "--autostarted", nullptr};
        ::execv(path.c_str(), const_cast<char* const*>(argv));
        ::_exit(127);
    }
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    return true;
}

Result<UniqueFd> connect_with_retry(const std::string& name) {
    const std::uint64_t deadline = monotonic_ns() + kStartWaitNs;
    for (;;) {
        auto fd = connect_seqpacket(name);
        if (fd || monotonic_ns() > deadline) return fd;
        timespec pause{0, 2'000'000};  // the daemon is starting: check every 2 ms
        ::nanosleep(&pause, nullptr);
    }
}

Error unreachable(const std::string& domain, const std::string& why) {
    return Error{ErrorCode::daemon_unreachable,
                 "daemon not reachable for domain '" + domain + "': " + why};
}

}  // namespace

std::string find_daemon_executable() {
    if (const char* env = std::getenv("IPCBUS_DAEMON"); env != nullptr && *env != '\0') {
        return is_executable(env) ? std::string(env) : std::string();
    }
    std::error_code ec;
    const fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        const fs::path dir = self.parent_path();
        for (const fs::path& p : {dir / "ipcbusd", dir.parent_path() / "daemon" / "ipcbusd"}) {
            if (is_executable(p)) return p;
        }
    }
#ifdef IPCBUS_INSTALL_BINDIR
    if (const fs::path p = fs::path(IPCBUS_INSTALL_BINDIR) / "ipcbusd"; is_executable(p)) return p;
#endif
    if (const char* path = std::getenv("PATH")) {
        std::string_view rest = path;
        while (!rest.empty()) {
            const auto colon = rest.find(':');
            const fs::path p = fs::path(std::string(rest.substr(0, colon))) / "ipcbusd";
            if (is_executable(p)) return p;
            rest = colon == std::string_view::npos ? "" : rest.substr(colon + 1);
        }
    }
    return {};
}

Result<std::shared_ptr<DaemonClient>> DaemonClient::connect(const std::string& domain) {
    const std::string name = daemon_socket_name(domain);
    auto fd = connect_seqpacket(name);
    if (!fd) {
        if (autostart_disabled()) {
            return unreachable(domain,
                               "none is running and IPCBUS_NO_AUTOSTART=1 (start one: "
                               "ipcbusd --domain " +
                                   domain + ")");
        }
        const std::string path = find_daemon_executable();
        if (path.empty()) {
            return unreachable(domain,
                               "none is running and ipcbusd was not found "
                               "(install it, or set IPCBUS_DAEMON to its path)");
        }
        if (!spawn_daemon(path, domain)) return unreachable(domain, "could not start " + path);
        fd = connect_with_retry(name);
        if (!fd) return unreachable(domain, "started " + path + " but " + fd.error().message);
    }
    auto client = std::make_shared<DaemonClient>(std::move(fd).value(), domain);
    auto hello = client->call(protocol::make_simple("hello"));
    if (!hello) return std::move(hello).error();
    return client;
}

Result<DaemonClient::Reply> DaemonClient::call(const nlohmann::json& request) {
    const std::string text = request.dump();
    std::lock_guard lock(mutex_);
    if (const int err = send_message(socket_.get(), text); err != 0) {
        return unreachable(domain_, std::string("connection lost (") + std::strerror(err) + ")");
    }
    std::string message;
    Reply reply;
    switch (recv_message(socket_.get(), message, reply.fd)) {
        case RecvStatus::message:
            break;
        case RecvStatus::too_large:
            return Error{ErrorCode::system_error, "daemon sent an oversized reply"};
        default:
            return unreachable(domain_, "connection lost");
    }
    auto body = protocol::parse_reply(message);
    if (!body) return std::move(body).error();
    reply.body = std::move(body).value();
    return reply;
}

void DaemonClient::close_handle(std::uint64_t handle) noexcept {
    try {
        (void)call(protocol::make_close(handle));
    } catch (...) {  // out of memory while closing: the daemon cleans up at disconnect
    }
}

}  // namespace ipcbus::detail
