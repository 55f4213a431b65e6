// SPDX-License-Identifier: Apache-2.0
// What "list" answers: the registry with each topic's publishers, readers, groups and
// bridges, read from the daemon's own records and, for progress and counters, from the
// segments (numbers only: whatever a reader wrote there describes nobody but itself).
#include "state.hpp"

namespace ipcbusd {

// One page of the registry, in name order, starting after request["after"] if given. A
// page stops before it would outgrow a message; "next" then names where to go on from.
// Who may read a topic's metadata (its readers' pids, counts, bridges): whoever may
// publish or subscribe to it. Others do not learn that it exists.
bool Daemon::State::may_see(const Client& client, const std::string& topic) const {
    const auto& policy = options.policy;
    return policy.allows(topic, Access::subscribe, client.cred.uid, client.groups) ||
           policy.allows(topic, Access::publish, client.cred.uid, client.groups);
}

json Daemon::State::list(const Client& client, const json& request) const {
    constexpr std::size_t kPageBudget = detail::kMaxMessageSize / 2;
    auto it = topics.begin();
    if (const auto after = request.find("after"); after != request.end() && after->is_string()) {
        it = topics.upper_bound(after->get_ref<const std::string&>());
    }
    json page = json::array();
    std::size_t bytes = 0;
    for (; it != topics.end(); ++it) {
        if (!may_see(client, it->first)) continue;
        json entry = describe(it->second);
        const std::size_t size = entry.dump(-1, ' ', false, json::error_handler_t::replace).size();
        if (!page.empty() && bytes + size > kPageBudget) break;
        bytes += size;
        page.push_back(std::move(entry));
    }
    json reply{{"ok", true}, {"topics", std::move(page)}};
    // After a restart: topics no one may create yet, as their holders may still come back.
    json recovering = json::array();
    for (const auto& a : ledger.awaited(std::chrono::steady_clock::now())) {
        recovering.push_back({{"topic", a.topic}, {"deferred_opens", a.deferred_opens}});
    }
    if (!recovering.empty()) reply["recovering"] = std::move(recovering);
    if (it != topics.end()) reply["next"] = std::prev(it)->first;
    return reply;
}

json Daemon::State::describe(const Topic& t) const {
    const detail::SegmentView& view = t.segment.view();
    std::uint32_t publishers = 0;
    std::uint32_t subscribers = 0;
    json publisher_list = json::array();
    for (std::uint64_t id : t.handles) {
        const Handle& h = handles.at(id);
        if (h.role != protocol::Role::publisher) {
            ++subscribers;
            continue;
        }
        ++publishers;
        const layout::PublisherEntry& e = view.publishers[h.entry];
        // Relaxed throughout: a snapshot for humans and tools.
        publisher_list.push_back(
            {{"pid", e.pid},
             {"id", h.index},
             {"published", e.published.load(std::memory_order_relaxed)},
             {"loans", e.loans.load(std::memory_order_relaxed)},
             {"blocked_since_ns", e.blocked_since_ns.load(std::memory_order_relaxed)}});
    }
    std::map<std::uint32_t, const std::string*> group_of_entry;  // group entry -> name
    json groups = json::array();
    for (const auto& [name, group] : t.groups) {
        group_of_entry[group.entry] = &name;
        const layout::GroupState* g = group_state(t, group.entry);
        groups.push_back({{"name", name},
                          {"members", group.members},
                          {"next", g != nullptr ? g->cursor.load(std::memory_order_relaxed) : 0},
                          {"lost", g != nullptr ? g->lost.load(std::memory_order_relaxed) : 0}});
    }
    json readers = json::array();
    for (std::uint32_t i = 0; i < view.max_readers; ++i) {
        const layout::RosterEntry& e = view.roster[i];
        const auto kind = static_cast<layout::RosterKind>(e.kind.load(std::memory_order_relaxed));
        if (e.state.load(std::memory_order_relaxed) !=
                static_cast<std::uint32_t>(layout::RosterState::active) ||
            kind == layout::RosterKind::group) {
            continue;
        }
        json reader{{"pid", e.pid.load(std::memory_order_relaxed)}, {"entry", i}};
        if (const layout::ReaderRow* row = reader_row(t, i)) {
            reader["next"] = row->position.load(std::memory_order_relaxed);
            reader["lost"] = row->lost.load(std::memory_order_relaxed);
            reader["skipped"] = row->skipped.load(std::memory_order_relaxed);
            reader["received"] = row->received.load(std::memory_order_relaxed);
            reader["held"] = row->held.load(std::memory_order_relaxed);
            reader["released"] = row->released.load(std::memory_order_relaxed);
            reader["asleep"] =
                (row->sleep.load(std::memory_order_relaxed) & layout::kSleepersMask) != 0;
        }
        const std::uint32_t group = e.group.load(std::memory_order_relaxed);
        if (auto g = group_of_entry.find(group - 1); group != 0 && g != group_of_entry.end()) {
            reader["group"] = *g->second;
            // A member has no position of its own: its lag is its group's.
            if (const layout::GroupState* gs = group_state(t, g->first)) {
                reader["next"] = gs->cursor.load(std::memory_order_relaxed);
            }
        }
        readers.push_back(std::move(reader));
    }
    return json{{"name", t.name},
                {"type", t.type_name},
                {"slot_size", view.slot_size},
                {"capacity", view.capacity},
                {"mode", view.reliable ? "reliable" : "overwrite"},
                {"history_depth", view.history_depth},
                {"pooled", view.pooled()},
                {"publishers", publishers},
                {"subscribers", subscribers},
                {"published", view.header->write_cursor.load(std::memory_order_relaxed)},
                {"creator_pid", t.creator_pid},
                {"readers", std::move(readers)},
                {"publisher_list", std::move(publisher_list)},
                {"groups", std::move(groups)},
                {"bridges", bridges_of(t.name)}};
}

}  // namespace ipcbusd
