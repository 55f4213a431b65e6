// SPDX-License-Identifier: Apache-2.0
#include "daemon_client.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <new>
#include <optional>

#include "clock.hpp"
#include "daemon_endpoint.hpp"
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

// What the daemon must not inherit from whichever client happens to start it: its
// descriptors (a listening port would stay bound by ipcbusd after the client exits), its
// blocked and ignored signals (a client blocking SIGTERM made a daemon deaf to kill), its
// working directory and its session. Only async-signal-safe calls: the parent may have
// threads, and this runs between fork and exec.
void scrub_inherited_state(int null_fd) noexcept {
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) {
        ::sigaction(sig, &default_action, nullptr);  // SIGKILL/SIGSTOP refuse: harmless
    }
    if (null_fd >= 0) {
        ::dup2(null_fd, STDIN_FILENO);
        ::dup2(null_fd, STDOUT_FILENO);
        ::dup2(null_fd, STDERR_FILENO);
    }
    if (::close_range(3, ~0U, 0) != 0) {
        for (int fd = 3; fd < 65536; ++fd) ::close(fd);  // kernels before 5.9
    }
    [[maybe_unused]] const int rc = ::chdir("/");
    ::umask(022);
}

// Starts the daemon detached from us (double fork, new session), so it outlives this
// process and is never our zombie. Its own limits (RLIMIT_NOFILE) it sets itself.
bool spawn_daemon(const std::string& path, const std::string& domain) {
    // Where this process will look for it (IPCBUS_SOCKET_DIR) is where it must listen.
    const std::string socket_dir = socket_dir_from_environment();
    const pid_t child = ::fork();
    if (child < 0) return false;
    if (child == 0) {
        if (::fork() != 0) ::_exit(0);
        ::setsid();
        scrub_inherited_state(::open("/dev/null", O_RDWR));
        const char* argv[] = {path.c_str(),   "--domain",         domain.c_str(), "--autostarted",
                              "--socket-dir", socket_dir.c_str(), nullptr};
        if (socket_dir.empty()) argv[4] = nullptr;
        ::execv(path.c_str(), const_cast<char* const*>(argv));
        ::_exit(127);
    }
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    return true;
}

// A daemon answered and refused us (an impostor, a connection limit), or its socket is
// not ours to use: starting a daemon of our own would not help.
bool refused(const Result<UniqueFd>& fd) {
    return !fd && fd.error().code != ErrorCode::daemon_unreachable;
}

Result<UniqueFd> connect_with_retry(const std::string& domain) {
    const std::uint64_t deadline = monotonic_ns() + kStartWaitNs;
    for (;;) {
        auto fd = connect_to_daemon(domain);
        if (fd || refused(fd) || monotonic_ns() > deadline) return fd;
        timespec pause{0, 2'000'000};  // the daemon is starting: check every 2 ms
        ::nanosleep(&pause, nullptr);
    }
}

// The daemon may turn a connection away (a connection limit) and hang up before the
// client's first request: its reason is still queued, behind the reset that our unread
// request caused, and says more than "connection lost".
std::optional<Error> parting_words(int socket) {
    std::string message;
    std::vector<UniqueFd> none;
    if (recv_message(socket, message, none, /*dont_wait=*/true) != RecvStatus::message) {
        return std::nullopt;
    }
    auto body = protocol::parse_reply(message);
    if (body) return std::nullopt;
    return std::move(body).error();
}

Error unreachable(const std::string& domain, const std::string& why) {
    return Error{ErrorCode::daemon_unreachable,
                 "daemon not reachable for domain '" + domain + "': " + why};
}

