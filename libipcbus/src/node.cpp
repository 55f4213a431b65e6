#include "ipcbus/node.hpp"

#include <cstdlib>

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
    TopicInfo info{field<std::string>(t, "name"),
                   field<std::string>(t, "type"),
                   field<std::uint64_t>(t, "slot_size"),
                   field<std::uint32_t>(t, "capacity"),
                   field<std::string>(t, "mode"),
                   field<std::uint32_t>(t, "publishers"),
                   field<std::uint32_t>(t, "subscribers"),
                   field<std::uint64_t>(t, "published"),
                   field<std::int32_t>(t, "creator_pid"),
                   {},
                   {},
                   {}};
    if (const auto readers = t.find("readers"); readers != t.end() && readers->is_array()) {
        for (const auto& r : *readers) {
            info.readers.push_back(
                ReaderInfo{field<std::int32_t>(r, "pid"), field<std::uint64_t>(r, "next"),
                           field<std::uint64_t>(r, "lost"), field<std::uint64_t>(r, "skipped"),
                           field<std::string>(r, "group")});
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

Result<Ok> Node::announce_bridge(std::string_view topic, std::string_view direction,
                                 std::string_view remote) const {
    auto reply = daemon_->call(detail::protocol::make_bridge(
        {std::string(topic), std::string(direction), std::string(remote)}));
    if (!reply) return std::move(reply).error();
    return Ok{};
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
