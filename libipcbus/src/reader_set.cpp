// SPDX-License-Identifier: Apache-2.0
// A publisher's view of the topic's readers: the roster, the reader and group segments
// the daemon hands over, gating (oldest_needed) and who sleeps (wake_needed).
#include "ring.hpp"

#include <algorithm>
#include <mutex>

#include "ring_internal.hpp"
#include "roster.hpp"

namespace ipcbus::detail {

namespace {

using layout::RosterKind;
using layout::RosterState;

}  // namespace

ReaderSet::ReaderSet(const SegmentView& view)
    : view_(view),
      rows_(view.max_readers),
      sleep_words_(view.max_readers, nullptr),
      sleep_rows_(view.max_readers, 0),
      woken_(view.max_readers, 0) {
    offers_.reserve(8);
    applying_.reserve(8);
    retired_.reserve(2 * static_cast<std::size_t>(view.max_readers));
}

void ReaderSet::offer(std::uint32_t index, std::uint64_t generation, const void* base,
                      SegmentKeepalive keepalive) {
    std::vector<SegmentKeepalive> dead;
    {
        std::lock_guard lock(mutex_);
        offers_.push_back(Offer{index, generation, base, std::move(keepalive)});
        dead.swap(retired_);
        retired_.reserve(2 * static_cast<std::size_t>(view_.max_readers));
        // Relaxed: a hint for refresh_if_needed(); the mutex orders the offer itself.
        pending_.store(true, std::memory_order_relaxed);
    }
    // `dead` unmaps the segments the publisher let go of, here, off its hot path.
}

void ReaderSet::drain_retired() {
    std::vector<SegmentKeepalive> dead;
    std::lock_guard lock(mutex_);
    dead.swap(retired_);
    retired_.reserve(2 * static_cast<std::size_t>(view_.max_readers));
}

void ReaderSet::retire(Row& row) noexcept {
    if (row.keep) {
        // Within the reserved capacity this never allocates; beyond it (many readers came
        // and went with no offer since), the mapping is released here instead.
        if (retired_.size() < retired_.capacity()) {
            retired_.push_back(std::move(row.keep));
        } else {
            row.keep.reset();
        }
    }
    row = Row{};
}

void ReaderSet::refresh() noexcept {
    // Never wait on the thread that offers segments: try again at the next publish.
    std::unique_lock lock(mutex_, std::try_to_lock);
    if (!lock.owns_lock()) return;
    std::swap(offers_, applying_);
    pending_.store(false, std::memory_order_relaxed);  // the mutex orders what follows
    // seq_cst: read before the entries, so that a change after it shows up again.
    const std::uint64_t generation =
        view_.header->roster_generation.load(std::memory_order_seq_cst);
    for (Offer& offer : applying_) {
        if (offer.index >= rows_.size() || offer.base == nullptr) continue;
        Row& row = rows_[offer.index];
        if (row.mapped() && row.generation == offer.generation) continue;  // offered twice
        retire(row);
        // Relaxed: the roster entry was written before the daemon sent the segment.
        const auto kind = view_.roster[offer.index].kind.load(std::memory_order_relaxed);
        row.generation = offer.generation;
        if (kind == static_cast<std::uint32_t>(RosterKind::group)) {
            row.group = static_cast<const layout::GroupState*>(offer.base);
        } else {
            row.reader = static_cast<const layout::ReaderRow*>(offer.base);
        }
        row.keep = std::move(offer.keep);
        woken_[offer.index] = 0;
    }
    applying_.clear();
    // Which entries are active, mapped and current.
    const std::uint32_t rows =
        std::min(view_.header->rows_in_use.load(std::memory_order_seq_cst), view_.max_readers);
    bool complete = true;
    bool wants_fence = false;
    sleepers_ = 0;
    for (std::uint32_t i = 0; i < view_.max_readers; ++i) {
        Row& row = rows_[i];
        const layout::RosterEntry& entry = view_.roster[i];
        // seq_cst: part of the ordering argument of oldest_needed().
        const std::uint32_t state = entry.state.load(std::memory_order_seq_cst);
        const bool active = i < rows && state == static_cast<std::uint32_t>(RosterState::active);
        if (!active) {
            // The daemon sends a new reader's segment before it activates the entry (so
            // that no active entry lacks one should the daemon die in between): keep it.
            const bool coming = state == static_cast<std::uint32_t>(RosterState::claiming) &&
                                row.generation == entry.generation.load(std::memory_order_seq_cst);
            if (!coming) retire(row);
            continue;
        }
        if (!row.mapped() || row.generation != entry.generation.load(std::memory_order_seq_cst)) {
            retire(row);  // a previous reader's segment
            complete = false;
            continue;
        }
        if (row.reader != nullptr) {
            sleep_rows_[sleepers_] = i;
            sleep_words_[sleepers_++] = &row.reader->sleep;
            // seq_cst: see recheck_wants_fence().
            wants_fence |=
                (row.reader->sleep.load(std::memory_order_seq_cst) & layout::kWantsFence) != 0;
        }
    }
    complete_ = complete;
    wants_fence_ = wants_fence;
    seen_generation_ = generation;
}

bool ReaderSet::recheck_wants_fence() const noexcept {
    for (std::size_t k = 0; k < sleepers_; ++k) {
        // seq_cst: after our seq_cst store of fence_on = 0 (Dekker with the reader's
        // seq_cst RMW of its sleep word followed by its load of fence_on).
        if ((sleep_words_[k]->load(std::memory_order_seq_cst) & layout::kWantsFence) != 0) {
            return true;
        }
    }
    return false;
}

bool ReaderSet::wake_needed() noexcept {
    if (!complete_) return true;  // someone may sleep whose word we cannot see yet
    bool wake = false;
    for (std::size_t k = 0; k < sleepers_; ++k) {
        // Relaxed: ordered after our commit by the caller's fence (or the CAS that
        // committed), or by the sleeping reader's membarrier (wait.cpp).
        const std::uint64_t word = sleep_words_[k]->load(std::memory_order_relaxed);
        wants_fence_ |= (word & layout::kWantsFence) != 0;
        // A sleeper we have not woken yet: one wake-up per sleep, not one per message.
        std::uint64_t& woken = woken_[sleep_rows_[k]];
        if ((word & layout::kSleepersMask) != 0 && word != woken) {
            woken = word;
            wake = true;
        }
    }
    return wake;
}

std::size_t ReaderSet::readers() const noexcept {
    return count_active_readers(view_);
}

std::uint64_t ReaderSet::oldest_needed(std::uint64_t cursor) noexcept {
    // Every load here is seq_cst, and the passes go in an order chosen against the orders
    // in which readers and the daemon write (each a Dekker-style pairing on the single
    // total order):
    //  - the cursor first (the caller's load): an entry the daemon activates after it
    //    starts at a cursor read after activation, so at or after this one;
    //  - group cursors before members' in-flight marks: a member marks a sequence before
    //    its CAS takes it from the cursor, so a cursor seen moved implies the mark is seen;
    //  - members' marks before orphan entries: the daemon writes a dead member's mark into
    //    the orphan table before it clears the mark, and a member taking an orphan keeps
    //    the entry (taken) until it has released the message.
    // Whatever a reader or group wrote is clamped to the cursor: a lie can only hold us
    // back. An entry whose segment we have not mapped yet counts from its start.
    std::uint64_t oldest = cursor;
    gate_futex_ = nullptr;
    auto consider = [&](std::uint64_t value, const std::atomic<std::uint32_t>* futex) {
        value = std::min(value, cursor);
        if (value < oldest) {
            oldest = value;
            gate_futex_ = futex;
        }
    };
    const std::uint32_t rows =
        std::min(view_.header->rows_in_use.load(std::memory_order_seq_cst), view_.max_readers);
    auto active = [&](std::uint32_t i, RosterKind kind) {
        const layout::RosterEntry& e = view_.roster[i];
        return e.state.load(std::memory_order_seq_cst) ==
                   static_cast<std::uint32_t>(RosterState::active) &&
               e.kind.load(std::memory_order_seq_cst) == static_cast<std::uint32_t>(kind);
    };
    auto mapped = [&](std::uint32_t i) {
        return rows_[i].mapped() &&
               rows_[i].generation == view_.roster[i].generation.load(std::memory_order_seq_cst);
    };
    auto group_of = [&](std::uint32_t member) -> const layout::GroupState* {
        const std::uint32_t g = view_.roster[member].group.load(std::memory_order_seq_cst);
        if (g == 0 || g > view_.max_readers || !mapped(g - 1)) return nullptr;
        return rows_[g - 1].group;
    };
    for (std::uint32_t i = 0; i < rows; ++i) {  // groups' cursors
        if (!active(i, RosterKind::group)) continue;
        if (mapped(i) && rows_[i].group != nullptr) {
            consider(rows_[i].group->cursor.load(std::memory_order_seq_cst),
                     &rows_[i].group->space_futex);
        } else {
            consider(view_.roster[i].start.load(std::memory_order_seq_cst), nullptr);
        }
    }
    for (std::uint32_t i = 0; i < rows; ++i) {  // plain readers and members' marks
        const bool plain = active(i, RosterKind::plain);
        if (!plain && !active(i, RosterKind::member)) continue;
        if (!mapped(i) || rows_[i].reader == nullptr) {
            consider(view_.roster[i].start.load(std::memory_order_seq_cst), nullptr);
        } else if (plain) {
            // Acquire (in seq_cst): the reader's reads of frames before `released`
            // happen-before our overwriting them.
            consider(rows_[i].reader->released.load(std::memory_order_seq_cst),
                     &rows_[i].reader->space_futex);
        } else {
            const layout::GroupState* group = group_of(i);
            for (const auto& mark : rows_[i].reader->in_flight) {
                const std::uint64_t m = mark.load(std::memory_order_seq_cst);
                if (m == kNoSequence) continue;
                consider(m & layout::kMarkSequenceMask,
                         group != nullptr ? &group->space_futex : nullptr);
            }
        }
    }
    for (std::uint32_t i = 0; i < rows; ++i) {  // orphan tables
        if (!active(i, RosterKind::group) || !mapped(i) || rows_[i].group == nullptr) continue;
        const layout::GroupState& group = *rows_[i].group;
        for (const auto& entry : group.orphans) {
            const auto kind = layout::orphan_kind(entry.state.load(std::memory_order_seq_cst));
            if (kind == layout::OrphanKind::available || kind == layout::OrphanKind::taken) {
                consider(entry.sequence.load(std::memory_order_seq_cst), &group.space_futex);
            }
        }
    }
    return oldest;
}

}  // namespace ipcbus::detail