// PREFIX/bin/ipcbusd for the shared object this code was loaded from, if that is a
// library under PREFIX/lib (empty for a static library: it is part of the executable).
fs::path daemon_beside_library() {
    Dl_info info{};
    if (::dladdr(reinterpret_cast<void*>(&find_daemon_executable), &info) == 0 ||
        info.dli_fname == nullptr) {
        return {};
    }
    std::error_code ec;
    const fs::path library = fs::canonical(info.dli_fname, ec);
    if (ec || library.filename().string().rfind("libipcbus.so", 0) != 0) return {};
    for (fs::path dir = library.parent_path(); dir.has_relative_path(); dir = dir.parent_path()) {
        if (dir.filename() == "lib" || dir.filename() == "lib64") {
            const fs::path p = dir.parent_path() / "bin" / "ipcbusd";
            return is_executable(p) ? p : fs::path();
        }
    }
    return {};
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
    // An installed shared library finds the daemon of its own installation, wherever the
    // prefix was moved to: PREFIX/lib[/multiarch]/libipcbus.so.0 -> PREFIX/bin/ipcbusd.
    if (const fs::path p = daemon_beside_library(); !p.empty()) return p;
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

namespace {

// Connects to the domain's daemon, starting one if none answers and that is allowed.
Result<UniqueFd> connect_or_start(const std::string& domain) {
    auto fd = connect_to_daemon(domain);
    if (fd || refused(fd)) return fd;
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
    fd = connect_with_retry(domain);
    if (refused(fd)) return fd;
    if (!fd) return unreachable(domain, "started " + path + " but " + fd.error().message);
    return fd;
}

}  // namespace

Result<std::shared_ptr<DaemonClient>> DaemonClient::connect(const std::string& domain) {
    auto fd = connect_or_start(domain);
    if (!fd) return std::move(fd).error();
    // The watcher thread's stop signal. Without it the destructor could not stop the
    // watcher and would wait for ever (found with RLIMIT_NOFILE at 4): fail here instead.
    UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake.valid()) {
        return Error{ErrorCode::resource_exhausted,
                     "domain '" + domain + "': cannot create an eventfd (" + std::strerror(errno) +
                         "): is the process out of file descriptors (RLIMIT_NOFILE)?"};
    }
    auto client = std::make_shared<DaemonClient>(std::move(fd).value(), std::move(wake), domain);
    auto hello = client->call(protocol::make_simple("hello"));
    if (!hello) return std::move(hello).error();
    {
        std::lock_guard lock(client->mutex_);
        client->map_domain_segment(hello->fds);
    }
    return client;
}

// The daemon's domain segment (its clock), if it sent one that validates. Without it,
// timestamps come from CLOCK_MONOTONIC: nothing else depends on it.
void DaemonClient::map_domain_segment(std::vector<UniqueFd>& fds) {
    if (clock_ != nullptr || fds.empty()) return;
    auto memory = SharedMemory::map(std::move(fds[0]), false, false, domain_);
    if (!memory) return;
    auto clock = validate_domain_segment(memory->bytes());
    if (!clock) return;
    domain_segment_ = std::move(memory).value();
    clock_ = *clock;
}

DaemonClient::DaemonClient(UniqueFd socket, UniqueFd wake, std::string domain)
    : socket_(std::move(socket)),
      domain_(std::move(domain)),
      wake_(std::move(wake)),
      owner_pid_(::getpid()) {
    watcher_ = std::thread([this] { watch(); });
}

bool DaemonClient::in_forked_child() const noexcept {
    return ::getpid() != owner_pid_;
}

DaemonClient::~DaemonClient() {
    if (in_forked_child()) {
        // The watcher thread lives in the parent only: joining its copy here would hang.
        // Reusing the member's storage without running ~thread is allowed; the copy is
        // simply forgotten. The descriptors closed below are this process's own copies.
        ::new (static_cast<void*>(&watcher_)) std::thread();
        return;
    }
    stopping_.store(true);
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
    if (watcher_.joinable()) watcher_.join();
}

Result<DaemonClient::Reply> DaemonClient::call(const nlohmann::json& request) {
    if (in_forked_child()) {
        return Error{ErrorCode::invalid_argument,
                     "this Node was created by process " + std::to_string(owner_pid_) +
                         " before fork(); a forked child must exec and create its own Node"};
    }
    std::lock_guard lock(mutex_);
    if (!connected_) return unreachable(domain_, "connection lost; reconnecting");
    return call_locked(request);
}

