// SPDX-License-Identifier: Apache-2.0
// The daemon's side of the ring: passing over frames and holes of dead or stalled
// publishers, and giving back their pool loans.
#include "ring.hpp"

#include "ring_internal.hpp"

namespace ipcbus::detail {

bool skip_hole(const SegmentView& view, std::uint64_t sequence) noexcept {
    auto& stamp = view.frame(sequence).stamp;
    // Acquire: see the latest lap before deciding.
    std::uint64_t word = stamp.load(std::memory_order_acquire);
    while (!is_busy(word) && (word & kSequenceMask) < stamp_of(sequence)) {
        // Release: readers that see it skipped move on; a CAS so that a publisher's mark
        // (a late one, or a later lap's) wins over us or makes us fail.
        if (stamp.compare_exchange_weak(word, skipped_stamp(sequence), std::memory_order_release,
                                        std::memory_order_acquire)) {
            view.header->skipped_total.fetch_add(1, std::memory_order_relaxed);  // statistics
            return true;
        }
    }
    return false;
}

std::uint64_t resolve_dead_publisher(const SegmentView& view, std::uint32_t id,
                                     std::uint64_t claiming) noexcept {
    std::uint64_t resolved = 0;
    const std::uint64_t cursor = view.header->write_cursor.load(std::memory_order_acquire);
    for (std::uint64_t i = 0; i < view.capacity; ++i) {
        auto& stamp = view.frame(i).stamp;
        std::uint64_t word = stamp.load(std::memory_order_acquire);
        if (!is_busy(word) || busy_owner(word) != (id & layout::kMaxPublisherId)) continue;
        // The busy sequence lies within a ring of the cursor.
        const std::uint64_t seq = busy_sequence(word, cursor);
        // Release: readers that see it skipped do not read the half-written frame; a CAS so
        // we never clobber a frame another publisher has meanwhile taken.
        if (stamp.compare_exchange_strong(word, skipped_stamp(seq), std::memory_order_release,
                                          std::memory_order_relaxed)) {
            view.header->skipped_total.fetch_add(1, std::memory_order_relaxed);  // statistics
            ++resolved;
        }
    }
    if (claiming < layout::kTakingTicket && skip_hole(view, claiming)) ++resolved;
    if (resolved > 0) wake_readers(view);
    return resolved;
}

bool resolve_stalled_claim(const SegmentView& view, std::uint32_t id,
                           std::uint64_t sequence) noexcept {
    auto& stamp = view.frame(sequence).stamp;
    std::uint64_t word = stamp.load(std::memory_order_acquire);
    bool resolved = false;
    if (word == busy_stamp(id, sequence)) {
        // Still busy by its stalled owner: stale, so readers pass over it and the owner's
        // late commit fails (and gives the frame back as skipped). Release: nothing new.
        resolved =
            stamp.compare_exchange_strong(word, stale_stamp(word, sequence),
                                          std::memory_order_release, std::memory_order_relaxed);
    } else {
        resolved = skip_hole(view, sequence);
    }
    if (resolved) wake_readers(view);
    return resolved;
}

void find_holes(const SegmentView& view, std::vector<std::uint64_t>& out, std::size_t max) {
    const std::uint64_t cursor = view.header->write_cursor.load(std::memory_order_acquire);
    const std::uint64_t from = cursor > view.capacity ? cursor - view.capacity : 0;
    for (std::uint64_t s = from; s < cursor && out.size() < max; ++s) {
        const std::uint64_t word = view.frame(s).stamp.load(std::memory_order_acquire);
        if (!is_busy(word) && (word & kSequenceMask) < stamp_of(s)) out.push_back(s);
    }
}

std::uint32_t reclaim_pool_loans(const SegmentView& view, std::uint32_t id) noexcept {
    std::uint32_t reclaimed = 0;
    for (std::uint32_t i = 0; i < view.pool_buffers; ++i) {
        auto& state = view.pool[i].state;
        std::uint64_t word = state.load(std::memory_order_acquire);
        if (layout::buffer_kind(word) != layout::BufferKind::loaned ||
            layout::buffer_owner(word) != (id & layout::kMaxPublisherId)) {
            continue;
        }
        // Release: the buffer is free for the next taker, which bumps its generation.
        if (state.compare_exchange_strong(
                word,
                layout::buffer_state(layout::buffer_generation(word), 0, layout::BufferKind::free),
                std::memory_order_release, std::memory_order_relaxed)) {
            ++reclaimed;
        }
    }
    return reclaimed;
}

}  // namespace ipcbus::detail
