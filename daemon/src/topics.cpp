// SPDX-License-Identifier: Apache-2.0
// The registry: finding and creating topics, the handles clients hold on them, closing,
// dropping unused topics, watches and bridge marks.
#include <spdlog/spdlog.h>

#include "roster.hpp"
#include "state.hpp"

namespace ipcbusd {

Result<Ok> Daemon::State::check_access(const Client& client,
                                       const protocol::OpenRequest& req) const {
    const Access access =
        req.role == protocol::Role::publisher ? Access::publish : Access::subscribe;
    if (!options.policy.allows(req.topic, access, client.cred.uid, client.groups)) {
        return Error{ErrorCode::permission_denied,
                     "topic '" + req.topic + "': permission denied: uid " +
                         std::to_string(client.cred.uid) + " may not " +
                         (access == Access::publish ? "publish" : "subscribe")};
    }
    return Ok{};
}

Result<json> Daemon::State::open(Client& client, int fd, const json& request,
                                 std::vector<int>& pass_fds) {
    auto req = protocol::parse_open(request);
    if (!req) return std::move(req).error();
    if (auto ok = check_access(client, *req); !ok) return std::move(ok).error();
    // Subscribers never create a topic, so an observer (echo, hz, a recorder) cannot fix
    // its type or parameters, and a typo creates nothing: it waits for a publisher.
    if (req->role == protocol::Role::subscriber && !topics.contains(req->topic)) {
        return wait_for_topic(client, fd, std::move(req).value());
    }
    if (!topics.contains(req->topic) &&
        ledger.awaiting(req->topic, std::chrono::steady_clock::now())) {
        // Creating it now would split it from the segment its running publishers hold.
        return Error{ErrorCode::timeout,
                     std::string(protocol::kRecovering) + "topic '" + req->topic +
                         "' existed before the daemon restarted, and its holders have not "
                         "re-registered yet"};
    }
    bool created = false;
    auto topic = find_or_create(client, *req, created);
    if (!topic) return std::move(topic).error();
    Topic& t = **topic;
    Result<json> reply = req->role == protocol::Role::subscriber
                             ? add_subscriber(client, fd, t, *req, created, pass_fds)
                             : add_publisher(client, fd, t, *req, created, pass_fds);
    // Before the publisher has its reply, so before its first message: a reliable
    // subscriber that was there first misses nothing.
    if (reply && created) attach_waiting(t);
    if (reply) tell_matched(t);
    if (!reply) drop_if_unused(t);
    return reply;
}

// Matched and unmatched events: whenever the readers or publishers a topic's tables show
// have changed, every handle of the topic is told, so that publishers learn of arriving
// and departing subscribers and subscribers of publishers (an "open" or "adopt" that adds
// one, a "close", a client's death). The event carries the counts for anyone reading the
// protocol; clients count from the tables themselves (matched_tracker.hpp).
void Daemon::State::tell_matched(Topic& topic) {
    const detail::SegmentView& view = topic.segment.view();
    const std::size_t readers = detail::count_active_readers(view);
    const std::size_t publishers = detail::count_active_publishers(view);
    if (readers == topic.matched_readers && publishers == topic.matched_publishers) return;
    topic.matched_readers = readers;
    topic.matched_publishers = publishers;
    for (const std::uint64_t id : topic.handles) {
        const json event{{"ok", true},
                         {"event", "matched"},
                         {"handle", id},
                         {"subscribers", readers},
                         {"publishers", publishers}};
        // A client that cannot take it now (stopped, its socket buffer full; or dying,
        // its other handles being released) is neither warned about nor dropped: the next
        // event it gets counts again from the tables, so it misses nothing for good.
        (void)detail::send_message(handles.at(id).client, event.dump(), {});  // numbers only
    }
}

// Registers a subscriber for a topic that does not exist yet. It holds a handle (closing
// it, or the connection, ends the wait) but no roster entry until attach_waiting.
Result<json> Daemon::State::wait_for_topic(Client& client, int fd, protocol::OpenRequest req) {
    constexpr std::size_t kMaxHandlesPerClient = 65536;
    if (client.handles.size() >= kMaxHandlesPerClient) {
        return Error{ErrorCode::resource_exhausted,
                     "topic '" + req.topic + "': a client may hold at most " +
                         std::to_string(kMaxHandlesPerClient) + " topic handles"};
    }
    // Parameters no topic could have are refused now, not when a publisher comes.
    if (auto plan = detail::plan_segment(req.as_topic_request()); !plan) {
        return std::move(plan).error();
    }
    const std::uint64_t id = next_handle++;
    Handle handle{fd, req.topic, protocol::Role::subscriber, 0, 0, {}, false, false};
    handle.waiting = true;
    waiting[req.topic].insert(id);
    spdlog::info("pid {} waits for topic '{}' as subscriber (handle {})", client.cred.pid,
                 req.topic, id);
    handle.request = std::move(req);
    handles.emplace(id, std::move(handle));
    client.handles.insert(id);
    return json{{"ok", true}, {"handle", id}, {"waiting", true}};
}

// A publisher has just created `topic`: every subscriber waiting for it gets its roster
// entry now, activated before the publisher's first message, and is told with an
// "attached" event (or "attach_failed", naming the difference, if it wanted another type
// or other parameters; it then stays unattached until it closes).
void Daemon::State::attach_waiting(Topic& topic) {
    const auto it = waiting.find(topic.name);
    if (it == waiting.end() || !topic.writable) return;
    const std::set<std::uint64_t> ids = std::move(it->second);
    waiting.erase(it);
    for (const std::uint64_t id : ids) {
        const Handle& handle = handles.at(id);
        const int fd = handle.client;
        const protocol::OpenRequest req = *handle.request;
        std::vector<int> pass_fds;
        Result<json> granted = Error{ErrorCode::system_error, "not attached"};
        if (auto ok = detail::check_compatible(topic.segment.validated(), req.as_topic_request());
            !ok) {
            granted = std::move(ok).error();
        } else {
            granted = attach_reader(clients.at(fd), topic, req, id, pass_fds);
        }
        json event;
        if (granted) {
            event = std::move(granted).value();
            event["event"] = "attached";
        } else {
            spdlog::info("subscriber handle {} cannot attach to '{}': {}", id, topic.name,
                         granted.error().message);
            // "ok" stays true: an event is not the reply to whatever the client asks next.
            event = protocol::make_error(granted.error());
            event["ok"] = true;
            event["event"] = "attach_failed";
            event["handle"] = id;
        }
        if (!send_event(fd, event, pass_fds)) doomed.push_back(fd);
    }
}

std::uint64_t Daemon::State::add_handle(Client& client, int fd, Topic& topic, Handle handle) {
    const std::uint64_t id = next_handle++;
    handle.client = fd;
    handle.topic = topic.name;
    handles.emplace(id, std::move(handle));
    client.handles.insert(id);
    topic.handles.insert(id);
    return id;
}

Result<Topic*> Daemon::State::find_or_create(const Client& client, const protocol::OpenRequest& req,
                                             bool& created) {
    detail::TopicRequest wanted = req.as_topic_request();
    if (auto it = topics.find(req.topic); it != topics.end()) {
        if (auto ok = detail::check_compatible(it->second.segment.validated(), wanted); !ok) {
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
    auto plan = detail::plan_segment(wanted);
    if (!plan) return std::move(plan).error();
    const std::uint64_t bytes = plan->geometry.segment_size;
    if (bytes > limits.max_segment_bytes || total_bytes + bytes > limits.max_total_bytes) {
        const bool one = bytes > limits.max_segment_bytes;
        return Error{
            ErrorCode::resource_exhausted,
            "topic '" + req.topic + "': its segment would take " + std::to_string(bytes) +
                " bytes (capacity " + std::to_string(plan->geometry.capacity) + " x slot size " +
                std::to_string(plan->geometry.slot_size) + "), more than the daemon allows " +
                (one ? "one topic (max_segment_bytes = " +
                           std::to_string(limits.max_segment_bytes) + ")"
                     : "all topics together (max_total_bytes = " +
                           std::to_string(limits.max_total_bytes) + ", " +
                           std::to_string(total_bytes) + " in use)") +
                ": choose a smaller capacity or slot size, or raise the limit in the [limits] "
                "section of ipcbusd's --config file"};
    }
    auto segment = detail::TopicSegment::create(wanted, *plan);
    if (!segment) return std::move(segment).error();
    auto read_only = segment->memory().read_only_fd();
    if (!read_only) return std::move(read_only).error();
    total_bytes += segment->size();
    Topic topic{.name = req.topic,
                .type_name = req.type_name.empty() ? std::string(ipcbus::raw_bytes_type.name)
                                                   : req.type_name,
                .segment = std::move(segment).value(),
                .creator_pid = client.cred.pid,
                .creator_uid = client.cred.uid,
                .read_only = std::move(read_only).value(),
                .writable = true};
    topic.roster_segments.resize(topic.segment.view().max_readers);
    spdlog::info("topic '{}' created by pid {}: type '{}', {} x {} bytes{}", topic.name,
                 client.cred.pid, topic.type_name, plan->geometry.capacity,
                 plan->geometry.slot_size,
                 plan->geometry.pool_buffers != 0 ? " (buffer pool)" : "");
    created = true;
    Topic& inserted = topics.emplace(req.topic, std::move(topic)).first->second;
    announce(inserted);
    return &inserted;
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
    const Handle gone = h->second;
    handles.erase(h);
    if (gone.waiting) {  // no roster entry (yet, or ever: its attach failed)
        if (auto w = waiting.find(gone.topic); w != waiting.end()) {
            w->second.erase(handle);
            if (w->second.empty()) waiting.erase(w);
        }
        return;
    }
    auto t = topics.find(gone.topic);
    if (t == topics.end()) return;
    t->second.handles.erase(handle);
    if (gone.role == protocol::Role::subscriber) {
        remove_reader(t->second, gone);
    } else {
        remove_publisher(t->second, gone, owner_died);
    }
    tell_matched(t->second);
    drop_if_unused(t->second);
}

void Daemon::State::drop_if_unused(Topic& topic) {
    const TopicRule* rule = options.policy.rule_for(topic.name);
    if (topic.handles.empty() && (rule == nullptr || !rule->keep)) drop_topic(topic.name);
}

void Daemon::State::drop_topic(const std::string& name) {
    const auto t = topics.find(name);
    if (t == topics.end()) return;
    spdlog::info("topic '{}' has no users left: removed", name);
    total_bytes -= t->second.segment.size();
    topics.erase(t);
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
        if (topic_matches(text, name) && may_see(client, name)) names.push_back(name);
    }
    return json{{"ok", true}, {"topics", std::move(names)}};
}

// Tells every watcher whose pattern matches that `topic` exists now. A watcher that does
// not read its events (its socket buffer is full) is disconnected rather than waited for.
void Daemon::State::announce(const Topic& topic) {
    const json event{
        {"ok", true}, {"event", "created"}, {"topic", topic.name}, {"type", topic.type_name}};
    for (const auto& [fd, client] : clients) {
        if (client.watches.empty() || !may_see(client, topic.name)) continue;
        for (const auto& pattern : client.watches) {
            if (!topic_matches(pattern, topic.name)) continue;
            if (!send_event(fd, event)) doomed.push_back(fd);
            break;
        }
    }
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

}  // namespace ipcbusd
