#include "ring.hpp"

#include <algorithm>
#include <climits>
#include <cstring>

#include "clock.hpp"
#include "ipc/futex.hpp"
#include "ipc/membarrier.hpp"

namespace ipcbus::detail {

using layout::busy_lap_distance;
using layout::busy_owner;
using layout::busy_sequence;
using layout::busy_stamp;
using layout::is_busy;
using layout::is_stale;
using layout::kBusyBit;
using layout::kLowMask;
using layout::kNoSequence;
using layout::kSequenceMask;
using layout::kSkippedBit;
using layout::kStaleBit;
using layout::skipped_stamp;
using layout::stamp_of;

namespace {

using layout::RosterKind;
using layout::RosterState;

// How long a publisher waits for an older lap of its frame that another publisher is
// still writing (it took its ticket a whole ring earlier and was descheduled) before it
// marks that frame stale and takes another ticket.
constexpr std::uint64_t kLapWaitNs = 2'000;
// Tickets a shared-mode publish tries before it gives up (each lost to a stalled frame).
constexpr int kTicketAttempts = 4;

constexpr std::uint64_t stale_stamp(std::uint64_t busy_word, std::uint64_t seq) noexcept {
    constexpr std::uint64_t owner_bits = static_cast<std::uint64_t>(layout::kMaxPublisherId)
                                         << layout::kLowBits;
    return kBusyBit | kStaleBit | (busy_word & owner_bits) | ((seq + 1) & kLowMask);
}

// Readers publish their position every this many messages, and always before they sleep.
std::uint64_t position_batch(const SegmentView& view) noexcept {
    return std::clamp<std::uint64_t>(view.capacity / 16, 1, 64);
}

// Readers wake waiting publishers once per this many released frames (an eighth of the
// ring) and whenever they run out of messages: a publisher woken for every single frame
// would sleep again at once, and pay a system call per message.
std::uint64_t notify_batch(const SegmentView& view) noexcept {
    return view.capacity < 8 ? 1 : view.capacity / 8;
}

}  // namespace

// --- ReaderSet -----------------------------------------------------------------------

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
        const bool active = i < rows && entry.state.load(std::memory_order_seq_cst) ==
                                            static_cast<std::uint32_t>(RosterState::active);
        if (!active) {
            retire(row);
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
    std::size_t count = 0;
    for (std::uint32_t i = 0; i < view_.max_readers; ++i) {
        const layout::RosterEntry& entry = view_.roster[i];
        // Relaxed: a snapshot for the caller.
        if (entry.state.load(std::memory_order_relaxed) ==
                static_cast<std::uint32_t>(RosterState::active) &&
            entry.kind.load(std::memory_order_relaxed) !=
                static_cast<std::uint32_t>(RosterKind::group)) {
            ++count;
        }
    }
    return count;
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

// --- RingWriter ----------------------------------------------------------------------

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
    return bus_clock_ns(clock_);
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
    // Relaxed: the daemon's grant or revocation; the handshake above orders the rest.
    const std::uint32_t exclusive = view_.header->exclusive.load(std::memory_order_relaxed);
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
    if (!exclusive_) {
        // Acquire: the cursor the previous (shared) publishers left, and their frames.
        next_ = view_.header->write_cursor.load(std::memory_order_acquire);
        exclusive_ = true;
        limit_ = 0;
    }
    const std::uint64_t s = next_;
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
    next_ = s + 1;
    sequence = s;
    // The commit against sleeping readers (wait.hpp): a full fence while some reader
    // relies on it; otherwise their membarrier orders our plain stores and loads.
    if (fence_on_) std::atomic_thread_fence(std::memory_order_seq_cst);
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
    exclusive_ = false;
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

// --- PoolWriter ----------------------------------------------------------------------

bool PoolWriter::grab(std::uint32_t index, std::uint64_t state) noexcept {
    layout::BufferHeader& b = view_.pool[index];
    const std::uint64_t generation = layout::buffer_generation(state) + 1;
    // acq_rel: acquire the previous owner's writes; the generation change becomes visible
    // before any payload byte we write (a locked RMW is a full barrier; readers validate
    // the generation after reading, with an acquire fence).
    if (!b.state.compare_exchange_strong(
            state, layout::buffer_state(generation, id_, layout::BufferKind::loaned),
            std::memory_order_acq_rel, std::memory_order_relaxed)) {
        return false;
    }
    // Relaxed: a hint for the most-recently-used choice of later takes.
    b.last_use.store(view_.header->write_cursor.load(std::memory_order_relaxed) + 1,
                     std::memory_order_relaxed);
    last_generation_ = generation;
    return true;
}

std::optional<BufferLoan> PoolWriter::take_reusable() noexcept {
    for (int attempt = 0; attempt < 4; ++attempt) {
        std::int64_t best = -1;
        std::uint64_t best_use = 0;
        std::uint64_t best_state = 0;
        for (std::uint32_t i = 0; i < view_.pool_buffers; ++i) {
            const layout::BufferHeader& b = view_.pool[i];
            // Acquire: pairs with the release that committed or freed the buffer.
            const std::uint64_t state = b.state.load(std::memory_order_acquire);
            const layout::BufferKind kind = layout::buffer_kind(state);
            const bool reusable = kind == layout::BufferKind::free ||
                                  (kind == layout::BufferKind::committed &&
                                   b.sequence.load(std::memory_order_relaxed) < reuse_limit_);
            if (!reusable) continue;
            // The most recently used: still in cache, where the ring's oldest frame is not.
            const std::uint64_t use = b.last_use.load(std::memory_order_relaxed);
            if (best < 0 || use > best_use) {
                best = i;
                best_use = use;
                best_state = state;
            }
        }
        if (best < 0) return std::nullopt;
        if (grab(static_cast<std::uint32_t>(best), best_state)) {
            return BufferLoan{static_cast<std::uint32_t>(best), last_generation_};
        }
    }
    return std::nullopt;
}

std::optional<BufferLoan> PoolWriter::take_oldest() noexcept {
    for (int attempt = 0; attempt < 4; ++attempt) {
        std::int64_t oldest = -1;
        std::uint64_t oldest_seq = ~0ULL;
        std::uint64_t oldest_state = 0;
        for (std::uint32_t i = 0; i < view_.pool_buffers; ++i) {
            const layout::BufferHeader& b = view_.pool[i];
            const std::uint64_t state = b.state.load(std::memory_order_acquire);
            if (layout::buffer_kind(state) == layout::BufferKind::loaned) continue;
            const std::uint64_t seq = b.sequence.load(std::memory_order_relaxed);
            if (seq < oldest_seq) {
                oldest = i;
                oldest_seq = seq;
                oldest_state = state;
            }
        }
        if (oldest < 0) return std::nullopt;  // every buffer on loan: the caller's cap failed
        if (grab(static_cast<std::uint32_t>(oldest), oldest_state)) {
            return BufferLoan{static_cast<std::uint32_t>(oldest), last_generation_};
        }
    }
    return std::nullopt;
}

std::optional<BufferLoan> PoolWriter::take() noexcept {
    // The limit is computed afresh for every loan (a scan of the readers, small next to a
    // large payload), so that the buffer freed last is the one reused: warm in cache.
    // seq_cst: the first load of oldest_needed's ordering argument.
    const std::uint64_t cursor = view_.header->write_cursor.load(std::memory_order_seq_cst);
    const std::uint64_t needed = readers_.oldest_needed(cursor);
    // The newest history_depth messages stay for late joiners.
    const std::uint64_t kept = cursor > view_.history_depth ? cursor - view_.history_depth : 0;
    reuse_limit_ = std::max(reuse_limit_, std::min(needed, kept));
    if (auto loan = take_reusable()) return loan;
    // Overwrite mode never waits: the oldest message goes, and a reader still on it
    // finds its generation changed and counts it lost.
    if (!view_.reliable) return take_oldest();
    return std::nullopt;
}

void PoolWriter::committed(const BufferLoan& loan, std::uint64_t sequence) noexcept {
    layout::BufferHeader& b = view_.pool[loan.index];
    // Relaxed, then release: whoever sees it committed sees the sequence.
    b.sequence.store(sequence, std::memory_order_relaxed);
    b.state.store(layout::buffer_state(loan.generation, id_, layout::BufferKind::committed),
                  std::memory_order_release);
}

void PoolWriter::give_back(const BufferLoan& loan) noexcept {
    std::uint64_t expected = layout::buffer_state(loan.generation, id_, layout::BufferKind::loaned);
    // Release: our writes into it are done. Fails only if the daemon already reclaimed it.
    view_.pool[loan.index].state.compare_exchange_strong(
        expected, layout::buffer_state(loan.generation, 0, layout::BufferKind::free),
        std::memory_order_release, std::memory_order_relaxed);
}

// --- reading -------------------------------------------------------------------------

bool overwritten(const Polled& message) noexcept {
    // Acquire fence: the payload reads made before it are ordered before the re-loads
    // (the seqlock reader's second check; pairs with the writer's release fence after its
    // busy mark, or with the full barrier of the CAS that took the buffer).
    std::atomic_thread_fence(std::memory_order_acquire);
    if (message.buffer_state != nullptr) {
        return layout::buffer_generation(message.buffer_state->load(std::memory_order_relaxed)) !=
               message.buffer_generation;
    }
    return message.frame->stamp.load(std::memory_order_relaxed) != message.stamp;
}

namespace {

// What a reader finds at its frame for sequence `next`.
enum class Found : std::uint8_t { message, empty, skipped, lapped };

Found classify(std::uint64_t word, std::uint64_t next, std::uint64_t& seen) noexcept {
    if (is_busy(word)) {
        const std::int64_t distance = busy_lap_distance(word, next);
        if (distance > 0) {
            seen = next + static_cast<std::uint64_t>(distance);
            return Found::lapped;
        }
        if (distance == 0 && is_stale(word)) return Found::skipped;  // its writer stalled
        return Found::empty;  // being written (ours, or an older lap: ours is not yet)
    }
    const std::uint64_t found = word & kSequenceMask;
    if (found < stamp_of(next)) return Found::empty;
    if (found > stamp_of(next)) {
        seen = found - 1;
        return Found::lapped;
    }
    return (word & kSkippedBit) != 0 ? Found::skipped : Found::message;
}

// Fills `out` from a frame whose committed stamp `stamp` was just seen (acquire). False if
// the frame changed under us (overwrite mode) or its payload is gone (pool reuse); sets
// out.size beyond the slot size for a corrupt frame.
bool read_committed(const SegmentView& view, const layout::FrameHeader& frame,
                    std::uint64_t sequence, std::uint64_t stamp, Polled& out) noexcept {
    out.frame = &frame;
    out.stamp = stamp;
    out.sequence = sequence;
    // Relaxed: published by the stamp the caller loaded with acquire.
    out.size = frame.size.load(std::memory_order_relaxed);
    out.timestamp_ns = frame.timestamp_ns.load(std::memory_order_relaxed);
    out.publisher_id = frame.publisher_id.load(std::memory_order_relaxed);
    out.origin_sequence = frame.origin_sequence.load(std::memory_order_relaxed);
    out.buffer_state = nullptr;
    out.buffer_generation = 0;
    std::uint32_t buffer = 0;
    if (view.pooled()) {
        buffer = frame.buffer.load(std::memory_order_relaxed);
        out.buffer_generation = frame.buffer_generation.load(std::memory_order_relaxed);
    }
    if (!view.reliable) {
        // Acquire fence, then the re-check: the fields above are this message's.
        std::atomic_thread_fence(std::memory_order_acquire);
        if (frame.stamp.load(std::memory_order_relaxed) != stamp) return false;
    }
    if (out.size > view.slot_size) return true;  // corrupt: the caller says so
    if (view.pooled()) {
        if (buffer >= view.pool_buffers) {
            out.size = view.slot_size + 1;  // corrupt
            return true;
        }
        out.buffer_state = &view.pool[buffer].state;
        out.payload = view.buffer(buffer);
        // Overwrite mode: the buffer may have been reused since (a slow reader).
        if (!view.reliable && layout::buffer_generation(out.buffer_state->load(
                                  std::memory_order_acquire)) != out.buffer_generation) {
            return false;
        }
    } else {
        out.payload = view.inline_payload(sequence);
        // The rest of a small frame now, while we process its first line.
        for (std::uint64_t off = 64; off < out.size && off < 256; off += 64) {
            __builtin_prefetch(out.payload + off);
        }
    }
    return true;
}

}  // namespace

RingReader::RingReader(const SegmentView& view, layout::ReaderRow* row,
                       std::uint64_t start) noexcept
    : view_(view), row_(row), next_(start), batch_(position_batch(view)), position_(start) {}

PollStatus RingReader::poll(Polled& out) noexcept {
    // Each pass either returns or moves next_ forward (skip, overrun); the bound keeps a
    // reader that is lapped over and over by a much faster publisher from spinning here.
    for (int pass = 0; pass < 64; ++pass) {
        const layout::FrameHeader& frame = view_.frame(next_);
        // Acquire: pairs with the publisher's release store (or CAS) of the stamp.
        const std::uint64_t word = frame.stamp.load(std::memory_order_acquire);
        std::uint64_t seen = 0;
        switch (classify(word, next_, seen)) {
            case Found::empty:
                return PollStatus::empty;
            case Found::lapped:
                jump_after_overrun(seen);
                continue;
            case Found::skipped:
                ++skipped_;
                advance();
                continue;
            case Found::message:
                break;
        }
        if (!read_committed(view_, frame, next_, word, out)) {
            // Overwritten while we looked (the next pass sees the later lap), or its pool
            // buffer is already reused: the message is lost to us.
            if (view_.pooled() && frame.stamp.load(std::memory_order_acquire) == word) {
                count_lost(1);
                advance();
            }
            continue;
        }
        advance();
        if (out.size > view_.slot_size) {
            count_lost(1);
            return PollStatus::corrupt;
        }
        ++received_;
        return PollStatus::message;
    }
    return PollStatus::empty;
}

void RingReader::count_lost(std::uint64_t n) noexcept {
    lost_ += n;
}

void RingReader::jump_after_overrun(std::uint64_t seen) noexcept {
    // We saw sequence `seen`, a lap or more ahead of us, in our frame. The ring holds at
    // most `capacity` sequences ending at the newest claimed: jump to the oldest of them.
    // Acquire: the cursor may lag `seen` (a lone publisher moves it after the commit).
    const std::uint64_t cursor = view_.header->write_cursor.load(std::memory_order_acquire);
    const std::uint64_t newest = std::max(cursor, seen + 1);
    const std::uint64_t oldest = newest > view_.capacity ? newest - view_.capacity : 0;
    const std::uint64_t to = std::max(oldest, next_ + 1);  // always forward
    count_lost(to - next_);
    next_ = to;
    // Relaxed: a process-local mirror for readiness checks.
    position_.store(next_, std::memory_order_relaxed);
    publish_position();
}

void RingReader::advance() noexcept {
    ++next_;
    position_.store(next_, std::memory_order_relaxed);
    if (++unpublished_ >= batch_) publish_position();
}

void RingReader::publish_position() noexcept {
    unpublished_ = 0;
    if (row_ == nullptr) return;
    // Release: observers and the pool see our progress with the reads before it.
    row_->position.store(next_, std::memory_order_release);
    // Relaxed: statistics for observers.
    row_->lost.store(lost_, std::memory_order_relaxed);
    row_->skipped.store(skipped_, std::memory_order_relaxed);
    row_->received.store(received_, std::memory_order_relaxed);
}

// --- HeldSet -------------------------------------------------------------------------

HeldSet::HeldSet(const SegmentView& view, layout::ReaderRow* row, std::uint64_t start)
    : view_(view),
      row_(row),
      bits_((view.capacity + 63) / 64, 0),
      released_(start),
      published_(start),
      notified_(start),
      next_(start),
      batch_(position_batch(view)) {}

void HeldSet::hold(std::uint64_t sequence) noexcept {
    // Nothing older held, but skipped or lost sequences lie between: the sample now held
    // is the oldest, so release() must find it at released_.
    if (count_ == 0 && released_ != sequence) publish(sequence, false);
    bits_[(sequence & view_.mask) / 64] |= 1ULL << (sequence % 64);
    ++count_;
    // Relaxed: statistics for observers.
    if (row_ != nullptr) row_->held.store(count_, std::memory_order_relaxed);
    next_ = sequence + 1;
}

void HeldSet::release(std::uint64_t sequence) noexcept {
    bits_[(sequence & view_.mask) / 64] &= ~(1ULL << (sequence % 64));
    --count_;
    if (row_ != nullptr) row_->held.store(count_, std::memory_order_relaxed);
    if (sequence != released_) return;  // an older sample is still held
    std::uint64_t oldest = sequence + 1;
    while (oldest < next_ && !held(oldest)) ++oldest;
    publish(oldest, false);
}

void HeldSet::catch_up(std::uint64_t next) noexcept {
    if (next > next_) next_ = next;
    if (count_ == 0 && next_ != released_) publish(next_, false);
}

void HeldSet::idle() noexcept {
    publish(released_, true);
}

void HeldSet::publish(std::uint64_t released, bool now) noexcept {
    released_ = released;
    if (row_ == nullptr) return;
    // Relaxed: a hint that a publisher waits for space; its membarrier orders it against
    // our release store (see RawPublisher's wait for space).
    const bool waiting = view_.header->space_waiters.load(std::memory_order_relaxed) != 0;
    if (!now && !waiting && released_ - published_ < batch_) return;
    // Release: our reads of every frame before `released` happen-before a publisher that
    // reads this value (oldest_needed) and then overwrites them.
    row_->released.store(released_, std::memory_order_release);
    published_ = released_;
    if (waiting && (now || published_ - notified_ >= notify_batch(view_)) &&
        published_ != notified_) {
        notified_ = published_;
        notify_space(view_, row_->space_futex);
    }
}

void notify_space(const SegmentView& view, std::atomic<std::uint32_t>& futex) noexcept {
    // Relaxed: see HeldSet::publish.
    if (view.header->space_waiters.load(std::memory_order_relaxed) == 0) return;
    // Relaxed: a generation counter; the system call orders the rest.
    futex.fetch_add(1, std::memory_order_relaxed);
    futex_wake(futex, INT_MAX);
}

// --- GroupReader ---------------------------------------------------------------------

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

// --- the daemon's side -----------------------------------------------------------------

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
