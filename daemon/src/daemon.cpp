// SPDX-License-Identifier: Apache-2.0
// The daemon's event loop: connections, requests and replies, and its timers (the clock's
// calibration, the scan for stalled claims). See state.hpp for the other parts.
#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ipcbus/version.hpp"
#include "state.hpp"

namespace ipcbusd {

namespace {

// The groups the kernel says the peer is in (SO_PEERGROUPS), primary gid first.
std::vector<gid_t> peer_groups(int socket, gid_t primary) {
    std::vector<gid_t> groups{primary};
    std::vector<gid_t> extra(64);
    socklen_t len = static_cast<socklen_t>(extra.size() * sizeof(gid_t));
    if (::getsockopt(socket, SOL_SOCKET, SO_PEERGROUPS, extra.data(), &len) == 0) {
        extra.resize(len / sizeof(gid_t));
        groups.insert(groups.end(), extra.begin(), extra.end());
    }
    return groups;
}

// JSON for the wire. Strings that are not UTF-8 (a hostile client's, say) are replaced,
// never thrown over (found by tests/integration/test_data_path.cpp: a daemon killed by
// garbage in a name it put into a reply).
std::string wire(const json& message) {
    return message.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Handle numbers start somewhere else in each daemon: after a restart, a number a client
// still holds from the previous daemon names none of this one's handles (an event for a
// new handle is never taken for one of the old, nor a close of an old one for a new).
// Below 2^53, so any JSON reader keeps them exact.
std::uint64_t first_handle_number() {
    std::uint32_t random = 0;
    if (::getrandom(&random, sizeof random, 0) != sizeof random) {
        random =
            static_cast<std::uint32_t>(::getpid()) ^
            static_cast<std::uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    }
    return (static_cast<std::uint64_t>(random) << 20) + 1;
}

// How often the stall scan runs while some topic needs it.
constexpr int kStallScanMs = 10;

}  // namespace

Daemon::Daemon(std::unique_ptr<State> state) noexcept : state_(std::move(state)) {}
Daemon::~Daemon() = default;

Result<std::unique_ptr<Daemon>> Daemon::create(DaemonOptions options) {
    auto state = std::make_unique<State>();
    state->next_handle = first_handle_number();
    auto endpoints = Endpoints::open({.domain = options.domain,
                                      .socket_dir = options.socket_dir,
                                      .abstract_name = options.abstract_name});
    if (!endpoints) return std::move(endpoints).error();
    state->endpoints = std::move(endpoints).value();
    state->ledger.open(options.socket_dir, options.domain, options.recovery_window);
    state->epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
    state->stop_event.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!state->epoll.valid() || !state->stop_event.valid()) {
        return Error{ErrorCode::system_error,
                     std::string("epoll/eventfd: ") + std::strerror(errno)};
    }
    std::vector<int> watched{state->stop_event.get()};
    for (const auto& listener : state->endpoints.listeners()) watched.push_back(listener.get());
    for (int fd : watched) {
        epoll_event ev{EPOLLIN, {.fd = fd}};
        ::epoll_ctl(state->epoll.get(), EPOLL_CTL_ADD, fd, &ev);
    }
    // The domain segment: the clock every client stamps messages with.
    auto domain = detail::SharedMemory::create(options.domain + ":domain",
                                               layout::kDomainSegmentSize, options.domain);
    if (!domain) return std::move(domain).error();
    detail::format_domain_segment(domain->bytes());
    auto read_only = domain->read_only_fd();
    if (!read_only) return std::move(read_only).error();
    state->domain_segment = std::move(domain).value();
    state->domain_read_only = std::move(read_only).value();
    state->calibrator.emplace(
        reinterpret_cast<layout::DomainClock*>(state->domain_segment.bytes().data()));
    state->options = std::move(options);
    return std::unique_ptr<Daemon>(new Daemon(std::move(state)));
}

void Daemon::stop() noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(state_->stop_event.get(), &one, sizeof one);
}

int Daemon::State::timer_ms() {
    int ms = calibrator ? calibrator->tick() : -1;
    for (const auto& [name, topic] : topics) {
        if (needs_stall_scan(topic)) {
            ms = ms < 0 ? kStallScanMs : std::min(ms, kStallScanMs);
            break;
        }
    }
    return ms;
}

void Daemon::State::record_topics() {
    std::vector<std::string> names;
    names.reserve(topics.size());
    for (const auto& [name, topic] : topics) names.push_back(name);
    ledger.record(names);
}

