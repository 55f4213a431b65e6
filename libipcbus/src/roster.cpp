// SPDX-License-Identifier: Apache-2.0
#include "roster.hpp"

#include <algorithm>
#include <climits>

#include "ipc/futex.hpp"
#include "ring.hpp"

namespace ipcbus::detail {

using layout::RosterKind;
using layout::RosterState;

std::optional<std::uint32_t> claim_roster_entry(const SegmentView& view, std::int32_t pid,
                                                RosterKind kind, std::uint32_t group) noexcept {
    for (std::uint32_t i = 0; i < view.max_readers; ++i) {
        layout::RosterEntry& e = view.roster[i];
        // Relaxed: the daemon is the roster's only writer.
        if (e.state.load(std::memory_order_relaxed) !=
            static_cast<std::uint32_t>(RosterState::free)) {
            continue;
        }
        e.state.store(static_cast<std::uint32_t>(RosterState::claiming), std::memory_order_relaxed);
        // seq_cst, before the entry is activated: a publisher's scan that reads the count
        // after this covers the entry (ReaderSet::oldest_needed in reader_set.cpp).
        if (view.header->rows_in_use.load(std::memory_order_relaxed) <= i) {
            view.header->rows_in_use.store(i + 1, std::memory_order_seq_cst);
        }
        // Relaxed: published by activate_roster_entry's seq_cst store of the state.
        e.kind.store(static_cast<std::uint32_t>(kind), std::memory_order_relaxed);
        e.pid.store(pid, std::memory_order_relaxed);
        e.group.store(group, std::memory_order_relaxed);
        e.generation.fetch_add(1, std::memory_order_relaxed);
        return i;
    }
    return std::nullopt;
}

// Its start first (a publisher that has not mapped the entry's segment gates on it), then
// the state with seq_cst, then the start from a cursor read after that. A reliable
// publisher that did not see the entry can only reach sequences below that cursor plus
// the ring less history_depth (invariant 7 in ring.hpp), so every message from the start
// on is safe, history included.
std::uint64_t activate_roster_entry(const SegmentView& view, std::uint32_t index,
                                    layout::ReaderRow* row, layout::GroupState* group,
                                    const layout::GroupState* member_of,
                                    std::uint32_t history) noexcept {
    layout::RosterEntry& e = view.roster[index];
    const std::uint64_t before = view.header->write_cursor.load(std::memory_order_seq_cst);
    e.start.store(before, std::memory_order_seq_cst);
    e.state.store(static_cast<std::uint32_t>(RosterState::active), std::memory_order_seq_cst);
    const std::uint64_t now = view.header->write_cursor.load(std::memory_order_seq_cst);
    // Reliable mode keeps only the newest history_depth messages safe from reuse; an
    // overwrite reader may look further back (whatever was reused meanwhile it counts lost).
    const std::uint64_t keep = view.reliable ? view.history_depth : view.capacity;
    std::uint64_t start = now - std::min<std::uint64_t>({history, now, keep});
    if (member_of != nullptr) {
        // A member takes from its group's cursor: it holds nothing older than that.
        start = std::min(now, member_of->cursor.load(std::memory_order_seq_cst));
    }
    if (group != nullptr) group->cursor.store(start, std::memory_order_seq_cst);
    if (row != nullptr) {
        // Release: the reader reads them after the daemon's reply (the socket orders it too).
        row->position.store(start, std::memory_order_release);
        row->released.store(start, std::memory_order_release);
    }
    e.start.store(start, std::memory_order_seq_cst);
    // seq_cst: publishers look at the roster again when it moves.
    view.header->roster_generation.fetch_add(1, std::memory_order_seq_cst);
    return start;
}

void release_roster_entry(const SegmentView& view, std::uint32_t index,
                          std::atomic<std::uint32_t>* space_futex) noexcept {
    // seq_cst: publishers stop counting the entry once they see it free.
    view.roster[index].state.store(static_cast<std::uint32_t>(RosterState::free),
                                   std::memory_order_seq_cst);
    view.header->roster_generation.fetch_add(1, std::memory_order_seq_cst);
    if (space_futex != nullptr) {
        // A reliable publisher may sleep waiting for this reader. Relaxed: a generation
        // counter; the system call orders the rest.
        space_futex->fetch_add(1, std::memory_order_relaxed);
        futex_wake(*space_futex, INT_MAX);
    }
}

namespace {

// Whether anyone but the dead member holds `sequence`: another member's mark, or an
// entry of the orphan table.
bool held_elsewhere(const layout::GroupState& group,
                    std::span<const layout::ReaderRow* const> others, std::uint64_t sequence) {
    for (const auto& entry : group.orphans) {
        const auto kind = layout::orphan_kind(entry.state.load(std::memory_order_acquire));
        if (kind != layout::OrphanKind::empty &&
            entry.sequence.load(std::memory_order_relaxed) == sequence) {
            return true;
        }
    }
    for (const layout::ReaderRow* other : others) {
        for (const auto& mark : other->in_flight) {
            const std::uint64_t m = mark.load(std::memory_order_acquire);
            if (m != layout::kNoSequence && (m & layout::kMarkSequenceMask) == sequence)
                return true;
        }
    }
    return false;
}

// Puts `sequence` into a free entry of the group's orphan table. False if it is full.
bool add_orphan(layout::GroupState& group, std::uint64_t sequence) {
    for (auto& entry : group.orphans) {
        const std::uint64_t state = entry.state.load(std::memory_order_acquire);
        if (layout::orphan_kind(state) != layout::OrphanKind::empty) continue;
        entry.sequence.store(sequence, std::memory_order_relaxed);
        // seq_cst: before the dead member's mark is cleared (publishers read marks before
        // orphan entries); release for the sequence, which members read after it.
        entry.state.store(layout::orphan_state(layout::orphan_generation(state) + 1, 0,
                                               layout::OrphanKind::available),
                          std::memory_order_seq_cst);
        group.orphans_available.fetch_add(1, std::memory_order_relaxed);  // a hint
        return true;
    }
    return false;
}

}  // namespace

// Each mark is resolved exactly where it can be:
//  - taken (the member's CAS won; it may have acted on it): redelivered (at least once);
//  - pending from the group cursor (the member died between marking and its CAS, or
//    after a CAS that failed): redelivered only if the cursor is past it and no one else
//    holds it. If others have meanwhile taken it and already finished it, the daemon
//    cannot tell who won, and redelivers: at most one duplicate per death;
//  - from the orphan table: resolved through the entry, whose taker says who won (an
//    entry the dead member had taken goes back into the table).
OrphanCount orphan_member_marks(const SegmentView& view, std::uint32_t index,
                                layout::ReaderRow& row, layout::GroupState& group,
                                std::span<const layout::ReaderRow* const> others) noexcept {
    OrphanCount count;
    for (auto& entry : group.orphans) {
        std::uint64_t state = entry.state.load(std::memory_order_acquire);
        if (layout::orphan_kind(state) == layout::OrphanKind::taken &&
            layout::orphan_taker(state) == index &&
            entry.state.compare_exchange_strong(
                state,
                layout::orphan_state(layout::orphan_generation(state) + 1, 0,
                                     layout::OrphanKind::available),
                std::memory_order_seq_cst)) {
            group.orphans_available.fetch_add(1, std::memory_order_relaxed);
            ++count.redelivered;
        }
    }
    for (std::size_t k = 0; k < layout::kMaxInFlight; ++k) {
        const std::uint64_t mark = row.in_flight[k].load(std::memory_order_acquire);
        if (mark == layout::kNoSequence) continue;
        const std::uint64_t sequence = mark & layout::kMarkSequenceMask;
        const bool pending = (mark & layout::kPendingBit) != 0;
        const bool from_table = row.in_flight_source[k].load(std::memory_order_relaxed) != 0;
        bool redeliver = !from_table;
        if (redeliver && pending) {
            redeliver = group.cursor.load(std::memory_order_acquire) > sequence &&
                        !held_elsewhere(group, others, sequence);
        }
        if (!redeliver) {
            ++count.dropped;
        } else if (add_orphan(group, sequence)) {
            ++count.redelivered;
        } else {
            // The table is full (many members died holding many messages): counted.
            group.lost.fetch_add(1, std::memory_order_relaxed);
            ++count.lost;
        }
        // seq_cst: after the orphan entry (publishers scan marks, then orphan entries).
        row.in_flight[k].store(layout::kNoSequence, std::memory_order_seq_cst);
    }
    if (count.redelivered > 0) {
        // Release: members that see the new count find the entries filled.
        group.orphan_events.fetch_add(1, std::memory_order_release);
        // Wake sleeping members: they may have taken everything else already, and a
        // reliable publisher gated by these messages publishes nothing that would wake them.
        wake_readers(view);
    }
    return count;
}

std::optional<std::uint32_t> claim_publisher_entry(const SegmentView& view, std::int32_t pid,
                                                   std::uint32_t id) noexcept {
    for (std::uint32_t i = 0; i < view.max_publishers; ++i) {
        layout::PublisherEntry& e = view.publishers[i];
        // Relaxed: the daemon is the only one that claims and frees entries.
        if (e.state.load(std::memory_order_relaxed) !=
            static_cast<std::uint32_t>(layout::PublisherState::free)) {
            continue;
        }
        e.id = id;
        e.pid = pid;
        // Relaxed: published by the seq_cst store of the state below.
        e.fence_on.store(1, std::memory_order_relaxed);
        e.claiming.store(layout::kNotClaiming, std::memory_order_relaxed);
        e.blocked_since_ns.store(0, std::memory_order_relaxed);
        e.loans.store(0, std::memory_order_relaxed);
        e.pool_loans.store(0, std::memory_order_relaxed);
        e.published.store(0, std::memory_order_relaxed);
        e.last_publish_ns.store(0, std::memory_order_relaxed);
        // Even: a previous holder killed inside an exclusive publish left it odd, and the
        // daemon would never see the new one outside a publish until it first published.
        e.in_publish.store(0, std::memory_order_relaxed);
        // seq_cst: readers deciding whether they need a membarrier scan active entries.
        e.state.store(static_cast<std::uint32_t>(layout::PublisherState::active),
                      std::memory_order_seq_cst);
        return i;
    }
    return std::nullopt;
}

std::size_t count_active_readers(const SegmentView& view) noexcept {
    std::size_t count = 0;
    for (std::uint32_t i = 0; i < view.max_readers; ++i) {
        const layout::RosterEntry& entry = view.roster[i];
        // Relaxed: a snapshot for the caller.
        if (entry.state.load(std::memory_order_relaxed) ==
                static_cast<std::uint32_t>(layout::RosterState::active) &&
            entry.kind.load(std::memory_order_relaxed) !=
                static_cast<std::uint32_t>(layout::RosterKind::group)) {
            ++count;
        }
    }
    return count;
}

std::size_t count_active_publishers(const SegmentView& view) noexcept {
    std::size_t count = 0;
    for (std::uint32_t i = 0; i < view.max_publishers; ++i) {
        // Relaxed: a snapshot for the caller.
        if (view.publishers[i].state.load(std::memory_order_relaxed) ==
            static_cast<std::uint32_t>(layout::PublisherState::active)) {
            ++count;
        }
    }
    return count;
}

}  // namespace ipcbus::detail
