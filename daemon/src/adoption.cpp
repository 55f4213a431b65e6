// SPDX-License-Identifier: Apache-2.0
// After a restart: clients that held topics under the previous daemon hand them back,
// segments and all ("adopt"), and the registry is rebuilt from what they bring.
//
// What adopt trusts: only memfds sealed against shrinking and growing (else a sender could
// truncate one under everyone's mapping); only a publisher entry and id the segment says
// belong to the adopting process, and that no live handle holds; only a roster entry of
// the adopting process, of the generation it names, with the reader segment made for it;
// and the adopter needs the same permission as for open. The first adopter of a topic
// defines its segment.
#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "ring.hpp"
#include "roster.hpp"
#include "state.hpp"

namespace ipcbusd {

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

bool process_is_dead(pid_t pid) {
    return pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH);
}

Error refused(const std::string& topic, const std::string& why) {
    return Error{ErrorCode::invalid_argument, "topic '" + topic + "': " + why};
}

}  // namespace

Result<json> Daemon::State::adopt(Client& client, int fd, const json& request, Fds segments) {
    auto req = protocol::parse_open(request);
    if (!req) return std::move(req).error();
    auto index = protocol::get_uint(request, "index", UINT32_MAX);
    if (!index) return std::move(index).error();
    const bool publisher = req->role == protocol::Role::publisher;
    const bool grouped = !publisher && !req->reader.group.empty();
    if (segments.size() != (publisher ? 1U : (grouped ? 3U : 2U))) {
        return Error{ErrorCode::invalid_argument,
                     "malformed request: adopt needs the segments the open granted"};
    }
    if (auto ok = check_access(client, *req); !ok) return std::move(ok).error();
    for (auto& segment : segments) {
        bool writable = false;
        if (!sealed_segment(segment.get(), writable)) {
            return refused(req->topic, "offered segments are not sealed ipcbus memfds");
        }
    }
    bool topic_writable = false;
    (void)sealed_segment(segments[0].get(), topic_writable);
    const bool known = topics.contains(req->topic);
    auto adopted = adopt_topic(client, *req, std::move(segments[0]), publisher && topic_writable);
    if (!adopted) return std::move(adopted).error();
    ledger.adopted(req->topic);
    Topic& t = **adopted;
    const detail::SegmentView& view = t.segment.view();
    auto fail = [&](const std::string& why) -> Result<json> {
        drop_if_unused(t);
        return refused(t.name, why);
    };
    Handle handle{fd, {}, req->role, static_cast<std::uint32_t>(*index), 0, {}, false, false};
    if (publisher) {
        auto entry = protocol::get_uint(request, "entry", view.max_publishers - 1);
        if (!entry) return fail("adopt without a valid publisher entry");
        const layout::PublisherEntry& e = view.publishers[*entry];
        // Relaxed: written by the previous daemon (and this publisher) long ago.
        if (e.state.load(std::memory_order_relaxed) !=
                static_cast<std::uint32_t>(layout::PublisherState::active) ||
            e.id != *index || e.pid != client.cred.pid) {
            return fail("publisher entry " + std::to_string(*entry) + " is not this process's");
        }
        for (const Handle* other : publishers_of(t)) {
            if (other->index == *index)
                return fail("publisher id " + std::to_string(*index) +
                            " is held by another publisher");
        }
        handle.entry = static_cast<std::uint32_t>(*entry);
        handle.exclusive_ok = req->exclusive_ok;
    } else {
        if (*index >= view.max_readers) return fail("no such roster entry");
        const layout::RosterEntry& e = view.roster[*index];
        auto generation = protocol::get_uint(request, "generation");
        if (!generation ||
            e.state.load(std::memory_order_relaxed) !=
                static_cast<std::uint32_t>(layout::RosterState::active) ||
            e.generation.load(std::memory_order_relaxed) != *generation ||
            e.pid.load(std::memory_order_relaxed) != client.cred.pid) {
            return fail("roster entry " + std::to_string(*index) + " is not this process's");
        }
        auto memory = detail::SharedMemory::map(std::move(segments[1]), true, false, t.name);
        if (!memory) return fail(memory.error().message);
        if (auto row = detail::validate_reader_segment(memory->bytes(), t.name, handle.index);
            !row) {
            return fail(row.error().message);
        }
        t.roster_segments[handle.index] = std::move(memory).value();
        if (grouped) {
            auto group = protocol::get_uint(request, "group_entry", view.max_readers - 1);
            if (!group || e.group.load(std::memory_order_relaxed) != *group + 1) {
                return fail("consumer group entry is not this member's");
            }
            const auto g = static_cast<std::uint32_t>(*group);
            if (!t.roster_segments[g]) {
                auto state = detail::SharedMemory::map(std::move(segments[2]), true, false, t.name);
                if (!state) return fail(state.error().message);
                if (auto ok = detail::validate_group_segment(state->bytes(), t.name, g); !ok) {
                    return fail(ok.error().message);
                }
                t.roster_segments[g] = std::move(state).value();
                send_entry_to_publishers(t, g);
            }
            auto [it, inserted] = t.groups.try_emplace(req->reader.group, Group{g, 0});
            ++it->second.members;
            handle.group = req->reader.group;
        }
    }
    const std::uint64_t id = add_handle(client, fd, t, std::move(handle));
    if (!publisher) send_entry_to_publishers(t, static_cast<std::uint32_t>(*index));
    if (!known) clean_up_after_the_dead(t);
    tell_matched(t);  // the dead cleaned up, or what changed since the tables were counted
    return json{{"ok", true}, {"handle", id}, {"index", *index}, {"created", false}};
}