void Daemon::State::on_timer() {
    const auto now = std::chrono::steady_clock::now();
    for (auto& [name, topic] : topics) {
        if (needs_stall_scan(topic)) scan_stalls(topic, now);
    }
}

int Daemon::run() {
    State& s = *state_;
    spdlog::info("serving domain '{}' on {} (pid {}, clock: {})", s.options.domain,
                 s.endpoints.describe(), ::getpid(),
                 detail::tsc_is_trustworthy() ? "TSC" : "CLOCK_MONOTONIC");
    auto idle_since = std::chrono::steady_clock::now();
    for (;;) {
        int timeout_ms = s.timer_ms();
        if (s.options.idle_exit.count() > 0 && s.idle()) {
            const auto left = s.options.idle_exit - (std::chrono::steady_clock::now() - idle_since);
            if (left <= std::chrono::steady_clock::duration::zero()) {
                spdlog::info("idle for {} ms: exiting", s.options.idle_exit.count());
                return 0;
            }
            const int idle_ms = static_cast<int>(
                std::chrono::duration_cast<std::chrono::milliseconds>(left).count() + 1);
            timeout_ms = timeout_ms < 0 ? idle_ms : std::min(timeout_ms, idle_ms);
        }
        epoll_event events[64];
        const int n = ::epoll_wait(s.epoll.get(), events, 64, timeout_ms);
        if (n < 0 && errno != EINTR) {
            spdlog::error("epoll_wait: {}", std::strerror(errno));
            return 1;
        }
        for (int i = 0; i < n; ++i) {
            const int fd = events[i].data.fd;
            if (fd == s.stop_event.get()) {
                spdlog::info("stopping");
                return 0;
            }
            if (s.endpoints.is_listener(fd)) {
                s.accept_clients(fd);
            } else {
                s.serve(fd);
            }
        }
        s.on_timer();
        for (const int fd : std::exchange(s.doomed, {})) {
            s.disconnect(fd, "watcher not reading its events");
        }
        s.record_topics();
        if (!s.idle()) idle_since = std::chrono::steady_clock::now();
    }
}

// Why a new connection is turned away, or empty. One uid (root aside) may hold only part of
// the connections: 300 idle connections of one user locked every other user out.
std::string Daemon::State::admission_refusal(const detail::PeerCredentials& cred) const {
    const Limits& limits = options.policy.limits();
    if (clients.size() >= limits.max_clients) {
        return "daemon client limit reached: " + std::to_string(clients.size()) +
               " connections (max_clients in the daemon's [limits]); each Node and "
               "TopicWatcher holds one: close some, or raise max_clients";
    }
    if (cred.uid == 0) return {};
    std::uint32_t of_uid = 0;
    for (const auto& [fd, c] : clients) of_uid += c.cred.uid == cred.uid ? 1 : 0;
    if (of_uid < limits.clients_per_uid()) return {};
    return "uid " + std::to_string(cred.uid) + " holds " + std::to_string(of_uid) +
           " connections, the most one user may (max_clients_per_uid in the daemon's "
           "[limits], default 3/4 of max_clients), so that it cannot lock out other users; "
           "each Node and TopicWatcher holds one: close some, or raise max_clients_per_uid";
}

void Daemon::State::accept_clients(int listener) {
    for (;;) {
        detail::UniqueFd fd(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
        if (!fd.valid()) {
            if (errno == EMFILE || errno == ENFILE)
                spdlog::warn("accept: {}", std::strerror(errno));
            return;
        }
        Client client;
        if (!detail::peer_credentials(fd.get(), client.cred)) continue;
        if (const std::string refusal = admission_refusal(client.cred); !refusal.empty()) {
            spdlog::warn("refused pid {} uid {}: {}", client.cred.pid, client.cred.uid, refusal);
            // Sent before the client's first request: it reads this as the reply.
            const Error e{ErrorCode::resource_exhausted, refusal};
            detail::send_message(fd.get(), wire(protocol::make_error(e)));
            continue;
        }
        client.groups = peer_groups(fd.get(), client.cred.gid);
        epoll_event ev{EPOLLIN | EPOLLRDHUP, {.fd = fd.get()}};
        ::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd.get(), &ev);
        spdlog::info("client pid {} uid {} connected", client.cred.pid, client.cred.uid);
        const int key = fd.get();
        client.socket = std::move(fd);
        clients.emplace(key, std::move(client));
    }
}

