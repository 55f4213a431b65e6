// SPDX-License-Identifier: Apache-2.0
// Reading as a consumer-group member: taking messages from the group cursor (pending,
// then owned marks) and from the orphan table of dead members.
#include "ring.hpp"

#include "ring_internal.hpp"

namespace ipcbus::detail {

int GroupReader::free_slot() const noexcept {
    for (int k = 0; k < static_cast<int>(layout::kMaxInFlight); ++k) {
        if ((used_ & (1U << k)) == 0) return k;
    }
    return -1;
}

PollStatus GroupReader::poll(Polled& out, std::uint32_t& slot) noexcept {
    // Acquire: pairs with the daemon's release increment after it filled the table.
    const std::uint32_t events = group_->orphan_events.load(std::memory_order_acquire);
    if (events != orphan_events_seen_) {
        const PollStatus status = take_orphaned(out, slot);
        if (status != PollStatus::empty) return status;
        orphan_events_seen_ = events;  // none left to take as of `events`
    }
    return take_next(out, slot);
}

bool GroupReader::read_taken(std::uint64_t sequence, Polled& out) noexcept {
    const layout::FrameHeader& frame = view_.frame(sequence);
    // Acquire: pairs with the publisher's release of the stamp.
    const std::uint64_t word = frame.stamp.load(std::memory_order_acquire);
    std::uint64_t seen = 0;
    const Found found = classify(word, sequence, seen);
    if (found == Found::skipped) {
        count_skipped();
        return false;
    }
    if (found != Found::message || !read_committed(view_, frame, sequence, word, out)) {
        count_lost(1);  // overwrite mode: reused before we got to it
        return false;
    }
    if (out.size > view_.slot_size) {
        count_lost(1);
        return false;
    }
    ++received_;
    return true;
}

PollStatus GroupReader::take_next(Polled& out, std::uint32_t& slot) noexcept {
    auto& cursor = group_->cursor;
    for (int pass = 0; pass < 64; ++pass) {
        // Acquire: pairs with the winning CAS of the member that moved the cursor.
        std::uint64_t next = cursor.load(std::memory_order_acquire);
        const std::uint64_t word = view_.frame(next).stamp.load(std::memory_order_acquire);
        std::uint64_t seen = 0;
        const Found found = classify(word, next, seen);
        if (found == Found::empty) return PollStatus::empty;
        if (found == Found::lapped) {  // overwrite mode: the group was lapped
            const std::uint64_t newest =
                std::max(view_.header->write_cursor.load(std::memory_order_acquire), seen + 1);
            const std::uint64_t oldest =
                std::max(newest > view_.capacity ? newest - view_.capacity : 0, next + 1);
            // The member whose CAS wins counts the loss, once, for the whole group.
            if (cursor.compare_exchange_strong(next, oldest)) {
                group_->lost.fetch_add(oldest - next, std::memory_order_relaxed);
                count_lost(oldest - next);
            }
            continue;
        }
        if (found == Found::skipped) {
            if (cursor.compare_exchange_strong(next, next + 1)) {
                count_skipped();
                notify_space();
            }
            continue;
        }
        const int k = free_slot();
        if (k < 0) return PollStatus::too_many_held;
        auto& mark = self_->in_flight[k];
        // Relaxed: read with the mark, which is seq_cst.
        self_->in_flight_source[k].store(0, std::memory_order_relaxed);
        // seq_cst store, then seq_cst CAS: a publisher that sees the cursor moved past
        // `next` must see our mark too (invariant 8), or it could reuse the frame under us.
        // Pending until the CAS won: if we die in between, the daemon can tell.
        mark.store(next | layout::kPendingBit, std::memory_order_seq_cst);
        IPCBUS_HOOK(group_after_mark);
        if (!cursor.compare_exchange_strong(next, next + 1, std::memory_order_seq_cst)) {
            mark.store(kNoSequence, std::memory_order_release);  // another member won
            continue;
        }
        IPCBUS_HOOK(group_after_cas);
        // Release: the mark is ours now (for the daemon, should we die holding it).
        mark.store(next, std::memory_order_release);
        used_ |= 1U << k;
        orphan_of_[k] = 0;
        slot = static_cast<std::uint32_t>(k);
        if (read_taken(next, out)) return PollStatus::message;
        const bool corrupt = out.size > view_.slot_size;
        release(static_cast<std::uint32_t>(k));
        if (corrupt) return PollStatus::corrupt;
    }
    return PollStatus::empty;
}

PollStatus GroupReader::take_orphaned(Polled& out, std::uint32_t& slot) noexcept {
    for (std::uint32_t j = 0; j < layout::kMaxOrphans; ++j) {
        layout::OrphanEntry& entry = group_->orphans[j];
        // Acquire: pairs with the daemon's release of the entry (its sequence is set).
        std::uint64_t state = entry.state.load(std::memory_order_acquire);
        if (layout::orphan_kind(state) != layout::OrphanKind::available) continue;
        const int k = free_slot();
        if (k < 0) return PollStatus::too_many_held;
        const std::uint64_t sequence = entry.sequence.load(std::memory_order_relaxed);
        auto& mark = self_->in_flight[k];
        self_->in_flight_source[k].store(j + 1, std::memory_order_relaxed);
        // seq_cst: marked (pending) before the entry is taken, so a death in between is
        // resolved through the entry (still available: nothing was taken).
        mark.store((sequence & layout::kMarkSequenceMask) | layout::kPendingBit,
                   std::memory_order_seq_cst);
        IPCBUS_HOOK(orphan_after_mark);
        const std::uint64_t taken = layout::orphan_state(layout::orphan_generation(state),
                                                         self_index_, layout::OrphanKind::taken);
        // seq_cst: the entry keeps the message held (gating) until we release it.
        if (!entry.state.compare_exchange_strong(state, taken, std::memory_order_seq_cst)) {
            mark.store(kNoSequence, std::memory_order_release);  // another member took it
            continue;
        }
        IPCBUS_HOOK(orphan_after_take);
        mark.store(sequence & layout::kMarkSequenceMask, std::memory_order_release);
        used_ |= 1U << k;
        orphan_of_[k] = j + 1;
        slot = static_cast<std::uint32_t>(k);
        if (read_taken(sequence, out)) return PollStatus::message;
        release(static_cast<std::uint32_t>(k));
    }
    return PollStatus::empty;
}

void GroupReader::release(std::uint32_t slot) noexcept {
    if (slot >= layout::kMaxInFlight) return;
    // Release: our reads of the frame happen-before a publisher that sees the mark gone.
    self_->in_flight[slot].store(kNoSequence, std::memory_order_release);
    if (const std::uint32_t entry = orphan_of_[slot]; entry != 0) {
        layout::OrphanEntry& e = group_->orphans[entry - 1];
        std::uint64_t state = e.state.load(std::memory_order_relaxed);
        if (layout::orphan_kind(state) == layout::OrphanKind::taken &&
            layout::orphan_taker(state) == self_index_) {
            // Release: after our mark is gone; the entry then holds nothing.
            e.state.compare_exchange_strong(state,
                                            layout::orphan_state(layout::orphan_generation(state),
                                                                 0, layout::OrphanKind::empty),
                                            std::memory_order_release, std::memory_order_relaxed);
        }
        orphan_of_[slot] = 0;
    }
    used_ &= ~(1U << slot);
    if (++unnotified_ >= notify_batch(view_)) notify_space();
}

void GroupReader::idle() noexcept {
    if (unnotified_ != 0) notify_space();
    // Relaxed: statistics for observers.
    self_->lost.store(lost_, std::memory_order_relaxed);
    self_->skipped.store(skipped_, std::memory_order_relaxed);
    self_->received.store(received_, std::memory_order_relaxed);
}

void GroupReader::notify_space() noexcept {
    unnotified_ = 0;
    detail::notify_space(view_, group_->space_futex);
}

void GroupReader::count_lost(std::uint64_t n) noexcept {
    lost_ += n;
}

void GroupReader::count_skipped() noexcept {
    ++skipped_;
}

}  // namespace ipcbus::detail