Result<DaemonClient::Reply> DaemonClient::call_locked(const nlohmann::json& request,
                                                      std::span<const int> pass_fds) {
    const std::string text = request.dump();
    if (const int err = send_message(socket_.get(), text, pass_fds); err != 0) {
        if (auto why = parting_words(socket_.get())) return *why;
        return unreachable(domain_, std::string("connection lost (") + std::strerror(err) + ")");
    }
    for (;;) {
        std::string message;
        Reply reply;
        switch (recv_message(socket_.get(), message, reply.fds)) {
            case RecvStatus::message:
                break;
            case RecvStatus::too_large:
                return Error{ErrorCode::system_error, "daemon sent an oversized reply"};
            default:
                if (auto why = parting_words(socket_.get())) return *why;
                return unreachable(domain_, "connection lost");
        }
        auto body = protocol::parse_reply(message);
        if (!body) return std::move(body).error();
        if (body->contains("event")) {  // sent before our reply: handle it, read on
            dispatch_event_locked(*body, reply.fds);
            continue;
        }
        reply.body = std::move(body).value();
        return reply;
    }
}

void DaemonClient::dispatch_event_locked(const nlohmann::json& event, std::vector<UniqueFd>& fds) {
    const auto handle = protocol::get_uint(event, "handle");
    if (!handle) return;
    for (auto& [id, r] : registered_) {
        if (r.daemon_handle != *handle) continue;
        if (r.waiting && event.value("event", "") == "attached")
            return attached_locked(r, event, fds);
        if (r.handler) r.handler(event, fds);
        return;
    }
}