Result<Topic*> Daemon::State::adopt_topic(const Client& client, const protocol::OpenRequest& req,
                                          detail::UniqueFd topic_fd, bool writable) {
    if (auto it = topics.find(req.topic); it != topics.end()) {
        Topic& known = it->second;
        if (!same_file(known.segment.fd(), topic_fd.get())) {
            return Error{ErrorCode::corrupt_segment,
                         "topic '" + req.topic +
                             "': was created anew while the daemon was away; this process "
                             "holds the old segment"};
        }
        if (!known.writable && writable) {
            // A publisher brings the writable descriptor that subscribers could not.
            auto upgraded = detail::TopicSegment::map(std::move(topic_fd), known.name, true);
            if (!upgraded) return std::move(upgraded).error();
            known.segment = std::move(upgraded).value();
            known.writable = true;
            for (const std::uint32_t index : std::exchange(known.frees_when_writable, {})) {
                free_entry(known, index);
            }
            clean_up_after_the_dead(known);
            attach_waiting(known);
        }
        return &known;
    }
    auto mapped = detail::TopicSegment::map(std::move(topic_fd), req.topic, writable);
    if (!mapped) return std::move(mapped).error();
    if (auto ok = detail::check_compatible(mapped->validated(), req.as_topic_request()); !ok) {
        return std::move(ok).error();
    }
    // Subscribers of the adopted topic get a read-only descriptor, as before the restart.
    auto read_only = mapped->memory().read_only_fd();
    if (!read_only) return std::move(read_only).error();
    Topic topic{.name = req.topic,
                .type_name = mapped->identity().type_name,
                .segment = std::move(mapped).value(),
                .creator_pid = client.cred.pid,
                .creator_uid = client.cred.uid,
                .read_only = std::move(read_only).value(),
                .writable = writable};
    topic.roster_segments.resize(topic.segment.view().max_readers);
    // What its clients knew before the restart: only changes from here on are news.
    topic.matched_readers = detail::count_active_readers(topic.segment.view());
    topic.matched_publishers = detail::count_active_publishers(topic.segment.view());
    total_bytes += topic.segment.size();
    spdlog::info("topic '{}' adopted from pid {} (registry rebuilt after a restart)", topic.name,
                 client.cred.pid);
    Topic& adopted = topics.emplace(req.topic, std::move(topic)).first->second;
    announce(adopted);
    attach_waiting(adopted);  // subscribers that re-registered before their publisher
    return &adopted;
}

// Readers and publishers that died while no daemon was watching would hold the topic
// for ever: their entries are freed (a dead publisher's unfinished frame passed over).
// And whatever the previous daemon had not resolved yet (a hole a dead publisher left,
// which it was waiting out) is looked for again.
void Daemon::State::clean_up_after_the_dead(Topic& topic) {
    if (!topic.writable) return;  // the roster and the frames cannot be written yet
    topic.holes_suspected_since = std::chrono::steady_clock::now();
    const detail::SegmentView& view = topic.segment.view();
    for (std::uint32_t i = 0; i < view.max_readers; ++i) {
        const layout::RosterEntry& e = view.roster[i];
        // Relaxed: the previous daemon's writes; groups belong to no process.
        if (e.state.load(std::memory_order_relaxed) ==
                static_cast<std::uint32_t>(layout::RosterState::free) ||
            e.kind.load(std::memory_order_relaxed) ==
                static_cast<std::uint32_t>(layout::RosterKind::group) ||
            !process_is_dead(e.pid.load(std::memory_order_relaxed))) {
            continue;
        }
        spdlog::info("topic '{}': freed roster entry {} of pid {}, which died meanwhile",
                     topic.name, i, e.pid.load(std::memory_order_relaxed));
        free_entry(topic, i);
    }
    for (std::uint32_t i = 0; i < view.max_publishers; ++i) {
        layout::PublisherEntry& e = view.publishers[i];
        if (e.state.load(std::memory_order_relaxed) !=
                static_cast<std::uint32_t>(layout::PublisherState::active) ||
            !process_is_dead(e.pid)) {
            continue;
        }
        detail::resolve_dead_publisher(view, e.id, e.claiming.load(std::memory_order_acquire));
        detail::reclaim_pool_loans(view, e.id);
        e.state.store(static_cast<std::uint32_t>(layout::PublisherState::free),
                      std::memory_order_seq_cst);
        spdlog::info("topic '{}': freed publisher entry {} of pid {}, which died meanwhile",
                     topic.name, i, e.pid);
    }
}

}  // namespace ipcbusd