// Handles every event that is already pending (connections closed by processes that
// have died, requests already sent) before answering a "sync": whoever asks after reaping
// a child then sees a registry in which that child's death is accounted for.
void Daemon::State::drain_pending(int requester) {
    if (draining) return;
    draining = true;
    epoll_event events[64];
    const int n = ::epoll_wait(epoll.get(), events, 64, 0);
    for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        // Level-triggered: skipped events (the requester, a stop request) stay pending.
        if (fd == requester || fd == stop_event.get()) continue;
        if (endpoints.is_listener(fd)) {
            accept_clients(fd);
        } else {
            serve(fd);
        }
    }
    draining = false;
}

bool Daemon::State::send_event(int fd, const json& event, std::span<const int> fds) {
    if (detail::send_message(fd, wire(event), fds) == 0) return true;
    // Its socket buffer is full (the process is stopped?) or it is gone: it will not learn
    // of this. For a reader's segment that leaves the publisher waking every commit and
    // gating on the reader's start: slower, never wrong.
    spdlog::warn("could not send a '{}' event to a client", event.value("event", std::string("?")));
    return false;
}

void Daemon::State::serve(int fd) {
    for (;;) {
        auto it = clients.find(fd);
        if (it == clients.end()) return;
        std::string message;
        Fds received;  // only "adopt" uses them; any others are closed unread
        switch (detail::recv_message(fd, message, received)) {
            case detail::RecvStatus::would_block:
                return;
            case detail::RecvStatus::closed:
                return disconnect(fd, "connection closed");
            case detail::RecvStatus::error:
                return disconnect(fd, "socket error");
            case detail::RecvStatus::too_large: {
                const Error e{ErrorCode::invalid_argument,
                              "malformed request: larger than " +
                                  std::to_string(detail::kMaxMessageSize) + " bytes"};
                detail::send_message(fd, wire(protocol::make_error(e)));
                return disconnect(fd, "oversized message");
            }
            case detail::RecvStatus::message:
                break;
        }
        json reply;
        std::vector<int> pass_fds;
        auto request = protocol::parse_request(message);
        if (!request) {
            spdlog::warn("pid {}: {}", it->second.cred.pid, request.error().message);
            reply = protocol::make_error(request.error());
        } else {
            reply = dispatch(it->second, fd, *request, std::move(received), pass_fds);
        }
        if (detail::send_message(fd, wire(reply), pass_fds) != 0) {
            return disconnect(fd, "reply could not be sent");
        }
    }
}

json Daemon::State::dispatch(Client& client, int fd, const json& request, Fds received,
                             std::vector<int>& pass_fds) {
    const auto& op = request.at("op").get_ref<const std::string&>();
    Result<json> reply =
        Error{ErrorCode::invalid_argument, "malformed request: unknown op '" + op + "'"};
    if (op == "hello") {
        reply = json{{"ok", true},
                     {"daemon_pid", ::getpid()},
                     {"domain", options.domain},
                     {"protocol", protocol::kVersion},
                     {"version", std::string(ipcbus::version())},
                     {"uid", ::geteuid()},
                     {"autostarted", options.autostarted}};
        pass_fds = {domain_read_only.get()};
    } else if (op == "open") {
        reply = open(client, fd, request, pass_fds);
    } else if (op == "roster") {
        reply = subscribe_roster(client, request);
    } else if (op == "adopt") {
        reply = adopt(client, fd, request, std::move(received));
    } else if (op == "close") {
        reply = close(client, request);
    } else if (op == "list") {
        reply = list(client, request);
    } else if (op == "watch") {
        reply = watch(client, request);
    } else if (op == "bridge") {
        reply = mark_bridge(client, request);
    } else if (op == "sync") {
        drain_pending(fd);
        reply = protocol::make_ok();
    }
    if (!reply) {
        spdlog::info("pid {}: {} refused: {}", client.cred.pid, op, reply.error().message);
        pass_fds.clear();
        return protocol::make_error(reply.error());
    }
    return std::move(reply).value();
}

void Daemon::State::disconnect(int fd, const char* why) {
    auto it = clients.find(fd);
    if (it == clients.end()) return;
    const std::size_t count = it->second.handles.size();
    for (std::uint64_t handle : it->second.handles) release(handle, /*owner_died=*/true);
    spdlog::info("client pid {} gone ({}): released {} handle(s)", it->second.cred.pid, why, count);
    ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
    clients.erase(it);
}

}  // namespace ipcbusd