// A waiting subscriber's topic exists now: what a restarted daemon needs (the grant and
// duplicates of the segments) is kept, as for any open, then the subscriber is told.
void DaemonClient::attached_locked(Registration& r, const nlohmann::json& grant,
                                   std::vector<UniqueFd>& fds) {
    r.waiting = false;
    for (const char* field : {"index", "generation", "group_entry"}) {
        if (const auto it = grant.find(field); it != grant.end()) r.adopt_request[field] = *it;
    }
    r.fds.clear();
    for (const auto& fd : fds) r.fds.emplace_back(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
    if (r.handler) r.handler(grant, fds);
}

Result<DaemonClient::Reply> DaemonClient::open_or_wait(const nlohmann::json& request,
                                                       EventHandler handler,
                                                       std::uint64_t& waiting_id) {
    waiting_id = 0;
    if (in_forked_child()) return call(request);  // fails with the forked-child error
    std::lock_guard lock(mutex_);
    if (!connected_) return unreachable(domain_, "connection lost; reconnecting");
    auto reply = call_locked(request);
    if (!reply || !reply->body.value("waiting", false)) return reply;
    auto handle = protocol::get_uint(reply->body, "handle");
    if (!handle) return Error{ErrorCode::system_error, "daemon sent a wait without a handle"};
    waiting_id = next_local_id_++;
    Registration r{request, {}, *handle, false, false, std::move(handler)};
    r.waiting = true;
    registered_.emplace(waiting_id, std::move(r));
    return reply;
}

// After a restart a waiting subscriber has nothing to adopt: it opens again, and either
// waits again or, if a publisher re-registered first, is attached at once.
void DaemonClient::reopen_waiting_locked(Registration& r) {
    auto reply = call_locked(r.adopt_request);
    if (!reply) {
        nlohmann::json failed = protocol::make_error(reply.error());
        failed["ok"] = true;
        failed["event"] = "attach_failed";
        r.waiting = false;
        std::vector<UniqueFd> none;
        if (r.handler) r.handler(failed, none);
        return;
    }
    if (auto handle = protocol::get_uint(reply->body, "handle")) r.daemon_handle = *handle;
    if (!reply->body.value("waiting", false)) attached_locked(r, reply->body, reply->fds);
}

// Events that arrived while no call was waiting for a reply.
void DaemonClient::drain_events() {
    std::lock_guard lock(mutex_);
    for (;;) {
        std::string message;
        std::vector<UniqueFd> fds;
        if (recv_message(socket_.get(), message, fds, /*dont_wait=*/true) != RecvStatus::message) {
            return;  // nothing more (or the connection is gone: the watcher sees it)
        }
        auto body = protocol::parse_reply(message);
        if (body && body->contains("event")) dispatch_event_locked(*body, fds);
    }
}

std::uint64_t DaemonClient::remember(nlohmann::json adopt_request, std::span<const int> fds,
                                     std::uint64_t daemon_handle, bool publisher) {
    std::lock_guard lock(mutex_);
    const std::uint64_t id = next_local_id_++;
    Registration r{std::move(adopt_request), {}, daemon_handle, publisher, false, nullptr};
    for (const int fd : fds) r.fds.emplace_back(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
    registered_.emplace(id, std::move(r));
    return id;
}

void DaemonClient::set_event_handler(std::uint64_t local_id, EventHandler handler) {
    std::lock_guard lock(mutex_);
    if (auto it = registered_.find(local_id); it != registered_.end()) {
        it->second.handler = std::move(handler);
    }
}

Result<Ok> DaemonClient::subscribe_roster(std::uint64_t local_id) {
    std::lock_guard lock(mutex_);
    const auto it = registered_.find(local_id);
    if (it == registered_.end()) return Error{ErrorCode::not_found, "no such registration"};
    it->second.roster = true;
    if (!connected_) return Ok{};                    // asked again after the reconnect
    if (it->second.daemon_handle == 0) return Ok{};  // the daemon refused it back
    auto reply = call_locked(nlohmann::json{
        {"v", protocol::kVersion}, {"op", "roster"}, {"handle", it->second.daemon_handle}});
    if (!reply) return std::move(reply).error();
    return Ok{};
}

void DaemonClient::post(std::function<void()> work) {
    if (in_forked_child()) return;  // no watcher thread here to run it
    {
        std::lock_guard lock(posted_mutex_);
        posted_.push_back(std::move(work));
    }
    const std::uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof one);
}

// The watcher thread, woken by post(): resets the eventfd, then runs what was posted.
void DaemonClient::run_posted() {
    std::uint64_t count = 0;
    (void)!::read(wake_.get(), &count, sizeof count);
    std::vector<std::function<void()>> work;
    {
        std::lock_guard lock(posted_mutex_);
        work.swap(posted_);
    }
    for (auto& w : work) w();
}

void DaemonClient::forget(std::uint64_t local_id) noexcept {
    if (in_forked_child()) return;  // the parent's handle: not ours to close
    try {
        std::lock_guard lock(mutex_);
        const auto it = registered_.find(local_id);
        if (it == registered_.end()) return;
        const std::uint64_t handle = it->second.daemon_handle;
        registered_.erase(it);
        if (connected_ && handle != 0) (void)call_locked(protocol::make_close(handle));
    } catch (...) {  // out of memory while closing: the daemon cleans up at disconnect
    }
}

// The watcher: sleeps until the daemon hangs up (or we stop), then reconnects.
void DaemonClient::watch() {
    while (wait_for_hangup()) reconnect();
}

bool DaemonClient::wait_for_hangup() {
    for (;;) {
        // Before each poll too: run_posted() may have read the destructor's wake-up (it
        // sets stopping_ before writing), and poll would then sleep for ever.
        if (stopping_.load()) return false;
        int fd = -1;
        {
            std::lock_guard lock(mutex_);
            fd = socket_.get();
        }
        pollfd fds[2] = {{fd, POLLIN | POLLRDHUP, 0}, {wake_.get(), POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0 && errno != EINTR) return false;
        if (stopping_.load()) return false;
        if ((fds[1].revents & POLLIN) != 0) run_posted();
        // Events the daemon sent before it went away first: a reader's segment that a
        // publisher never mapped would hold a reliable topic back until a daemon is back.
        if ((fds[0].revents & POLLIN) != 0) drain_events();
        if ((fds[0].revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) return true;
    }
}

void DaemonClient::reconnect() {
    {
        std::lock_guard lock(mutex_);
        connected_ = false;
    }
    // Retry with a growing pause: the daemon may be restarted by hand or by systemd.
    std::string refusal;  // reported once, not at every retry
    for (long pause_ms = 1; !stopping_.load(); pause_ms = std::min(pause_ms * 2, 500L)) {
        auto fd = connect_or_start(domain_);
        if (refused(fd) && fd.error().message != refusal) {
            refusal = fd.error().message;
            std::lock_guard lock(mutex_);
            report_locked(fd.error());
        }
        if (fd) {
            std::lock_guard lock(mutex_);
            socket_ = std::move(fd).value();
            connected_ = true;
            reregister_locked();
            recount_matched_locked();
            return;
        }
        pollfd wake{wake_.get(), POLLIN, 0};
        ::poll(&wake, 1, static_cast<int>(pause_ms));  // wakes early when we stop
        if (!stopping_.load() && (wake.revents & POLLIN) != 0) run_posted();
    }
}

// Hands the new daemon every segment we hold, so its registry is what it was; publishers
// that followed their readers ask for them again (new readers come as events).
void DaemonClient::reregister_locked() {
    for (auto& [id, r] : registered_) {
        if (r.waiting) {
            reopen_waiting_locked(r);
            continue;
        }
        nlohmann::json adopt = r.adopt_request;
        adopt["op"] = "adopt";
        std::vector<int> fds;
        for (const auto& fd : r.fds) fds.push_back(fd.get());
        auto reply = call_locked(adopt, fds);
        if (!reply && reply.error().code == ErrorCode::daemon_unreachable) {
            // That daemon went away too (we may have reached its socket as it died): the
            // watcher sees the hang-up and re-registers everything with the next one.
            r.daemon_handle = 0;
            continue;
        }
        if (!reply) {
            // Refused (the topic was re-created meanwhile, or our access was revoked): our
            // mapping stays usable, but the old handle number is now the new daemon's to
            // give to someone else's topic, and closing with it would close theirs.
            r.daemon_handle = 0;
            report_locked(Error{reply.error().code,
                                "topic '" + adopt.value("topic", std::string("?")) +
                                    "' was not taken back by the restarted daemon, so peers "
                                    "opening it now do not meet this process: " +
                                    reply.error().message});
            continue;
        }
        if (auto handle = protocol::get_uint(reply->body, "handle")) r.daemon_handle = *handle;
        if (r.publisher && r.roster) {
            (void)call_locked(nlohmann::json{
                {"v", protocol::kVersion}, {"op", "roster"}, {"handle", r.daemon_handle}});
        }
    }
}

void DaemonClient::report_locked(Error problem) {
    constexpr std::size_t kMaxKept = 64;  // an application that never looks loses the oldest
    if (problems_.size() == kMaxKept) problems_.erase(problems_.begin());
    problems_.push_back(std::move(problem));
}

std::vector<Error> DaemonClient::take_problems() {
    std::lock_guard lock(mutex_);
    return std::exchange(problems_, {});
}

// While the daemon was away (or before this process re-registered with the new one),
// peers may have come or gone without an event reaching us: every registration counts
// again. Its handler reads the topic's tables, so nothing changed reports nothing.
void DaemonClient::recount_matched_locked() {
    const nlohmann::json recount{{"ok", true}, {"event", "matched"}};
    for (auto& [id, r] : registered_) {
        std::vector<UniqueFd> none;
        if (r.handler && !r.waiting) r.handler(recount, none);
    }
}

}  // namespace ipcbus::detail
