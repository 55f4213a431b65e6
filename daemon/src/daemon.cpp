#include "ipcbusd/daemon.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "ipc/memfd_segment.hpp"
#include "ipc/unix_socket.hpp"
#include "protocol.hpp"
#include "ring.hpp"

namespace ipcbusd {

using ipcbus::Error;
using ipcbus::ErrorCode;
using ipcbus::Ok;
using ipcbus::Result;
using nlohmann::json;
namespace detail = ipcbus::detail;
namespace protocol = ipcbus::detail::protocol;
namespace layout = ipcbus::layout;

namespace {

struct Client {
    detail::UniqueFd socket;
    detail::PeerCredentials cred;
    std::vector<gid_t> groups;  // primary gid first, then supplementary ones
    std::set<std::uint64_t> handles;
    std::vector<std::string> watches;  // patterns this (watcher) connection asked for
    // Topics this client (ipcbus-bridge) carries to or from another host, by (topic,
    // direction); the value is the remote end. Shown in "list"; gone with the connection.
    std::map<std::pair<std::string, std::string>, std::string> bridges;
};

// A consumer group of a topic: its row in the reader table (holding the shared cursor)
// and how many members it has; the group ends with its last member.
struct Group {
    std::uint32_t row;
    std::uint32_t members;
};

struct Topic {
    std::string name;
    std::string type_name;
    detail::MappedSegment segment;
    pid_t creator_pid = 0;
    uid_t creator_uid = 0;
    std::set<std::uint64_t> handles;
    detail::UniqueFd read_only_data;  // what subscribers get of the data segment
    // False only for a topic re-adopted (after a restart) from subscribers alone, who hold
    // the data read-only; a publisher's adoption upgrades it.
    bool data_writable = true;
    std::map<std::string, Group, std::less<>> groups;
};

using Fds = std::vector<detail::UniqueFd>;

struct Handle {
    int client;  // socket fd: the key of clients
    std::string topic;
    protocol::Role role;
    std::uint32_t index;  // reader row or publisher id
    std::string group;    // a subscriber's consumer group, if any
};

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

}  // namespace

struct Daemon::State {
    DaemonOptions options;
    detail::UniqueFd listener;
    detail::UniqueFd epoll;
    detail::UniqueFd stop_event;
    std::map<int, Client> clients;
    std::map<std::string, Topic, std::less<>> topics;
    std::map<std::uint64_t, Handle> handles;
    std::uint64_t next_handle = 1;
    std::uint64_t total_bytes = 0;
    bool draining = false;
    // Connections to close once the current event is handled (never in the middle of
    // serving one: the handler may hold a reference to that very client).
    std::vector<int> doomed;

    void accept_clients();
    void drain_pending(int requester);
    void serve(int fd);
    void disconnect(int fd, const char* why);
    json dispatch(Client& client, int fd, const json& request, Fds received,
                  std::vector<int>& pass_fds);
    Result<json> adopt(Client& client, int fd, const json& request, Fds segments);
    Result<Topic*> adopt_topic(const Client& client, const protocol::OpenRequest& req,
                               Fds segments);
    Result<Ok> upgrade_to_writable(Topic& topic, Fds segments);
    void free_rows_of_dead_processes(Topic& topic);
    [[nodiscard]] bool publisher_id_free(const Topic& topic, std::uint64_t id) const;
    Result<json> grant(Client& client, int fd, Topic& topic, const protocol::OpenRequest& req,
                       std::uint32_t index, bool created, std::vector<int>& pass_fds);
    Result<json> open(Client& client, int fd, const json& request, std::vector<int>& pass_fds);
    Result<Topic*> find_or_create(const Client& client, const protocol::OpenRequest& req,
                                  bool& created);
    Result<std::uint32_t> claim_reader_row(Topic& topic, pid_t pid);
    Result<std::uint32_t> add_reader(Topic& topic, pid_t pid, const ipcbus::ReaderOptions& reader);
    Result<std::uint32_t> join_group(Topic& topic, std::uint32_t member,
                                     const ipcbus::ReaderOptions& reader);
    void free_reader_row(Topic& topic, const Handle& handle);
    void leave_group(Topic& topic, const std::string& group);
    void readopt_group_member(Topic& topic, std::uint32_t member, const std::string& group);
    Result<json> close(Client& client, const json& request);
    void release(std::uint64_t handle, bool owner_died);
    void drop_topic(const std::string& name);
    Result<json> watch(Client& client, const json& request);
    Result<json> mark_bridge(Client& client, const json& request);
    [[nodiscard]] json bridges_of(const std::string& topic) const;
    void announce(const Topic& topic);
    json list(const json& request) const;
    json describe(const Topic& topic) const;
    [[nodiscard]] bool idle() const { return clients.empty() && topics.empty(); }
};

Daemon::Daemon(std::unique_ptr<State> state) noexcept : state_(std::move(state)) {}
Daemon::~Daemon() = default;

Result<std::unique_ptr<Daemon>> Daemon::create(DaemonOptions options) {
    auto state = std::make_unique<State>();
    const std::string name = detail::daemon_socket_name(options.domain);
    auto listener = detail::listen_seqpacket(name);
    if (!listener) {
        if (listener.error().message.find(std::strerror(EADDRINUSE)) != std::string::npos) {
            return Error{ErrorCode::resource_exhausted,
                         "another ipcbusd already serves domain '" + options.domain + "'"};
        }
        return std::move(listener).error();
    }
    state->listener = std::move(listener).value();
    state->epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
    state->stop_event.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!state->epoll.valid() || !state->stop_event.valid()) {
        return Error{ErrorCode::system_error,
                     std::string("epoll/eventfd: ") + std::strerror(errno)};
    }
    for (int fd : {state->listener.get(), state->stop_event.get()}) {
        epoll_event ev{EPOLLIN, {.fd = fd}};
        ::epoll_ctl(state->epoll.get(), EPOLL_CTL_ADD, fd, &ev);
    }
    state->options = std::move(options);
    return std::unique_ptr<Daemon>(new Daemon(std::move(state)));
}

