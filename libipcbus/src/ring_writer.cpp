// SPDX-License-Identifier: Apache-2.0
// Publishing: the exclusive path of a lone publisher and its revocation, the shared path
// (tickets, busy marks, stale frames), commits, and waking sleeping readers.
#include "ring.hpp"

#include <climits>
#include <cstring>

#include "clock.hpp"
#include "ipc/futex.hpp"
#include "ipc/membarrier.hpp"

#include "ring_internal.hpp"

namespace ipcbus::detail {

namespace {

// How long a publisher waits for an older lap of its frame that another publisher is
// still writing (it took its ticket a whole ring earlier and was descheduled) before it
// marks that frame stale and takes another ticket.
constexpr std::uint64_t kLapWaitNs = 2'000;
// Tickets a shared-mode publish tries before it gives up (each lost to a stalled frame).
constexpr int kTicketAttempts = 4;

}  // namespace

RingWriter::RingWriter(const SegmentView& view, std::uint32_t publisher_id,
                       layout::PublisherEntry* entry, ReaderSet& readers,
                       const layout::DomainClock* clock) noexcept
    : view_(view),
      id_(publisher_id & layout::kMaxPublisherId),
      entry_(entry),
      readers_(readers),
      clock_(clock),
      membarrier_ok_(register_for_heavy_fence()) {
    // seq_cst: readers deciding whether they need a membarrier read it (wait.cpp).
    if (entry_ != nullptr) entry_->fence_on.store(1, std::memory_order_seq_cst);
}

std::uint64_t RingWriter::now_ns() const noexcept {
    // Early is fine: the stamp is taken before the commit (clock.hpp, read_tsc_early).
    return bus_clock_ns(clock_, TscRead::early_ok);
}

void RingWriter::refresh_limit() noexcept {
    // seq_cst: the first load of oldest_needed's ordering argument.
    const std::uint64_t cursor = view_.header->write_cursor.load(std::memory_order_seq_cst);
    limit_ = readers_.oldest_needed(cursor) + view_.capacity - view_.history_depth;
}

PublishStatus RingWriter::publish(std::span<const std::byte> inline_payload,
                                  const MessageMeta& meta, std::uint64_t& sequence) noexcept {
    readers_.refresh_if_needed();
    // Odd while inside an exclusive publish: the daemon revokes the exclusive path only
    // once it sees it even (revoke_exclusive). The store precedes the load of `exclusive`
    // (a compiler barrier suffices: the daemon forces the CPU barrier with membarrier).
    // Relaxed stores: our own line; the membarrier orders them for the daemon.
    const std::uint32_t inside = ++in_publish_;
    entry_->in_publish.store(inside, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    // Acquire: the daemon's grant (a seq_cst store, made after the publishers that had the
    // shared path left: their cursor and frames are visible to us); the handshake above
    // orders a revocation.
    const std::uint32_t exclusive = view_.header->exclusive.load(std::memory_order_acquire);
    PublishStatus status;
    if (exclusive == (layout::kExclusiveOwned | id_)) {
        status = publish_exclusive(inline_payload, meta, sequence);
        // Release: what we wrote happens-before a revoker that sees us outside.
        entry_->in_publish.store(++in_publish_, std::memory_order_release);
    } else {
        entry_->in_publish.store(++in_publish_, std::memory_order_release);  // outside already
        status = publish_shared(inline_payload, meta, sequence);
    }
    if (status == PublishStatus::published) after_commit();
    return status;
}

PublishStatus RingWriter::publish_exclusive(std::span<const std::byte> payload,
                                            const MessageMeta& meta,
                                            std::uint64_t& sequence) noexcept {
    // Not a copy of our own: the exclusive path may have been revoked, used by others and
    // granted again since our last publish. The line is ours alone while we hold the path,
    // so the load hits our cache. Acquire: the frames of whoever moved it before us.
    const std::uint64_t s = view_.header->write_cursor.load(std::memory_order_acquire);
    if (view_.reliable && s >= limit_) {
        refresh_limit();
        if (s >= limit_) return PublishStatus::full;
    }
    layout::FrameHeader& frame = view_.frame(s);
    if (!view_.reliable) {
        // Relaxed store, then a release fence: the payload stores that follow cannot
        // become visible before the busy mark (the seqlock writer's side; pairs with the
        // reader's acquire fence before its re-check).
        frame.stamp.store(busy_stamp(id_, s), std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_release);
    }
    write_frame(s, payload, meta);
    IPCBUS_HOOK(before_commit);
    // Release: pairs with the reader's acquire load of the stamp; the frame is complete.
    frame.stamp.store(stamp_of(s), std::memory_order_release);
    // Release: a reader that sees the cursor past `s` (acquire) sees the frame too.
    view_.header->write_cursor.store(s + 1, std::memory_order_release);
    sequence = s;
    // The commit against sleeping readers (wait.hpp): a full fence while some reader
    // relies on it; otherwise their membarrier orders our plain stores and loads, and only
    // the compiler must be kept from moving the loads of their sleep words (after_commit)
    // above the stamp store.
    if (fence_on_) {
        std::atomic_thread_fence(std::memory_order_seq_cst);
    } else {
        std::atomic_signal_fence(std::memory_order_seq_cst);
    }
    return PublishStatus::published;
}

bool RingWriter::take_ticket(std::uint64_t& sequence) noexcept {
    auto& cursor = view_.header->write_cursor;
    if (!view_.reliable) {
        // Relaxed: a ticket dispenser; the frame's stamp CAS in mark_busy orders the frame.
        sequence = cursor.fetch_add(1, std::memory_order_relaxed);
        return true;
    }
    std::uint64_t c = cursor.load(std::memory_order_relaxed);
    for (;;) {
        if (c >= limit_) {
            refresh_limit();
            if (c >= limit_) return false;
        }
        // Relaxed: a ticket, as above; the limit check is what keeps us off frames
        // readers still need.
        if (cursor.compare_exchange_weak(c, c + 1, std::memory_order_relaxed,
                                         std::memory_order_relaxed)) {
            sequence = c;
            return true;
        }
    }
}

RingWriter::Mark RingWriter::mark_busy(std::uint64_t s) noexcept {
    auto& stamp = view_.frame(s).stamp;
    const std::uint64_t mine = busy_stamp(id_, s);
    std::uint64_t spin_until = 0;
    // Acquire: we must see whatever the previous lap's owner wrote before we reuse it.
    std::uint64_t word = stamp.load(std::memory_order_acquire);
    for (;;) {
        if (!is_busy(word)) {
            const std::uint64_t found = word & kSequenceMask;
            if (found == stamp_of(s)) return Mark::expired;  // our hole was passed over
            if (found > stamp_of(s)) return Mark::lapped;    // a later lap is already there
            // Acquire on success: no payload store of ours may precede owning the frame.
            if (stamp.compare_exchange_weak(word, mine, std::memory_order_acquire,
                                            std::memory_order_acquire)) {
                return Mark::marked;
            }
            continue;
        }
        const std::int64_t distance = busy_lap_distance(word, s);
        if (distance == 0) return Mark::expired;  // we stalled and were marked stale
        if (distance > 0) return Mark::lapped;
        // An older lap is still being written by a publisher a whole ring behind (it was
        // descheduled, stopped or killed between its ticket and its commit). Give it a
        // moment, then mark it stale in our name: readers pass over our sequence, and its
        // owner's commit fails instead of landing on a frame someone else may reuse.
        if (!is_stale(word)) {
            const std::uint64_t now = monotonic_ns();
            if (spin_until == 0) spin_until = now + kLapWaitNs;
            if (now < spin_until) {
                cpu_relax();
                word = stamp.load(std::memory_order_acquire);
                continue;
            }
        }
        // Release: nothing to publish; acquire on failure to re-examine.
        if (stamp.compare_exchange_weak(word, stale_stamp(word, s), std::memory_order_release,
                                        std::memory_order_acquire)) {
            return Mark::stuck;
        }
    }
}

PublishStatus RingWriter::publish_shared(std::span<const std::byte> payload,
                                         const MessageMeta& meta,
                                         std::uint64_t& sequence) noexcept {
    for (int attempt = 0; attempt < kTicketAttempts; ++attempt) {
        // Relaxed: read only by the daemon, to find a stalled or dead publisher's claim.
        entry_->claiming.store(layout::kTakingTicket, std::memory_order_relaxed);
        std::uint64_t s = 0;
        if (!take_ticket(s)) {
            entry_->claiming.store(layout::kNotClaiming, std::memory_order_relaxed);
            return PublishStatus::full;
        }
        entry_->claiming.store(s, std::memory_order_relaxed);
        IPCBUS_HOOK(after_ticket);
        sequence = s;
        const Mark mark = mark_busy(s);
        if (mark == Mark::stuck) continue;  // our ticket went to a stuck frame: a new one
        if (mark == Mark::lapped) {
            // We were a whole ring behind: stalled between ticket and mark past the
            // unblock timeout (our hole was passed over), or, in overwrite mode, lapped.
            // Readers have passed `s` over already: the message is late. Say so;
            // publishing it again is the caller's choice (a new ticket now would deliver
            // it counted twice in overwrite mode).
            entry_->claiming.store(layout::kNotClaiming, std::memory_order_relaxed);
            view_.header->expired_total.fetch_add(1, std::memory_order_relaxed);  // statistics
            return PublishStatus::expired;
        }
        if (mark == Mark::expired) {
            entry_->claiming.store(layout::kNotClaiming, std::memory_order_relaxed);
            view_.header->expired_total.fetch_add(1, std::memory_order_relaxed);  // statistics
            return PublishStatus::expired;
        }
        // Release fence: the frame stores below cannot become visible before the busy
        // mark (seqlock writer; pairs with the reader's acquire fence).
        std::atomic_thread_fence(std::memory_order_release);
        IPCBUS_HOOK(after_mark);
        write_frame(s, payload, meta);
        IPCBUS_HOOK(before_commit);
        std::uint64_t expected = busy_stamp(id_, s);
        auto& stamp = view_.frame(s).stamp;
        // seq_cst CAS: release for the frame (pairs with the reader's acquire load), and a
        // full fence before we look for sleeping readers (wait.hpp). It fails only if we
        // were marked stale meanwhile.
        if (stamp.compare_exchange_strong(expected, stamp_of(s), std::memory_order_seq_cst,
                                          std::memory_order_acquire)) {
            entry_->claiming.store(layout::kNotClaiming, std::memory_order_relaxed);
            return PublishStatus::published;
        }
        // Stalled past the unblock timeout (or a whole ring): readers passed the frame
        // over. Give it back as skipped (for the sequence the stale mark names: ours, or a
        // later lap another publisher gave up on), so later laps can use it.
        while (is_stale(expected) && busy_owner(expected) == id_ &&
               !stamp.compare_exchange_weak(expected, skipped_stamp(busy_sequence(expected, s)),
                                            std::memory_order_release, std::memory_order_acquire)) {
        }
        entry_->claiming.store(layout::kNotClaiming, std::memory_order_relaxed);
        view_.header->expired_total.fetch_add(1, std::memory_order_relaxed);  // statistics
        return PublishStatus::expired;
    }
    entry_->claiming.store(layout::kNotClaiming, std::memory_order_relaxed);
    return PublishStatus::expired;  // every ticket tried was lost to stalled frames
}

void RingWriter::write_frame(std::uint64_t s, std::span<const std::byte> payload,
                             const MessageMeta& meta) noexcept {
    layout::FrameHeader& frame = view_.frame(s);
    // Relaxed: published by the stamp's release store (or CAS).
    frame.size.store(meta.size, std::memory_order_relaxed);
    frame.timestamp_ns.store(now_ns(), std::memory_order_relaxed);
    frame.origin_sequence.store(meta.origin_sequence == kNoOrigin ? s : meta.origin_sequence,
                                std::memory_order_relaxed);
    frame.publisher_id.store(id_, std::memory_order_relaxed);
    if (view_.pooled()) {
        frame.buffer.store(meta.buffer, std::memory_order_relaxed);
        frame.buffer_generation.store(meta.buffer_generation, std::memory_order_relaxed);
    } else if (!payload.empty()) {
        std::memcpy(view_.inline_payload(s), payload.data(), payload.size());
    }
}

void RingWriter::after_commit() noexcept {
    ++published_;
    // Relaxed: statistics for observers.
    entry_->published.store(published_, std::memory_order_relaxed);
    if (readers_.wake_needed()) wake_readers(view_);
    update_fencing();
}

void RingWriter::update_fencing() noexcept {
    // Without membarrier, readers rely on us entirely: always fence.
    if (!membarrier_ok_) return;
    if (readers_.wants_fence()) {
        if (!fence_on_) {
            fence_on_ = true;
            // seq_cst: read by readers deciding whether they need a membarrier; our
            // earlier commits are visible before it (xchg).
            entry_->fence_on.store(1, std::memory_order_seq_cst);
        }
    } else if (fence_on_ && readers_.complete()) {
        // Turn it off, then look again: a reader that wanted it meanwhile either sees the
        // 0 (and uses membarrier) or is seen here (store-then-load on both sides, seq_cst).
        entry_->fence_on.store(0, std::memory_order_seq_cst);
        if (readers_.recheck_wants_fence()) {
            entry_->fence_on.store(1, std::memory_order_seq_cst);
        } else {
            fence_on_ = false;
        }
    }
}

bool revoke_exclusive(const SegmentView& view, std::uint32_t entry) noexcept {
    auto& word = view.header->exclusive;
    const std::uint32_t now = word.load(std::memory_order_seq_cst);
    const std::uint32_t holder = now & layout::kExclusiveIdMask;
    if ((now & ~layout::kExclusiveIdMask) == layout::kExclusiveShared) return true;
    // seq_cst: the revocation is in the total order before the barrier below.
    word.store(layout::kExclusiveRevoke | holder, std::memory_order_seq_cst);
    // Every CPU running the publisher runs a full barrier now: its later loads of the word
    // see the revocation, and its earlier store of in_publish is visible here. So if we
    // see it even, it is outside an exclusive publish and every later one is shared (an
    // asymmetric Dekker pairing with the compiler barrier in RingWriter::publish).
    if (!heavy_fence()) return false;  // cannot happen: exclusive_ok required membarrier
    if ((view.publishers[entry].in_publish.load(std::memory_order_seq_cst) & 1U) != 0) return false;
    std::uint32_t expected = layout::kExclusiveRevoke | holder;
    word.compare_exchange_strong(expected, layout::kExclusiveShared, std::memory_order_seq_cst);
    futex_wake(word, INT_MAX);  // newcomers wait on it
    return true;
}

void wake_readers(const SegmentView& view) noexcept {
    // seq_cst RMW: a reader that reads the new value (before it sleeps) also sees the
    // frames committed before it; one that read the old value fails its futex_wait.
    view.header->data_futex.fetch_add(1, std::memory_order_seq_cst);
    futex_wake(view.header->data_futex, INT_MAX);
}

}  // namespace ipcbus::detail
