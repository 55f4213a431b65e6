// SPDX-License-Identifier: Apache-2.0
// Publishers: their entries in the topic's publisher table, the exclusive fast path of a
// lone publisher (granted, revoked when a second arrives, granted again when it is alone
// again), and what the daemon does when a publisher dies or stalls inside a publish.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <climits>
#include <set>

#include "ipc/futex.hpp"
#include "ring.hpp"
#include "roster.hpp"
#include "state.hpp"

namespace ipcbusd {

namespace {

// After a publisher died while taking a ticket, a hole that is still there this much later
// is its (a live publisher fills its hole within nanoseconds).
constexpr auto kHoleGrace = std::chrono::milliseconds(20);

std::uint32_t owned(std::uint32_t id) {
    return layout::kExclusiveOwned | (id & layout::kExclusiveIdMask);
}

}  // namespace

std::vector<const Handle*> Daemon::State::publishers_of(const Topic& topic) const {
    std::vector<const Handle*> out;
    for (const std::uint64_t id : topic.handles) {
        const Handle& h = handles.at(id);
        if (h.role == protocol::Role::publisher) out.push_back(&h);
    }
    return out;
}

Result<std::uint32_t> Daemon::State::claim_publisher_entry(Topic& topic, pid_t pid,
                                                           std::uint32_t id) {
    const detail::SegmentView& view = topic.segment.view();
    if (auto entry = detail::claim_publisher_entry(view, pid, id)) return *entry;
    return Error{ErrorCode::resource_exhausted,
                 "topic '" + topic.name + "': publisher table full (" +
                     std::to_string(view.max_publishers) + " publishers)"};
}

Result<json> Daemon::State::add_publisher(Client& client, int fd, Topic& topic,
                                          const protocol::OpenRequest& req, bool created,
                                          std::vector<int>& pass_fds) {
    if (!topic.writable) {
        // Rebuilt after a restart from its subscribers alone, who hold it read-only: no
        // writable handle on it survived, and none can be made.
        return Error{ErrorCode::resource_exhausted,
                     "topic '" + topic.name +
                         "': restored after a daemon restart from its subscribers alone, so "
                         "the daemon has no writable handle on it; a publisher that held it "
                         "before the restart can still re-register, otherwise it takes new "
                         "publishers once its " +
                         std::to_string(topic.handles.size()) + " subscriber(s) have closed it"};
    }
    const detail::SegmentView& view = topic.segment.view();
    // Relaxed: a unique number; the daemon is the only one handing them out.
    const std::uint32_t id = view.header->next_publisher_id.fetch_add(1, std::memory_order_relaxed);
    if (id == 0 || id > layout::kMaxPublisherId) {
        return Error{ErrorCode::resource_exhausted,
                     "topic '" + topic.name + "': has issued all " +
                         std::to_string(layout::kMaxPublisherId) +
                         " publisher ids; it takes new publishers once it is recreated"};
    }
    auto entry = claim_publisher_entry(topic, client.cred.pid, id);
    if (!entry) return std::move(entry).error();
    const std::vector<const Handle*> others = publishers_of(topic);
    auto& word = view.header->exclusive;
    // Relaxed: the daemon writes it, and the revoked publisher (CAS to shared).
    const std::uint32_t now = word.load(std::memory_order_relaxed);
    std::string exclusive = "shared";
    if (others.empty()) {
        word.store(req.exclusive_ok ? owned(id) : layout::kExclusiveShared,
                   std::memory_order_seq_cst);
        exclusive = req.exclusive_ok ? "granted" : "shared";
    } else if (now != layout::kExclusiveShared) {
        // The lone publisher must give up its plain stores before this one publishes: at
        // once if it is outside a publish (even stopped there), else by the timer.
        exclusive = try_revoke(topic) ? "shared" : "revoking";
    }
    Handle handle{fd, {}, protocol::Role::publisher, id, *entry, {}, false, false};
    handle.exclusive_ok = req.exclusive_ok;
    const std::uint64_t hid = add_handle(client, fd, topic, std::move(handle));
    pass_fds = {topic.segment.fd()};
    spdlog::info("pid {} {} '{}' as publisher (handle {}, id {}, {})", client.cred.pid,
                 created ? "created" : "opened", topic.name, hid, id, exclusive);
    return json{{"ok", true},      {"handle", hid},      {"index", id},
                {"entry", *entry}, {"created", created}, {"exclusive", exclusive}};
}

void Daemon::State::remove_publisher(Topic& topic, const Handle& handle, bool died) {
    const detail::SegmentView& view = topic.segment.view();
    if (handle.entry >= view.max_publishers) return;
    layout::PublisherEntry& e = view.publishers[handle.entry];
    if (died && !topic.writable) {
        spdlog::warn(
            "topic '{}': publisher {} died, but no publisher has re-registered since "
            "the restart: its unfinished frame cannot be resolved",
            topic.name, handle.index);
    } else if (died) {
        // Acquire: its last claim (the process is gone: nothing changes it any more).
        const std::uint64_t claiming = e.claiming.load(std::memory_order_acquire);
        const std::uint64_t resolved = detail::resolve_dead_publisher(view, handle.index, claiming);
        if (claiming == layout::kTakingTicket) {
            topic.holes_suspected_since = std::chrono::steady_clock::now();
        }
        const std::uint32_t reclaimed = detail::reclaim_pool_loans(view, handle.index);
        if (resolved > 0 || reclaimed > 0) {
            spdlog::info(
                "topic '{}': publisher {} died: {} frame(s) passed over, {} pool "
                "buffer(s) reclaimed",
                topic.name, handle.index, resolved, reclaimed);
        }
    }
    // seq_cst: readers scanning for fence_on stop counting it.
    e.state.store(static_cast<std::uint32_t>(layout::PublisherState::free),
                  std::memory_order_seq_cst);
    topic.claims.erase(handle.entry);
    if (topic.writable) regrant_exclusive(topic);
}

// Back to one publisher: it may take the exclusive fast path again (which also cancels a
// revocation still pending for it). None: shared. Several: shared, if the word still names
// one that has left (a revocation its holder never acknowledged because it exited).
void Daemon::State::regrant_exclusive(Topic& topic) {
    auto& word = topic.segment.view().header->exclusive;
    const std::vector<const Handle*> left = publishers_of(topic);
    // Relaxed: the daemon writes it (and the revoked publisher, by CAS).
    const std::uint32_t now = word.load(std::memory_order_relaxed);
    const std::uint32_t holder = now & layout::kExclusiveIdMask;
    const bool names_a_publisher =
        std::any_of(left.begin(), left.end(), [&](const Handle* h) { return h->index == holder; });
    if (left.size() == 1 && left[0]->exclusive_ok) {
        word.store(owned(left[0]->index), std::memory_order_seq_cst);
    } else if (left.size() <= 1 || (now != layout::kExclusiveShared && !names_a_publisher)) {
        word.store(layout::kExclusiveShared, std::memory_order_seq_cst);
    } else {
        return;
    }
    detail::futex_wake(word, INT_MAX);  // a newcomer waiting for a revocation looks again
}

bool Daemon::State::try_revoke(Topic& topic) {
    const detail::SegmentView& view = topic.segment.view();
    // Relaxed: the daemon writes the word (the acquire is in revoke_exclusive).
    const std::uint32_t holder =
        view.header->exclusive.load(std::memory_order_relaxed) & layout::kExclusiveIdMask;
    for (const Handle* p : publishers_of(topic)) {
        if (p->index == holder) return detail::revoke_exclusive(view, p->entry);
    }
    regrant_exclusive(topic);  // it names no publisher of ours any more
    return true;
}

bool Daemon::State::needs_stall_scan(const Topic& topic) const {
    if (!topic.writable) return false;
    if (topic.holes_suspected_since) return true;
    // A revocation waits for its publisher to leave the publish it is in.
    if ((topic.segment.view().header->exclusive.load(std::memory_order_relaxed) &
         ~layout::kExclusiveIdMask) == layout::kExclusiveRevoke) {
        return true;
    }
    std::size_t publishers = 0;
    for (const std::uint64_t id : topic.handles) {
        if (handles.at(id).role == protocol::Role::publisher && ++publishers >= 2) return true;
    }
    return false;
}

// Claims that stayed the same for longer than the topic's unblock timeout belong to a
// publisher that is stopped or starved inside a publish: readers pass its frame over (a
// busy one is marked stale, so its late commit fails), so no one waits for it longer.
void Daemon::State::scan_stalls(Topic& topic, std::chrono::steady_clock::time_point now) {
    const detail::SegmentView& view = topic.segment.view();
    if ((view.header->exclusive.load(std::memory_order_relaxed) & ~layout::kExclusiveIdMask) ==
        layout::kExclusiveRevoke) {
        (void)try_revoke(topic);
    }
    const auto timeout = std::chrono::nanoseconds(view.unblock_timeout_ns);
    for (const Handle* p : publishers_of(topic)) {
        // Relaxed: a snapshot; the resolution itself works by CAS on the frame.
        const std::uint64_t claiming =
            view.publishers[p->entry].claiming.load(std::memory_order_relaxed);
        ClaimSeen& seen = topic.claims[p->entry];
        if (claiming != seen.claiming) {
            seen = ClaimSeen{claiming, now, false};
            continue;
        }
        if (claiming == layout::kNotClaiming || seen.resolved || now - seen.since < timeout)
            continue;
        seen.resolved = true;
        if (claiming == layout::kTakingTicket) {
            // It may have its ticket already: look for a hole it left.
            if (!topic.holes_suspected_since) topic.holes_suspected_since = seen.since;
            continue;
        }
        if (detail::resolve_stalled_claim(view, p->index, claiming)) {
            spdlog::warn(
                "topic '{}': publisher {} (pid {}) stalled on sequence {} for more than "
                "{} ms: readers pass it over",
                topic.name, p->index, view.publishers[p->entry].pid, claiming,
                view.unblock_timeout_ns / 1'000'000);
        }
    }
    if (!topic.holes_suspected_since) return;
    std::vector<std::uint64_t> found;
    detail::find_holes(view, found, 64);
    // A hole that a publisher's entry names as its claim is that publisher's, alive (its
    // stall is handled above, after the unblock timeout) or dead (handled when the daemon
    // learns of its death): only the others are dead publishers' leftovers.
    std::set<std::uint64_t> claimed;
    for (std::uint32_t i = 0; i < view.max_publishers; ++i) {
        const layout::PublisherEntry& e = view.publishers[i];
        // Relaxed: a snapshot; skip_hole decides by CAS.
        if (e.state.load(std::memory_order_relaxed) ==
            static_cast<std::uint32_t>(layout::PublisherState::active)) {
            claimed.insert(e.claiming.load(std::memory_order_relaxed));
        }
    }
    std::erase_if(found, [&](std::uint64_t seq) { return claimed.contains(seq); });
    std::map<std::uint64_t, std::chrono::steady_clock::time_point> still;
    for (const std::uint64_t seq : found) {
        const auto it = topic.holes.find(seq);
        const auto since = it == topic.holes.end() ? now : it->second;
        if (now - since >= kHoleGrace && detail::skip_hole(view, seq)) {
            detail::wake_readers(view);
            spdlog::info("topic '{}': sequence {} was claimed and never written: passed over",
                         topic.name, seq);
            continue;
        }
        still.emplace(seq, since);
    }
    topic.holes = std::move(still);
    if (topic.holes.empty() && now - *topic.holes_suspected_since > 2 * timeout + kHoleGrace) {
        topic.holes_suspected_since.reset();
    }
}

}  // namespace ipcbusd
