// SPDX-License-Identifier: Apache-2.0
// Readers and consumer groups: the roster entries publishers follow, the segment of each
// reader and group, where a new reader starts, and what happens to a group member's
// unfinished messages when it dies.
//
// Whatever the daemon reads from a reader's or a group's segment was written by that
// reader or by the group's members, who may be hostile: it is used as numbers only,
// bounded, and can at most disturb the writer's own group or hold a reliable topic back.
#include <spdlog/spdlog.h>

#include <climits>

#include "ipc/futex.hpp"
#include "ring.hpp"
#include "roster.hpp"
#include "state.hpp"

namespace ipcbusd {

using layout::RosterKind;
using layout::RosterState;

layout::ReaderRow* Daemon::State::reader_row(const Topic& topic, std::uint32_t entry) const {
    if (entry >= topic.roster_segments.size() || !topic.roster_segments[entry]) return nullptr;
    return reinterpret_cast<layout::ReaderRow*>(topic.roster_segments[entry]->bytes().data());
}

layout::GroupState* Daemon::State::group_state(const Topic& topic, std::uint32_t entry) const {
    if (entry >= topic.roster_segments.size() || !topic.roster_segments[entry]) return nullptr;
    return reinterpret_cast<layout::GroupState*>(topic.roster_segments[entry]->bytes().data());
}

Result<std::uint32_t> Daemon::State::claim_entry(Topic& topic, pid_t pid, RosterKind kind,
                                                 std::uint32_t group) {
    const detail::SegmentView& view = topic.segment.view();
    if (auto entry = detail::claim_roster_entry(view, pid, kind, group)) return *entry;
    return Error{ErrorCode::resource_exhausted, "topic '" + topic.name + "': reader table full (" +
                                                    std::to_string(view.max_readers) + " readers)"};
}

Result<Ok> Daemon::State::create_entry_segment(Topic& topic, std::uint32_t index, RosterKind kind) {
    const detail::SegmentView& view = topic.segment.view();
    const bool group = kind == RosterKind::group;
    auto memory = detail::SharedMemory::create(
        topic.name + (group ? ":group" : ":reader"),
        group ? layout::kGroupSegmentSize : layout::kReaderSegmentSize, topic.name);
    if (!memory) return std::move(memory).error();
    const std::uint64_t generation = view.roster[index].generation.load(std::memory_order_relaxed);
    // Where it starts until activate_entry() knows better: nothing older.
    const std::uint64_t cursor = view.header->write_cursor.load(std::memory_order_seq_cst);
    if (group) {
        detail::format_group_segment(memory->bytes(), index, generation, cursor);
    } else {
        detail::format_reader_segment(memory->bytes(), index, generation, kind, cursor);
    }
    topic.roster_segments[index] = std::move(memory).value();
    return Ok{};
}

void Daemon::State::activate_entry(Topic& topic, std::uint32_t index, std::uint32_t history) {
    const detail::SegmentView& view = topic.segment.view();
    const layout::RosterEntry& e = view.roster[index];
    const auto kind = static_cast<RosterKind>(e.kind.load(std::memory_order_relaxed));
    const std::uint32_t group = e.group.load(std::memory_order_relaxed);
    detail::activate_roster_entry(
        view, index, kind == RosterKind::group ? nullptr : reader_row(topic, index),
        kind == RosterKind::group ? group_state(topic, index) : nullptr,
        kind == RosterKind::member && group != 0 ? group_state(topic, group - 1) : nullptr,
        history);
}

Result<std::uint32_t> Daemon::State::join_group(Topic& topic, const std::string& name,
                                                std::uint32_t history) {
    if (auto it = topic.groups.find(name); it != topic.groups.end()) return it->second.entry;
    auto entry = claim_entry(topic, 0, RosterKind::group, 0);
    if (!entry) return std::move(entry).error();
    if (auto ok = create_entry_segment(topic, *entry, RosterKind::group); !ok) {
        free_entry(topic, *entry);
        return std::move(ok).error();
    }
    // Publishers get the segment before the entry is active: should the daemon die in
    // between, no active entry is left whose segment publishers lack (they would gate on
    // its start until a daemon is back).
    send_entry_to_publishers(topic, *entry);
    activate_entry(topic, *entry, history);
    topic.groups.emplace(name, Group{*entry, 0});
    spdlog::info("topic '{}': consumer group '{}' created (roster entry {})", topic.name, name,
                 *entry);
    return *entry;
}

Result<json> Daemon::State::add_subscriber(Client& client, int fd, Topic& topic,
                                           const protocol::OpenRequest& req, bool created,
                                           std::vector<int>& pass_fds) {
    const std::uint64_t id = add_handle(
        client, fd, topic, Handle{fd, {}, protocol::Role::subscriber, 0, 0, {}, false, false});
    auto reply = attach_reader(client, topic, req, id, pass_fds);
    if (!reply) {
        handles.erase(id);
        client.handles.erase(id);
        topic.handles.erase(id);
        return reply;
    }
    (*reply)["created"] = created;
    return reply;
}

Result<json> Daemon::State::attach_reader(Client& client, Topic& topic,
                                          const protocol::OpenRequest& req, std::uint64_t id,
                                          std::vector<int>& pass_fds) {
    if (!topic.writable) {
        return Error{ErrorCode::resource_exhausted,
                     "topic '" + topic.name +
                         "': restored after a daemon restart from its subscribers alone, so the "
                         "daemon cannot add readers yet; it can once a publisher that held it "
                         "re-registers"};
    }
    const std::string& group = req.reader.group;
    std::uint32_t group_entry = 0;
    if (!group.empty()) {
        auto g = join_group(topic, group, req.reader.history);
        if (!g) return std::move(g).error();
        group_entry = *g;
    }
    auto end_lonely_group = [&] {
        if (!group.empty() && topic.groups.at(group).members == 0) {
            ++topic.groups.at(group).members;
            leave_group(topic, group);
        }
    };
    const RosterKind kind = group.empty() ? RosterKind::plain : RosterKind::member;
    auto entry = claim_entry(topic, client.cred.pid, kind, group.empty() ? 0 : group_entry + 1);
    if (!entry) {
        end_lonely_group();
        return std::move(entry).error();
    }
    if (auto ok = create_entry_segment(topic, *entry, kind); !ok) {
        free_entry(topic, *entry);
        end_lonely_group();
        return std::move(ok).error();
    }
    send_entry_to_publishers(topic, *entry);  // before activation: see join_group()
    activate_entry(topic, *entry, group.empty() ? req.reader.history : 0);
    if (!group.empty()) ++topic.groups.at(group).members;
    Handle& handle = handles.at(id);
    handle.index = *entry;
    handle.group = group;
    handle.waiting = false;
    handle.request.reset();
    topic.handles.insert(id);
    pass_fds = {topic.read_only.get(), topic.roster_segments[*entry]->fd()};
    json reply{{"ok", true},
               {"handle", id},
               {"index", *entry},
               {"generation",
                topic.segment.view().roster[*entry].generation.load(std::memory_order_relaxed)}};
    if (!group.empty()) {
        pass_fds.push_back(topic.roster_segments[group_entry]->fd());
        reply["group_entry"] = group_entry;
    }
    spdlog::info("pid {} attached to '{}' as subscriber (handle {}, roster entry {}{})",
                 client.cred.pid, topic.name, id, *entry,
                 group.empty() ? "" : ", group '" + group + "'");
    return reply;
}

void Daemon::State::free_entry(Topic& topic, std::uint32_t index) {
    const detail::SegmentView& view = topic.segment.view();
    if (!topic.writable) {
        // Restored from subscribers alone: the roster is read-only to us until a publisher
        // re-registers with a writable descriptor; the entry is freed then.
        topic.frees_when_writable.push_back(index);
        topic.roster_segments[index].reset();
        return;
    }
    const auto kind =
        static_cast<RosterKind>(view.roster[index].kind.load(std::memory_order_relaxed));
    std::atomic<std::uint32_t>* word = nullptr;
    if (kind == RosterKind::group) {
        if (auto* g = group_state(topic, index)) word = &g->space_futex;
    } else if (auto* row = reader_row(topic, index)) {
        word = &row->space_futex;
    }
    detail::release_roster_entry(view, index, word);
    topic.roster_segments[index].reset();
}

void Daemon::State::remove_reader(Topic& topic, const Handle& handle) {
    if (handle.group.empty()) {
        free_entry(topic, handle.index);
        return;
    }
    orphan_marks(topic, handle.index, handle.group);
    free_entry(topic, handle.index);
    leave_group(topic, handle.group);
}

// A member leaves (or died) holding messages: they go into its group's orphan table, from
// which other members take them over before new ones (roster.hpp says how each mark is
// resolved).
void Daemon::State::orphan_marks(Topic& topic, std::uint32_t member, const std::string& name) {
    if (!topic.writable) {
        spdlog::warn(
            "topic '{}': a member of group '{}' left with messages in flight while no "
            "publisher has re-registered since the restart: they are not redelivered",
            topic.name, name);
        return;
    }
    const auto group_it = topic.groups.find(name);
    layout::ReaderRow* row = reader_row(topic, member);
    if (group_it == topic.groups.end() || row == nullptr) return;
    const std::uint32_t group_entry = group_it->second.entry;
    layout::GroupState* group = group_state(topic, group_entry);
    if (group == nullptr) return;
    const detail::SegmentView& view = topic.segment.view();
    std::vector<const layout::ReaderRow*> others;
    for (std::uint32_t i = 0; i < view.max_readers; ++i) {
        const layout::RosterEntry& e = view.roster[i];
        if (i != member && topic.roster_segments[i] &&
            e.kind.load(std::memory_order_relaxed) ==
                static_cast<std::uint32_t>(RosterKind::member) &&
            e.group.load(std::memory_order_relaxed) == group_entry + 1) {
            others.push_back(reader_row(topic, i));
        }
    }
    const detail::OrphanCount count =
        detail::orphan_member_marks(view, member, *row, *group, others);
    if (count.redelivered > 0 || count.lost > 0) {
        spdlog::info(
            "topic '{}': roster entry {} left {} message(s) unfinished; group '{}' takes "
            "them over{}",
            topic.name, member, count.redelivered, name,
            count.lost > 0 ? " (" + std::to_string(count.lost) + " lost: the orphan table is full)"
                           : std::string());
    }
}

// The last member gone: the group, and whatever its dead members left, ends.
void Daemon::State::leave_group(Topic& topic, const std::string& name) {
    auto it = topic.groups.find(name);
    if (it == topic.groups.end() || --it->second.members > 0) return;
    free_entry(topic, it->second.entry);
    topic.groups.erase(it);
    spdlog::info("topic '{}': consumer group '{}' ended with its last member", topic.name, name);
}

// A publisher asks for its readers: an event per reader and group segment now, and from
// now on one for each that comes (send_entry_to_publishers).
Result<json> Daemon::State::subscribe_roster(Client& client, const json& request) {
    auto handle = protocol::get_uint(request, "handle");
    if (!handle) return std::move(handle).error();
    const auto h = handles.find(*handle);
    if (h == handles.end() || !client.handles.contains(*handle) ||
        h->second.role != protocol::Role::publisher) {
        return Error{ErrorCode::not_found,
                     "no publisher handle " + std::to_string(*handle) + " of yours"};
    }
    h->second.roster_events = true;
    const auto t = topics.find(h->second.topic);
    if (t == topics.end()) return protocol::make_ok();
    const detail::SegmentView& view = t->second.segment.view();
    for (std::uint32_t i = 0; i < view.max_readers; ++i) {
        if (!t->second.roster_segments[i]) continue;
        auto fd = t->second.roster_segments[i]->read_only_fd();
        if (!fd) continue;
        const int pass[] = {fd->get()};
        send_event(h->second.client,
                   json{{"ok", true},
                        {"event", "reader"},
                        {"handle", *handle},
                        {"index", i},
                        {"generation", view.roster[i].generation.load(std::memory_order_relaxed)}},
                   pass);
    }
    return protocol::make_ok();
}

void Daemon::State::send_entry_to_publishers(const Topic& topic, std::uint32_t index) {
    if (!topic.roster_segments[index]) return;
    const std::uint64_t generation =
        topic.segment.view().roster[index].generation.load(std::memory_order_relaxed);
    for (const std::uint64_t id : topic.handles) {
        const Handle& h = handles.at(id);
        if (h.role != protocol::Role::publisher || !h.roster_events) continue;
        auto fd = topic.roster_segments[index]->read_only_fd();
        if (!fd) continue;
        const int pass[] = {fd->get()};
        send_event(h.client,
                   json{{"ok", true},
                        {"event", "reader"},
                        {"handle", id},
                        {"index", index},
                        {"generation", generation}},
                   pass);
    }
}

}  // namespace ipcbusd