void Daemon::stop() noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(state_->stop_event.get(), &one, sizeof one);
}

int Daemon::run() {
    State& s = *state_;
    spdlog::info("serving domain '{}' (pid {})", s.options.domain, ::getpid());
    auto idle_since = std::chrono::steady_clock::now();
    for (;;) {
        int timeout_ms = -1;
        if (s.options.idle_exit.count() > 0 && s.idle()) {
            const auto left = s.options.idle_exit - (std::chrono::steady_clock::now() - idle_since);
            if (left <= std::chrono::steady_clock::duration::zero()) {
                spdlog::info("idle for {} ms: exiting", s.options.idle_exit.count());
                return 0;
            }
            timeout_ms = static_cast<int>(
                std::chrono::duration_cast<std::chrono::milliseconds>(left).count() + 1);
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
            if (fd == s.listener.get()) {
                s.accept_clients();
            } else {
                s.serve(fd);
            }
        }
        for (const int fd : std::exchange(s.doomed, {})) {
            s.disconnect(fd, "watcher not reading its events");
        }
        if (!s.idle()) idle_since = std::chrono::steady_clock::now();
    }
}

void Daemon::State::accept_clients() {
    for (;;) {
        detail::UniqueFd fd(
            ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
        if (!fd.valid()) {
            if (errno == EMFILE || errno == ENFILE)
                spdlog::warn("accept: {}", std::strerror(errno));
            return;
        }
        Client client;
        if (!detail::peer_credentials(fd.get(), client.cred)) continue;
        if (clients.size() >= options.policy.limits().max_clients) {
            spdlog::warn("refused pid {}: client limit {} reached", client.cred.pid,
                         options.policy.limits().max_clients);
            const Error e{ErrorCode::resource_exhausted,
                          "daemon client limit reached (" +
                              std::to_string(options.policy.limits().max_clients) + ")"};
            detail::send_message(fd.get(), protocol::make_error(e).dump());
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
        if (fd == listener.get()) {
            accept_clients();
        } else {
            serve(fd);
        }
    }
    draining = false;
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
                detail::send_message(fd, protocol::make_error(e).dump());
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
        if (detail::send_message(fd, reply.dump(), pass_fds) != 0) {
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
                     {"protocol", protocol::kVersion}};
    } else if (op == "open") {
        reply = open(client, fd, request, pass_fds);
    } else if (op == "adopt") {
        reply = adopt(client, fd, request, std::move(received));
    } else if (op == "close") {
        reply = close(client, request);
    } else if (op == "list") {
        reply = list(request);
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
        return protocol::make_error(reply.error());
    }
    return std::move(reply).value();
}

Result<json> Daemon::State::open(Client& client, int fd, const json& request,
                                 std::vector<int>& pass_fds) {
    auto req = protocol::parse_open(request);
    if (!req) return std::move(req).error();
    const Access access =
        req->role == protocol::Role::publisher ? Access::publish : Access::subscribe;
    if (!options.policy.allows(req->topic, access, client.cred.uid, client.groups)) {
        return Error{ErrorCode::permission_denied,
                     "topic '" + req->topic + "': permission denied: uid " +
                         std::to_string(client.cred.uid) + " may not " +
                         (access == Access::publish ? "publish" : "subscribe")};
    }
    bool created = false;
    auto topic = find_or_create(client, *req, created);
    if (!topic) return std::move(topic).error();
    Topic& t = **topic;
    std::uint32_t index = 0;
    if (req->role == protocol::Role::subscriber) {
        auto row = add_reader(t, client.cred.pid, req->reader);
        if (!row) {
            if (t.handles.empty()) drop_topic(t.name);
            return std::move(row).error();
        }
        index = *row;
    } else if (!t.data_writable) {
        // Rebuilt after a restart from its subscribers alone, who hold the messages
        // read-only: no writable handle on them survived, and none can be made.
        return Error{ErrorCode::resource_exhausted,
                     "topic '" + t.name +
                         "': restored after a daemon restart from its subscribers alone, so "
                         "the daemon has no writable handle on it; a publisher that held it "
                         "before the restart can still re-register, otherwise it takes new "
                         "publishers once its " +
                         std::to_string(t.handles.size()) + " subscriber(s) have closed it"};
    } else {
        // Relaxed: a unique number; the daemon is the only one handing them out.
        index = t.segment.view().header->next_publisher_id.fetch_add(1, std::memory_order_relaxed);
    }
    return grant(client, fd, t, *req, index, created, pass_fds);
}

// Records a handle of `client` on `topic` and builds the reply that hands over the segment.
Result<json> Daemon::State::grant(Client& client, int fd, Topic& topic,
                                  const protocol::OpenRequest& req, std::uint32_t index,
                                  bool created, std::vector<int>& pass_fds) {
    const protocol::Role role = req.role;
    const std::uint64_t handle = next_handle++;
    handles.emplace(handle, Handle{fd, topic.name, role, index, req.reader.group});
    client.handles.insert(handle);
    topic.handles.insert(handle);
    // Publishers get the data segment writable; subscribers get a read-only descriptor, so
    // the kernel keeps them from writing messages.
    pass_fds = {topic.segment.control_fd(), role == protocol::Role::publisher
                                                ? topic.segment.data_fd()
                                                : topic.read_only_data.get()};
    spdlog::info("pid {} {} '{}' as {} (handle {}, {} {})", client.cred.pid,
                 created ? "created" : "opened", topic.name, protocol::to_string(role), handle,
                 role == protocol::Role::subscriber ? "reader row" : "publisher id", index);
    return json{{"ok", true}, {"handle", handle}, {"index", index}, {"created", created}};
}

// A client that held the topic under a previous daemon hands it back, with its segments.
Result<json> Daemon::State::adopt(Client& client, int fd, const json& request, Fds segments) {
    auto req = protocol::parse_open(request);
    if (!req) return std::move(req).error();
    auto index = protocol::get_uint(request, "index", UINT32_MAX);
    if (!index) return std::move(index).error();
    if (segments.size() != 2) {
        return Error{ErrorCode::invalid_argument,
                     "malformed request: adopt needs the control and data segments"};
    }
    const Access access =
        req->role == protocol::Role::publisher ? Access::publish : Access::subscribe;
    if (!options.policy.allows(req->topic, access, client.cred.uid, client.groups)) {
        return Error{ErrorCode::permission_denied, "topic '" + req->topic +
                                                       "': permission denied: uid " +
                                                       std::to_string(client.cred.uid)};
    }
    auto topic = adopt_topic(client, *req, std::move(segments));
    if (!topic) return std::move(topic).error();
    Topic& t = **topic;
    if (req->role == protocol::Role::publisher && !publisher_id_free(t, *index)) {
        if (t.handles.empty()) drop_topic(t.name);
        return Error{ErrorCode::invalid_argument,
                     "topic '" + t.name + "': publisher id " + std::to_string(*index) +
                         " was never issued or is held by another publisher"};
    }
    if (req->role == protocol::Role::subscriber) {
        const detail::SegmentView& view = t.segment.view();
        // Relaxed: the row was claimed for this very client by the previous daemon.
        if (*index >= view.max_readers || view.readers[*index].pid != client.cred.pid ||
            view.readers[*index].state.load(std::memory_order_relaxed) == 0) {
            if (t.handles.empty()) drop_topic(t.name);
            return Error{ErrorCode::invalid_argument, "topic '" + t.name + "': reader row " +
                                                          std::to_string(*index) +
                                                          " is not this process's"};
        }
    }
    if (req->role == protocol::Role::subscriber && !req->reader.group.empty()) {
        readopt_group_member(t, static_cast<std::uint32_t>(*index), req->reader.group);
    }
    std::vector<int> ignored;  // the client has the segments already
    return grant(client, fd, t, *req, static_cast<std::uint32_t>(*index), false, ignored);
}

namespace {

// Whether `fd` is a memfd sealed against resizing (else its sender could truncate it under
// the daemon's mapping: SIGBUS); `writable` tells whether it was opened for writing.
bool sealed_segment(int fd, bool& writable) {
    const int seals = ::fcntl(fd, F_GET_SEALS);
    const int flags = ::fcntl(fd, F_GETFL);
    writable = flags >= 0 && (flags & O_ACCMODE) == O_RDWR;
    return seals >= 0 && (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) == (F_SEAL_SHRINK | F_SEAL_GROW);
}

bool same_file(int a, int b) {
    struct stat sa {};
    struct stat sb {};
    return ::fstat(a, &sa) == 0 && ::fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

}  // namespace

Result<Topic*> Daemon::State::adopt_topic(const Client& client, const protocol::OpenRequest& req,
                                          Fds segments) {
    bool control_writable = false;
    bool data_writable = false;
    if (!sealed_segment(segments[0].get(), control_writable) ||
        !sealed_segment(segments[1].get(), data_writable) || !control_writable) {
        return Error{ErrorCode::invalid_argument,
                     "topic '" + req.topic + "': offered segments are not sealed ipcbus memfds"};
    }
    if (auto it = topics.find(req.topic); it != topics.end()) {
        Topic& known = it->second;
        if (!same_file(known.segment.control_fd(), segments[0].get()) ||
            !same_file(known.segment.data_fd(), segments[1].get())) {
            return Error{ErrorCode::corrupt_segment,
                         "topic '" + req.topic +
                             "': was created anew while the daemon was away; this process "
                             "holds the old segment"};
        }
        if (!known.data_writable && data_writable) {
            if (auto ok = upgrade_to_writable(known, std::move(segments)); !ok) return ok.error();
        }
        return &known;
    }
    auto mapped = detail::MappedSegment::map(std::move(segments[0]), std::move(segments[1]),
                                             req.topic, data_writable);
    if (!mapped) return std::move(mapped).error();
    if (auto ok = detail::check_compatible(mapped->view(), req.as_topic_request()); !ok) {
        return std::move(ok).error();
    }
    // Subscribers of the adopted topic get a read-only descriptor, as before the restart.
    auto read_only = mapped->read_only_data();
    if (!read_only) return std::move(read_only).error();
    const auto& name_field = mapped->view().header->type_name;
    Topic topic{req.topic,
                std::string(name_field, ::strnlen(name_field, sizeof name_field)),
                std::move(mapped).value(),
                client.cred.pid,
                client.cred.uid,
                {},
                std::move(read_only).value(),
                data_writable,
                {}};
    total_bytes += topic.segment.size();
    spdlog::info("topic '{}' adopted from pid {} (registry rebuilt after a restart)", topic.name,
                 client.cred.pid);
    Topic& adopted = topics.emplace(req.topic, std::move(topic)).first->second;
    free_rows_of_dead_processes(adopted);
    announce(adopted);
    return &adopted;
}

// A topic adopted from subscribers only is mapped read-only here; the first publisher to
// come back brings a writable descriptor, without which dead publishers' slots could not
// be resolved.
Result<Ok> Daemon::State::upgrade_to_writable(Topic& topic, Fds segments) {
    auto mapped = detail::MappedSegment::map(std::move(segments[0]), std::move(segments[1]),
                                             topic.name, true);
    if (!mapped) return std::move(mapped).error();
    topic.segment = std::move(mapped).value();
    topic.data_writable = true;
    return Ok{};
}

// An adopting publisher may only take back an id that was issued and that no one else
// holds: the daemon resolves slots by that id when its holder dies.
bool Daemon::State::publisher_id_free(const Topic& topic, std::uint64_t id) const {
    // Relaxed: ids are handed out by daemons only, one at a time.
    if (id == 0 ||
        id >= topic.segment.view().header->next_publisher_id.load(std::memory_order_relaxed)) {
        return false;
    }
    for (const std::uint64_t h : topic.handles) {
        const Handle& other = handles.at(h);
        if (other.role == protocol::Role::publisher && other.index == id) return false;
    }
    return true;
}

// Rows of readers that died while no daemon was watching would stay claimed for ever.
void Daemon::State::free_rows_of_dead_processes(Topic& topic) {
    const detail::SegmentView& view = topic.segment.view();
    for (std::uint32_t i = 0; i < view.max_readers; ++i) {
        layout::ReaderEntry& row = view.readers[i];
        // Group rows belong to no process; orphan rows hold messages for their group.
        const auto state =
            static_cast<layout::ReaderState>(row.state.load(std::memory_order_relaxed));
        if (state != layout::ReaderState::active && state != layout::ReaderState::claiming)
            continue;
        if (::kill(row.pid, 0) == 0 || errno != ESRCH) continue;
        // Release: pairs with the acquire of the next claim, as in release().
        row.state.store(static_cast<std::uint32_t>(layout::ReaderState::free),
                        std::memory_order_release);
        spdlog::info("topic '{}': freed reader row {} of pid {}, which died meanwhile", topic.name,
                     i, row.pid);
    }
}

Result<Topic*> Daemon::State::find_or_create(const Client& client, const protocol::OpenRequest& req,
                                             bool& created) {
    detail::TopicRequest wanted = req.as_topic_request();
    if (auto it = topics.find(req.topic); it != topics.end()) {
        if (auto ok = detail::check_compatible(it->second.segment.view(), wanted); !ok) {
            return std::move(ok).error();
        }
        return &it->second;
    }
    const Limits& limits = options.policy.limits();
    if (topics.size() >= limits.max_topics) {
        return Error{ErrorCode::resource_exhausted, "topic '" + req.topic +
                                                        "': daemon topic limit reached (" +
                                                        std::to_string(limits.max_topics) + ")"};
    }
    if (const TopicRule* rule = options.policy.rule_for(req.topic)) {
        // The configuration's defaults apply to what the creator left open.
        if (wanted.options.capacity == 0) wanted.options.capacity = rule->capacity;
        if (wanted.options.slot_size == 0 && wanted.type.size == 0) {
            wanted.options.slot_size = rule->slot_size;
        }
        if (wanted.options.max_readers == 0) wanted.options.max_readers = rule->max_readers;
    }
    auto geometry = detail::plan_segment(wanted);
    if (!geometry) return std::move(geometry).error();
    const std::uint64_t bytes = geometry->control_size + geometry->data_size;
    if (bytes > limits.max_segment_bytes || total_bytes + bytes > limits.max_total_bytes) {
        return Error{ErrorCode::resource_exhausted,
                     "topic '" + req.topic + "': segment of " + std::to_string(bytes) +
                         " bytes exceeds the daemon's shared-memory limit"};
    }
    auto segment = detail::MappedSegment::create(wanted, *geometry);
    if (!segment) return std::move(segment).error();
    auto read_only = segment->read_only_data();
    if (!read_only) return std::move(read_only).error();
    total_bytes += segment->size();
    Topic topic{req.topic,
                req.type_name.empty() ? std::string(ipcbus::raw_bytes_type.name) : req.type_name,
                std::move(segment).value(),
                client.cred.pid,
                client.cred.uid,
                {},
                std::move(read_only).value(),
                true,
                {}};
    spdlog::info("topic '{}' created by pid {}: type '{}', {} x {} bytes", topic.name,
                 client.cred.pid, topic.type_name, geometry->capacity, geometry->slot_size);
    created = true;
    Topic& inserted = topics.emplace(req.topic, std::move(topic)).first->second;
    announce(inserted);
    return &inserted;
}

Result<std::uint32_t> Daemon::State::claim_reader_row(Topic& topic, pid_t pid) {
    const detail::SegmentView& view = topic.segment.view();
    for (std::uint32_t i = 0; i < view.max_readers; ++i) {
        layout::ReaderEntry& entry = view.readers[i];
        auto expected = static_cast<std::uint32_t>(layout::ReaderState::free);
        // Acquire: see the previous owner's final statistics stores before resetting them.
        if (!entry.state.compare_exchange_strong(
                expected, static_cast<std::uint32_t>(layout::ReaderState::claiming),
                std::memory_order_acquire, std::memory_order_relaxed)) {
            continue;
        }
        // seq_cst, before the row is activated: a publisher's scan that reads the count
        // after this covers the row (see oldest_needed in ring.cpp).
        if (view.header->rows_in_use.load(std::memory_order_relaxed) <= i) {
            view.header->rows_in_use.store(i + 1, std::memory_order_seq_cst);
        }
        // Relaxed: nothing reads a claiming row but us; the client reads it after our
        // reply (the socket orders), publishers after activate_row's seq_cst store.
        entry.pid = pid;
        const std::uint64_t now = view.header->write_cursor.load(std::memory_order_relaxed);
        entry.cursor.store(now, std::memory_order_relaxed);
        entry.released.store(now, std::memory_order_relaxed);
        entry.lost.store(0, std::memory_order_relaxed);
        entry.skipped.store(0, std::memory_order_relaxed);
        entry.group.store(0, std::memory_order_relaxed);
        entry.orphans.store(0, std::memory_order_relaxed);
        entry.orphan_events.store(0, std::memory_order_relaxed);
        for (auto& word : entry.in_flight)
            word.store(layout::kNoSequence, std::memory_order_relaxed);
        return i;
    }
    return Error{ErrorCode::resource_exhausted, "topic '" + topic.name + "': reader table full (" +
                                                    std::to_string(view.max_readers) + " readers)"};
}

namespace {

// Makes a claimed row count: `state` (active or group) with seq_cst, then the start cursor
// from a cursor read after it. A reliable publisher that did not see the row yet can only
// reach sequences below that cursor plus a ring (see oldest_needed in ring.cpp), so every
// message from `start` on is safe, except history messages a publisher was already about
// to reuse: the reader sees those overwritten and counts them lost.
void activate_row(const detail::SegmentView& view, layout::ReaderEntry& row,
                  layout::ReaderState state, std::uint32_t history) {
    row.state.store(static_cast<std::uint32_t>(state), std::memory_order_seq_cst);
    const std::uint64_t now = view.header->write_cursor.load(std::memory_order_seq_cst);
    const std::uint64_t back = std::min<std::uint64_t>({history, now, view.mask + 1});
    row.cursor.store(now - back, std::memory_order_seq_cst);
    row.released.store(now - back, std::memory_order_seq_cst);
}

void free_row(const detail::SegmentView& view, layout::ReaderEntry& row) {
    // Release: our resets of the row happen-before its next owner's claim.
    row.state.store(static_cast<std::uint32_t>(layout::ReaderState::free),
                    std::memory_order_release);
    detail::notify_space(view);  // a reliable publisher may have waited for this reader
}

bool holds_messages(const layout::ReaderEntry& row) {
    for (const auto& word : row.in_flight) {
        // Acquire: the member's last stores are visible (it is gone, or closing).
        if (word.load(std::memory_order_acquire) != layout::kNoSequence) return true;
    }
    return false;
}

}  // namespace

// A plain reader gets a row of its own; a group member gets one too, tied to the group's.
Result<std::uint32_t> Daemon::State::add_reader(Topic& topic, pid_t pid,
                                                const ipcbus::ReaderOptions& reader) {
    auto row = claim_reader_row(topic, pid);
    if (!row) return row;
    const detail::SegmentView& view = topic.segment.view();
    if (reader.group.empty()) {
        activate_row(view, view.readers[*row], layout::ReaderState::active, reader.history);
        return row;
    }
    auto joined = join_group(topic, *row, reader);
    if (!joined) {
        free_row(view, view.readers[*row]);
        return std::move(joined).error();
    }
    return row;
}

Result<std::uint32_t> Daemon::State::join_group(Topic& topic, std::uint32_t member,
                                                const ipcbus::ReaderOptions& reader) {
    const detail::SegmentView& view = topic.segment.view();
    auto it = topic.groups.find(reader.group);
    if (it == topic.groups.end()) {
        auto row = claim_reader_row(topic, 0);
        if (!row) return std::move(row).error();
        activate_row(view, view.readers[*row], layout::ReaderState::group, reader.history);
        it = topic.groups.emplace(reader.group, Group{*row, 0}).first;
        spdlog::info("topic '{}': consumer group '{}' created (row {})", topic.name, reader.group,
                     *row);
    }
    layout::ReaderEntry& row = view.readers[member];
    row.group.store(it->second.row + 1, std::memory_order_relaxed);
    // A member's own cursor is unused; it gates through its in-flight marks only.
    activate_row(view, row, layout::ReaderState::active, 0);
    ++it->second.members;
    return member;
}

// After a restart: a member re-registering brings its group's name back to the registry.
void Daemon::State::readopt_group_member(Topic& topic, std::uint32_t member,
                                         const std::string& group) {
    const std::uint32_t row =
        topic.segment.view().readers[member].group.load(std::memory_order_relaxed);
    if (row == 0 || row > topic.segment.view().max_readers) return;
    auto [it, inserted] = topic.groups.try_emplace(group, Group{row - 1, 0});
    ++it->second.members;
}

// A member that leaves (or dies) holding messages leaves its row behind as an orphan,
// whose messages the other members take over; the others' rows are simply freed.
void Daemon::State::free_reader_row(Topic& topic, const Handle& handle) {
    const detail::SegmentView& view = topic.segment.view();
    layout::ReaderEntry& row = view.readers[handle.index];
    const auto group = topic.groups.find(handle.group);
    if (group != topic.groups.end() && holds_messages(row)) {
        view.readers[group->second.row].orphans.fetch_add(1, std::memory_order_relaxed);
        // Relaxed: read by notification threads after the wake-up below (a futex word
        // bumped with seq_cst), which orders it for them.
        view.readers[group->second.row].orphan_events.fetch_add(1, std::memory_order_relaxed);
        // Release: members that see the orphan see its in-flight marks.
        row.state.store(static_cast<std::uint32_t>(layout::ReaderState::orphan),
                        std::memory_order_release);
        // Wake sleeping members: they may have taken everything else already, and a
        // reliable publisher gated by these messages publishes nothing that would wake
        // them (found by tests/chaos).
        detail::wake_readers(view);
        spdlog::info(
            "topic '{}': reader row {} (pid {}) left messages in flight; group '{}' takes "
            "them over",
            topic.name, handle.index, row.pid, handle.group);
    } else {
        free_row(view, row);
    }
    if (!handle.group.empty()) leave_group(topic, handle.group);
}

// The last member gone: the group, and whatever its dead members held, ends.
void Daemon::State::leave_group(Topic& topic, const std::string& group) {
    auto it = topic.groups.find(group);
    if (it == topic.groups.end() || --it->second.members > 0) return;
    const detail::SegmentView& view = topic.segment.view();
    const std::uint32_t group_row = it->second.row;
    for (std::uint32_t i = 0; i < view.max_readers; ++i) {
        layout::ReaderEntry& row = view.readers[i];
        if (row.state.load(std::memory_order_relaxed) ==
                static_cast<std::uint32_t>(layout::ReaderState::orphan) &&
            row.group.load(std::memory_order_relaxed) == group_row + 1) {
            free_row(view, row);
        }
    }
    free_row(view, view.readers[group_row]);
    topic.groups.erase(it);
    spdlog::info("topic '{}': consumer group '{}' ended with its last member", topic.name, group);
}

Result<json> Daemon::State::close(Client& client, const json& request) {
    auto handle = protocol::get_uint(request, "handle");
    if (!handle) return std::move(handle).error();
    if (client.handles.erase(*handle) == 0) {
        return Error{ErrorCode::not_found, "no handle " + std::to_string(*handle) + " of yours"};
    }
    release(*handle, /*owner_died=*/false);
    return protocol::make_ok();
}

void Daemon::State::release(std::uint64_t handle, bool owner_died) {
    auto h = handles.find(handle);
    if (h == handles.end()) return;
    auto t = topics.find(h->second.topic);
    if (t != topics.end()) {
        const detail::SegmentView& view = t->second.segment.view();
        if (h->second.role == protocol::Role::subscriber) {
            free_reader_row(t->second, h->second);
        } else if (owner_died && !t->second.data_writable) {
            spdlog::warn(
                "topic '{}': publisher {} died, but no publisher has re-registered since "
                "the restart: its unfinished slot cannot be resolved",
                t->second.name, h->second.index);
        } else if (owner_died) {
            const auto resolved = detail::resolve_abandoned_slots(view, h->second.index);
            if (resolved > 0) {
                spdlog::info("topic '{}': {} slot(s) of dead publisher {} marked skipped",
                             t->second.name, resolved, h->second.index);
            }
        }
        t->second.handles.erase(handle);
        const TopicRule* rule = options.policy.rule_for(t->first);
        if (t->second.handles.empty() && (rule == nullptr || !rule->keep)) drop_topic(t->first);
    }
    handles.erase(h);
}

// Starts a watch: the reply lists the topics matching now; later ones arrive as events
// on this connection, which the client then uses for nothing else.
Result<json> Daemon::State::watch(Client& client, const json& request) {
    const auto pattern = request.find("pattern");
    if (pattern == request.end() || !pattern->is_string()) {
        return Error{ErrorCode::invalid_argument, "malformed request: 'pattern' must be a string"};
    }
    const auto& text = pattern->get_ref<const std::string&>();
    if (auto ok = validate_pattern(text); !ok) return std::move(ok).error();
    client.watches.push_back(text);
    json names = json::array();
    for (const auto& [name, topic] : topics) {
        if (topic_matches(text, name)) names.push_back(name);
    }
    return json{{"ok", true}, {"topics", std::move(names)}};
}

// A bridge says it carries a topic to or from another host. Bounded per client, so a
// misbehaving peer cannot grow the daemon without limit.
Result<json> Daemon::State::mark_bridge(Client& client, const json& request) {
    constexpr std::size_t kMaxMarksPerClient = 4096;
    auto mark = protocol::parse_bridge(request);
    if (!mark) return std::move(mark).error();
    auto key = std::make_pair(mark->topic, mark->direction);
    if (client.bridges.size() >= kMaxMarksPerClient && !client.bridges.contains(key)) {
        return Error{
            ErrorCode::resource_exhausted,
            "a client may mark at most " + std::to_string(kMaxMarksPerClient) + " bridged topics"};
    }
    client.bridges[std::move(key)] = std::move(mark->remote);
    return protocol::make_ok();
}

json Daemon::State::bridges_of(const std::string& topic) const {
    json out = json::array();
    for (const auto& [fd, client] : clients) {
        for (const char* direction : {"export", "import"}) {
            const auto it = client.bridges.find(std::make_pair(topic, std::string(direction)));
            if (it == client.bridges.end()) continue;
            out.push_back(
                {{"direction", direction}, {"remote", it->second}, {"pid", client.cred.pid}});
        }
    }
    return out;
}

// Tells every watcher whose pattern matches that `topic` exists now. A watcher that does not
// read its events (its socket buffer is full) is disconnected rather than waited for.
void Daemon::State::announce(const Topic& topic) {
    const std::string event = json{
        {"ok", true},
        {"event", "created"},
        {"topic", topic.name},
        {"type", topic.type_name}}.dump();
    for (const auto& [fd, client] : clients) {
        for (const auto& pattern : client.watches) {
            if (!topic_matches(pattern, topic.name)) continue;
            if (detail::send_message(fd, event) != 0) doomed.push_back(fd);
            break;
        }
    }
}

void Daemon::State::drop_topic(const std::string& name) {
    const auto t = topics.find(name);
    if (t == topics.end()) return;
    spdlog::info("topic '{}' has no users left: removed", name);
    total_bytes -= t->second.segment.size();
    topics.erase(t);
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

// One page of the registry, in name order, starting after request["after"] if given. A
// page stops before it would outgrow a message; "next" then names where to go on from.
json Daemon::State::list(const json& request) const {
    constexpr std::size_t kPageBudget = detail::kMaxMessageSize / 2;
    auto it = topics.begin();
    if (const auto after = request.find("after"); after != request.end() && after->is_string()) {
        it = topics.upper_bound(after->get_ref<const std::string&>());
    }
    json page = json::array();
    std::size_t bytes = 0;
    for (; it != topics.end(); ++it) {
        json entry = describe(it->second);
        const std::size_t size = entry.dump().size();
        if (!page.empty() && bytes + size > kPageBudget) break;
        bytes += size;
        page.push_back(std::move(entry));
    }
    json reply{{"ok", true}, {"topics", std::move(page)}};
    if (it != topics.end()) reply["next"] = std::prev(it)->first;
    return reply;
}

json Daemon::State::describe(const Topic& t) const {
    const detail::SegmentView& view = t.segment.view();
    std::uint32_t publishers = 0;
    std::uint32_t subscribers = 0;
    for (std::uint64_t id : t.handles) {
        (handles.at(id).role == protocol::Role::publisher ? publishers : subscribers) += 1;
    }
    std::map<std::uint32_t, const std::string*> group_of_row;  // group row + 1 -> name
    json groups = json::array();
    for (const auto& [name, group] : t.groups) {
        group_of_row[group.row + 1] = &name;
        const layout::ReaderEntry& r = view.readers[group.row];
        // Relaxed throughout: a snapshot for humans and tools.
        groups.push_back({{"name", name},
                          {"members", group.members},
                          {"next", r.cursor.load(std::memory_order_relaxed)},
                          {"lost", r.lost.load(std::memory_order_relaxed)}});
    }
    json readers = json::array();
    for (std::uint32_t i = 0; i < view.max_readers; ++i) {
        const layout::ReaderEntry& r = view.readers[i];
        if (r.state.load(std::memory_order_relaxed) !=
            static_cast<std::uint32_t>(layout::ReaderState::active)) {
            continue;
        }
        json reader{{"pid", r.pid},
                    {"next", r.cursor.load(std::memory_order_relaxed)},
                    {"lost", r.lost.load(std::memory_order_relaxed)},
                    {"skipped", r.skipped.load(std::memory_order_relaxed)}};
        if (auto g = group_of_row.find(r.group.load(std::memory_order_relaxed));
            g != group_of_row.end()) {
            reader["group"] = *g->second;
            // A member has no cursor of its own: its lag is its group's.
            reader["next"] = view.readers[g->first - 1].cursor.load(std::memory_order_relaxed);
        }
        readers.push_back(std::move(reader));
    }
    return json{{"name", t.name},
                {"type", t.type_name},
                {"slot_size", view.slot_size},
                {"capacity", view.mask + 1},
                {"mode", view.reliable ? "reliable" : "overwrite"},
                {"publishers", publishers},
                {"subscribers", subscribers},
                {"published", view.header->write_cursor.load(std::memory_order_relaxed)},
                {"creator_pid", t.creator_pid},
                {"readers", std::move(readers)},
                {"groups", std::move(groups)},
                {"bridges", bridges_of(t.name)}};
}

}  // namespace ipcbusd
