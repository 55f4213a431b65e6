// SPDX-License-Identifier: Apache-2.0
#include "ipcbus/node.hpp"

#include <cstdlib>

#include "clock.hpp"
#include "daemon_client.hpp"
#include "names.hpp"
#include "protocol.hpp"

namespace ipcbus {

std::string default_domain() {
    const char* env = std::getenv("IPCBUS_DOMAIN");
    return (env != nullptr && *env != '\0') ? std::string(env) : std::string("default");
}

Result<Node> Node::create(NodeOptions options) {
    std::string domain = options.domain.empty() ? default_domain() : std::move(options.domain);
    if (auto ok = detail::validate_domain_name(domain); !ok) return std::move(ok).error();
    auto daemon = detail::DaemonClient::connect(domain);
    if (!daemon) return std::move(daemon).error();
    return Node(std::move(domain), std::move(daemon).value());
}

namespace {

// The daemon is trusted less than fully: a reply of the wrong shape is an error, not UB.
template <class T>
T field(const nlohmann::json& object, const char* name, T fallback = T{}) {
    const auto it = object.find(name);
    if (it == object.end()) return fallback;
    try {
        return it->get<T>();
    } catch (const nlohmann::json::exception&) {
        return fallback;
    }
}

TopicInfo topic_from_json(const nlohmann::json& t) {
    TopicInfo info{};
    info.name = field<std::string>(t, "name");
    info.type_name = field<std::string>(t, "type");
    info.slot_size = field<std::uint64_t>(t, "slot_size");
    info.capacity = field<std::uint32_t>(t, "capacity");
    info.mode = field<std::string>(t, "mode");
    info.publishers = field<std::uint32_t>(t, "publishers");
    info.subscribers = field<std::uint32_t>(t, "subscribers");
    info.published = field<std::uint64_t>(t, "published");
    info.creator_pid = field<std::int32_t>(t, "creator_pid");
    info.history_depth = field<std::uint32_t>(t, "history_depth");
    info.pooled = field<bool>(t, "pooled");
    if (const auto readers = t.find("readers"); readers != t.end() && readers->is_array()) {
        for (const auto& r : *readers) {
            ReaderInfo reader{field<std::int32_t>(r, "pid"), field<std::uint64_t>(r, "next"),
                              field<std::uint64_t>(r, "lost"), field<std::uint64_t>(r, "skipped"),
                              field<std::string>(r, "group")};
            reader.received = field<std::uint64_t>(r, "received");
            reader.held = field<std::uint32_t>(r, "held");
            reader.asleep = field<bool>(r, "asleep");
            reader.released = field<std::uint64_t>(r, "released");
            reader.roster_entry = field<std::uint32_t>(r, "entry");
            info.readers.push_back(std::move(reader));
        }
    }
    if (const auto pubs = t.find("publisher_list"); pubs != t.end() && pubs->is_array()) {
        for (const auto& p : *pubs) {
            info.publisher_details.push_back(PublisherInfo{
                field<std::int32_t>(p, "pid"), field<std::uint32_t>(p, "id"),
                field<std::uint64_t>(p, "published"), field<std::uint32_t>(p, "loans"),
                field<std::uint64_t>(p, "blocked_since_ns")});
        }
    }
    if (const auto groups = t.find("groups"); groups != t.end() && groups->is_array()) {
        for (const auto& g : *groups) {
            info.groups.push_back(
                GroupInfo{field<std::string>(g, "name"), field<std::uint32_t>(g, "members"),
                          field<std::uint64_t>(g, "next"), field<std::uint64_t>(g, "lost")});
        }
    }
    if (const auto bridges = t.find("bridges"); bridges != t.end() && bridges->is_array()) {
        for (const auto& b : *bridges) {
            info.bridges.push_back(BridgeInfo{field<std::string>(b, "direction"),
                                              field<std::string>(b, "remote"),
                                              field<std::int32_t>(b, "pid")});
        }
    }
    return info;
}

}  // namespace

std::uint64_t Node::now() const noexcept {
    return detail::bus_clock_ns(daemon_ ? daemon_->clock() : nullptr);
}

Result<Ok> Node::announce_bridge(std::string_view topic, std::string_view direction,
                                 std::string_view remote) const {
    auto reply = daemon_->call(detail::protocol::make_bridge(
        {std::string(topic), std::string(direction), std::string(remote)}));
    if (!reply) return std::move(reply).error();
    return Ok{};
}

std::vector<Error> Node::take_problems() const {
    return daemon_->take_problems();
}

Result<DaemonInfo> Node::daemon_info() const {
    auto reply = daemon_->call(detail::protocol::make_simple("hello"));
    if (!reply) return std::move(reply).error();
    const auto& body = reply->body;
    return DaemonInfo{field<std::int32_t>(body, "daemon_pid"), field<std::uint32_t>(body, "uid"),
                      body.value("version", std::string("unknown")),
                      field<std::uint32_t>(body, "protocol")};
}

Result<std::vector<TopicInfo>> Node::list_topics() const {
    std::vector<TopicInfo> topics;
    nlohmann::json request = detail::protocol::make_simple("list");
    for (;;) {  // the daemon answers in pages that each fit in one message
        auto reply = daemon_->call(request);
        if (!reply) return std::move(reply).error();
        const auto& body = reply->body;
        if (const auto list = body.find("topics"); list != body.end() && list->is_array()) {
            for (const auto& t : *list) topics.push_back(topic_from_json(t));
        }
        const auto next = body.find("next");
        if (next == body.end() || !next->is_string()) return topics;
        request["after"] = *next;
    }
}

}  // namespace ipcbus
