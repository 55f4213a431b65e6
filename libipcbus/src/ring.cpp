#include "ring.hpp"

#include <algorithm>
#include <atomic>
#include <climits>

#include "clock.hpp"
#include "ipc/futex.hpp"
#include "ipc/membarrier.hpp"

namespace ipcbus::detail {

using layout::kBusyBit;
using layout::kSkippedBit;
using layout::kStampMask;
using layout::stamp_of;

namespace {

using layout::kNoSequence;
using layout::kStolenBit;
using layout::ReaderEntry;
using layout::ReaderState;

ReaderState state_of(const ReaderEntry& row) noexcept {
    // seq_cst: part of the publisher's scan in oldest_needed() (see there).
    return static_cast<ReaderState>(row.state.load(std::memory_order_seq_cst));
}

std::uint64_t oldest_in_flight(const ReaderEntry& row, std::uint64_t oldest) noexcept {
    for (const auto& word : row.in_flight) {
        // seq_cst: see oldest_needed(). A stolen entry still counts: its thief reads it.
        const std::uint64_t value = word.load(std::memory_order_seq_cst);
        if (value != kNoSequence) oldest = std::min(oldest, value & ~kStolenBit);
    }
    return oldest;
}

}  // namespace

std::uint64_t notify_batch(const SegmentView& view) noexcept {
    return view.mask < 8 ? 1 : (view.mask + 1) / 8;
}

std::uint64_t oldest_needed(const SegmentView& view) noexcept {
    // Every load here is seq_cst, and the passes go in an order chosen against the orders
    // in which readers write (each a Dekker-style pairing on the single total order):
    //  - the cursor first: a reader row made active after this load starts at a cursor
    //    the daemon reads after activating the row, so it is >= this value;
    //  - group cursors before in-flight marks: a member marks a sequence in flight before
    //    its CAS takes it from the group cursor, so seeing the cursor moved implies seeing
    //    the mark;
    //  - orphan rows before live members: a member taking over a dead member's message
    //    marks it in its own row before clearing it from the orphan row.
    //  - the rows in use after the cursor: the daemon raises the count before it
    //    activates a row (and the row starts at a cursor read after that).
    std::uint64_t oldest = view.header->write_cursor.load(std::memory_order_seq_cst);
    // A hostile count is harmless: it is clamped to the table.
    const std::uint32_t rows =
        std::min(view.header->rows_in_use.load(std::memory_order_seq_cst), view.max_readers);
    for (std::uint32_t i = 0; i < rows; ++i) {
        if (state_of(view.readers[i]) == ReaderState::group) {
            oldest = std::min(oldest, view.readers[i].cursor.load(std::memory_order_seq_cst));
        }
    }
    for (std::uint32_t i = 0; i < rows; ++i) {
        if (state_of(view.readers[i]) == ReaderState::orphan) {
            oldest = oldest_in_flight(view.readers[i], oldest);
        }
    }
    for (std::uint32_t i = 0; i < rows; ++i) {
        const ReaderEntry& row = view.readers[i];
        const ReaderState state = state_of(row);
        if (state == ReaderState::orphan) {
            oldest = oldest_in_flight(row, oldest);
        } else if (state == ReaderState::active) {
            // Acquire (in seq_cst): the reader's reads of the slots before `released`
            // happen-before our overwriting them.
            oldest = row.group.load(std::memory_order_relaxed) != 0
                         ? oldest_in_flight(row, oldest)
                         : std::min(oldest, row.released.load(std::memory_order_seq_cst));
        }
    }
    return oldest;
}

void notify_space(const SegmentView& view) noexcept {
    // seq_cst fence: orders the caller's store that freed space before the load of the
    // waiter count. Pairs with the publisher, which increments the count (seq_cst) before
    // it re-checks for space: either it sees our store, or we see it waiting.
    if (!view.reliable) return;
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (view.header->publishers_waiting.load(std::memory_order_relaxed) == 0) return;
    // Relaxed: the futex word is a generation counter; the kernel orders the wait/wake.
    view.header->space_futex.fetch_add(1, std::memory_order_relaxed);
    futex_wake(view.header->space_futex, INT_MAX);
}

bool RingWriter::reserve_reliable(std::uint64_t& sequence) noexcept {
    auto& cursor = view_.header->write_cursor;
    std::uint64_t c = cursor.load(std::memory_order_relaxed);
    for (;;) {
        if (c >= limit_) {
            limit_ = oldest_needed(view_) + view_.mask + 1;
            if (c >= limit_) return false;
        }
        // Relaxed: a ticket, as in claim(); the limit check above is what keeps us off
        // slots readers still need, and the stamp CAS in mark_busy orders the slot.
        if (cursor.compare_exchange_weak(c, c + 1, std::memory_order_relaxed,
                                         std::memory_order_relaxed)) {
            sequence = c;
            return true;
        }
    }
}

ClaimStatus RingWriter::claim(std::uint64_t& sequence) noexcept {
    if (reliable_) {
        if (!reserve_reliable(sequence)) return ClaimStatus::full;
    } else {
        // Relaxed: the cursor is only a ticket dispenser; the slot's stamp CAS in
        // mark_busy is what orders the slot's contents for readers.
        sequence = view_.header->write_cursor.fetch_add(1, std::memory_order_relaxed);
    }
    return mark_busy(sequence);
}

ClaimStatus RingWriter::mark_busy(std::uint64_t sequence) noexcept {
    auto& slot = view_.slot(sequence);
    auto& stamp = slot.stamp;
    const std::uint64_t mine = stamp_of(sequence);
    // Relaxed: read only by the daemon after this process died. Stored before the CAS so
    // that a death right after the CAS still leaves our id there.
    slot.owner.store(publisher_id_, std::memory_order_relaxed);
    std::uint64_t word = stamp.load(std::memory_order_relaxed);
    for (;;) {
        if ((word & kStampMask) >= mine) return ClaimStatus::lapped;
        if ((word & kBusyBit) != 0) {
            // An older lap of this slot is still being written by another publisher.
            cpu_relax();
            word = stamp.load(std::memory_order_relaxed);
            continue;
        }
        // Acquire on success: we must not write the payload before we own the slot.
        if (stamp.compare_exchange_weak(word, kBusyBit | mine, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
            break;
        }
    }
    // Again after winning: a publisher racing us for this slot may have overwritten it.
    slot.owner.store(publisher_id_, std::memory_order_relaxed);
    // Release fence: the payload stores that follow must not become visible before the
    // BUSY mark (seqlock writer side; pairs with the reader's acquire fence in the
    // overwrite re-check).
    std::atomic_thread_fence(std::memory_order_release);
    return ClaimStatus::claimed;
}

void RingWriter::commit(std::uint64_t sequence, std::uint64_t size, std::uint32_t publisher_id,
                        std::uint64_t timestamp_ns, std::uint64_t origin_sequence) noexcept {
    auto& slot = view_.slot(sequence);
    // Relaxed: these fields are published by the release store of the stamp below.
    slot.size.store(size, std::memory_order_relaxed);
    slot.timestamp_ns.store(timestamp_ns, std::memory_order_relaxed);
    slot.publisher_id.store(publisher_id, std::memory_order_relaxed);
    slot.origin_sequence.store(origin_sequence == kNoOrigin ? sequence : origin_sequence,
                               std::memory_order_relaxed);
    // Release: pairs with the reader's acquire load of the stamp, so everything written
    // into the slot happens-before a reader that sees it.
    // Then the publisher's half of a Dekker pairing with a reader going to sleep (which
    // raises readers_waiting, then re-checks the stamp): our load of readers_waiting must
    // not be ordered before the stamp store, or both could miss each other. With the
    // process registered for membarrier, the sleeping reader's heavy fence provides that
    // ordering and a compiler barrier is all we pay; otherwise a full fence (seq_cst).
    if (light_commit_) {
        slot.stamp.store(stamp_of(sequence), std::memory_order_release);
        std::atomic_signal_fence(std::memory_order_seq_cst);
    } else {
        slot.stamp.store(stamp_of(sequence), std::memory_order_seq_cst);
    }
    if (view_.header->readers_waiting.load(std::memory_order_seq_cst) != 0) wake_readers(view_);
}

void wake_readers(const SegmentView& view) noexcept {
    // Relaxed: the futex word is a generation counter; the system call orders the rest.
    view.header->data_futex.fetch_add(1, std::memory_order_relaxed);
    // One sleeper: each woken reader wakes the next (wait.cpp), so a publish costs the
    // publisher one wake-up however many readers sleep.
    futex_wake(view.header->data_futex, 1);
}

void RingWriter::abandon(std::uint64_t sequence) noexcept {
    // Release: a reader that sees SKIPPED must also see that we stopped writing.
    view_.slot(sequence).stamp.store(kSkippedBit | stamp_of(sequence), std::memory_order_release);
    view_.header->skipped_total.fetch_add(1, std::memory_order_relaxed);  // statistics only
}

std::uint64_t resolve_abandoned_slots(const SegmentView& view,
                                      std::uint32_t publisher_id) noexcept {
    std::uint64_t resolved = 0;
    for (std::uint64_t i = 0; i <= view.mask; ++i) {
        auto& slot = view.slots[i];
        // Acquire: pairs with the dead publisher's CAS; its owner store is then visible.
        std::uint64_t word = slot.stamp.load(std::memory_order_acquire);
        if ((word & kBusyBit) == 0 || slot.owner.load(std::memory_order_relaxed) != publisher_id) {
            continue;
        }
        // Release: readers that see SKIPPED must not read the half-written payload; CAS so
        // that we never clobber a slot another publisher has meanwhile taken.
        const std::uint64_t skipped = kSkippedBit | (word & kStampMask);
        if (slot.stamp.compare_exchange_strong(word, skipped, std::memory_order_release,
                                               std::memory_order_relaxed)) {
            view.header->skipped_total.fetch_add(1, std::memory_order_relaxed);  // statistics
            ++resolved;
        }
    }
    return resolved;
}

PollStatus RingReader::poll(Polled& out) noexcept {
    // Each pass either returns or moves next_ forward (skip, overrun); the bound keeps a
    // reader that is lapped over and over by a much faster publisher from spinning here.
    for (int pass = 0; pass < 64; ++pass) {
        const auto& slot = view_.slot(next_);
        const std::uint64_t target = stamp_of(next_);
        // Acquire: pairs with the publisher's release store in commit()/abandon().
        const std::uint64_t word = slot.stamp.load(std::memory_order_acquire);
        const std::uint64_t found = word & kStampMask;
        if (found < target) return PollStatus::empty;  // not yet written (or never)
        if (found > target) {                          // lapped: our message is gone
            jump_after_overrun();
            continue;
        }
        if ((word & kBusyBit) != 0) return PollStatus::empty;  // being written right now
        if ((word & kSkippedBit) != 0) {
            ++skipped_;
            if (entry_ != nullptr) entry_->skipped.store(skipped_, std::memory_order_relaxed);
            advance();
            continue;
        }
        out.slot = &slot;
        out.stamp = word;
        out.sequence = next_;
        out.size = slot.size.load(std::memory_order_relaxed);
        out.timestamp_ns = slot.timestamp_ns.load(std::memory_order_relaxed);
        out.publisher_id = slot.publisher_id.load(std::memory_order_relaxed);
        out.origin_sequence = slot.origin_sequence.load(std::memory_order_relaxed);
        if (overwritten(out)) continue;  // fields may be torn; next pass sees the overrun
        advance();
        if (out.size > view_.slot_size) {
            count_lost(1);
            return PollStatus::corrupt;
        }
        out.payload = view_.payload(out.sequence);
        return PollStatus::message;
    }
    return PollStatus::empty;
}

bool RingReader::overwritten(const Polled& message) noexcept {
    // Acquire fence: the reads of the slot made before it are ordered before the re-load
    // (seqlock reader's second check; pairs with the writer's release fence in claim()).
    std::atomic_thread_fence(std::memory_order_acquire);
    return message.slot->stamp.load(std::memory_order_relaxed) != message.stamp;
}

void RingReader::count_lost(std::uint64_t n) noexcept {
    lost_ += n;
    // Relaxed: an observer's statistic; nothing is ordered by it.
    if (entry_ != nullptr) entry_->lost.store(lost_, std::memory_order_relaxed);
}

void RingReader::jump_after_overrun() noexcept {
    // We saw a stamp of a later lap, written by a publisher after its claim, and our
    // acquire load synchronised with that write: this load returns a cursor beyond the
    // sequence we saw (coherence), so relaxed suffices and `oldest` > next_.
    const std::uint64_t cursor = view_.header->write_cursor.load(std::memory_order_relaxed);
    const std::uint64_t oldest = cursor - (view_.mask + 1);
    if (oldest > next_) {
        count_lost(oldest - next_);
        next_ = oldest;
        if (entry_ != nullptr) entry_->cursor.store(next_, std::memory_order_relaxed);
    }
}

void RingReader::advance() noexcept {
    ++next_;
    // Relaxed: the cursor in the reader table is for observers (lag statistics).
    if (entry_ != nullptr) entry_->cursor.store(next_, std::memory_order_relaxed);
}

}  // namespace ipcbus::detail

namespace ipcbus::detail {

HeldSet::HeldSet(const SegmentView& view, layout::ReaderEntry* entry)
    : view_(view),
      entry_(entry),
      bits_((view.mask + 1 + 63) / 64, 0),
      released_(entry->released.load(std::memory_order_relaxed)),
      next_(released_) {}

void HeldSet::hold(std::uint64_t sequence) noexcept {
    // Nothing older held, but skipped or lost sequences lie between: the sample now held
    // is the oldest, so release() must find it at released_.
    if (count_ == 0 && released_ != sequence) publish(sequence);
    bits_[(sequence & view_.mask) / 64] |= 1ULL << (sequence % 64);
    ++count_;
    next_ = sequence + 1;
}

void HeldSet::release(std::uint64_t sequence) noexcept {
    bits_[(sequence & view_.mask) / 64] &= ~(1ULL << (sequence % 64));
    --count_;
    if (sequence != released_) return;  // an older sample is still held
    std::uint64_t oldest = sequence + 1;
    while (oldest < next_ && !held(oldest)) ++oldest;
    publish(oldest);
}

void HeldSet::catch_up(std::uint64_t next) noexcept {
    if (next > next_) next_ = next;
    if (count_ == 0 && next_ != released_) publish(next_);
}

void HeldSet::publish(std::uint64_t released) noexcept {
    released_ = released;
    // Release: our reads of every slot before `released` happen-before a publisher that
    // reads this value (oldest_needed) and then overwrites them.
    entry_->released.store(released, std::memory_order_release);
    if (released_ - notified_ >= notify_batch(view_)) idle();
}

void HeldSet::idle() noexcept {
    if (notified_ == released_) return;
    notified_ = released_;
    notify_space(view_);
}

PollStatus GroupReader::poll(Polled& out, std::atomic<std::uint64_t>*& in_flight) noexcept {
    // Relaxed: a hint; take_orphaned() synchronises on the rows it finds.
    if (group_->orphans.load(std::memory_order_relaxed) != 0 && free_in_flight() >= 0 &&
        take_orphaned(out, in_flight)) {
        return PollStatus::message;
    }
    return take_next(out, in_flight);
}

int GroupReader::free_in_flight() const noexcept {
    for (int k = 0; k < static_cast<int>(layout::kMaxInFlight); ++k) {
        if ((used_ & (1U << k)) == 0) return k;
    }
    return -1;
}

PollStatus GroupReader::take_next(Polled& out, std::atomic<std::uint64_t>*& in_flight) noexcept {
    auto& cursor = group_->cursor;
    for (int pass = 0; pass < 64; ++pass) {
        // Acquire: pairs with the winning CAS of the member that moved the cursor.
        std::uint64_t next = cursor.load(std::memory_order_acquire);
        const std::uint64_t word = view_.slot(next).stamp.load(std::memory_order_acquire);
        const std::uint64_t found = word & kStampMask;
        if (found < stamp_of(next) || (word & kBusyBit) != 0) return PollStatus::empty;
        if (found > stamp_of(next)) {  // overwrite mode: the group was lapped
            const std::uint64_t oldest =
                view_.header->write_cursor.load(std::memory_order_relaxed) - (view_.mask + 1);
            // The member whose CAS wins counts the loss, once, for the whole group.
            if (oldest > next && cursor.compare_exchange_strong(next, oldest)) {
                group_->lost.fetch_add(oldest - next, std::memory_order_relaxed);
                count_lost(oldest - next);
            }
            continue;
        }
        if ((word & kSkippedBit) != 0) {
            if (cursor.compare_exchange_strong(next, next + 1)) {
                count_skipped();
                notify_space(view_);
            }
            continue;
        }
        const int k = free_in_flight();
        if (k < 0) return PollStatus::too_many_held;
        auto& mark = self_->in_flight[k];
        // seq_cst store, then seq_cst CAS: a publisher that sees the cursor moved past
        // `next` must see our mark too (invariant 8), or it could reuse the slot under us.
        mark.store(next, std::memory_order_seq_cst);
        if (!cursor.compare_exchange_strong(next, next + 1, std::memory_order_seq_cst)) {
            mark.store(kNoSequence, std::memory_order_release);  // another member won
            continue;
        }
        used_ |= 1U << k;
        in_flight = &mark;
        if (read_slot(next, out)) return PollStatus::message;
        const bool corrupt = out.size > view_.slot_size;
        release(&mark);
        if (corrupt) return PollStatus::corrupt;
    }
    return PollStatus::empty;
}

bool GroupReader::read_slot(std::uint64_t sequence, Polled& out) noexcept {
    const auto& slot = view_.slot(sequence);
    out.slot = &slot;
    // Acquire: pairs with the publisher's release store of the committed stamp.
    out.stamp = slot.stamp.load(std::memory_order_acquire);
    out.sequence = sequence;
    out.size = slot.size.load(std::memory_order_relaxed);
    out.timestamp_ns = slot.timestamp_ns.load(std::memory_order_relaxed);
    out.publisher_id = slot.publisher_id.load(std::memory_order_relaxed);
    out.origin_sequence = slot.origin_sequence.load(std::memory_order_relaxed);
    out.payload = view_.payload(sequence);
    if (out.stamp == (kSkippedBit | stamp_of(sequence))) {
        count_skipped();
        out.size = 0;
        return false;
    }
    if (out.stamp != stamp_of(sequence) || RingReader::overwritten(out)) {
        count_lost(1);  // overwrite mode: the slot was reused before we got to it
        out.size = 0;
        return false;
    }
    if (out.size > view_.slot_size) {
        count_lost(1);
        return false;
    }
    return true;
}

bool GroupReader::take_orphaned(Polled& out, std::atomic<std::uint64_t>*& in_flight) noexcept {
    const std::uint32_t group_row = static_cast<std::uint32_t>(group_ - view_.readers) + 1;
    for (std::uint32_t i = 0; i < view_.max_readers; ++i) {
        layout::ReaderEntry& row = view_.readers[i];
        // Acquire: the daemon orphaned the row after the member's last stores.
        if (row.state.load(std::memory_order_acquire) !=
                static_cast<std::uint32_t>(ReaderState::orphan) ||
            row.group.load(std::memory_order_relaxed) != group_row) {
            continue;
        }
        for (auto& word : row.in_flight) {
            std::uint64_t sequence = word.load(std::memory_order_acquire);
            if (sequence == kNoSequence || (sequence & kStolenBit) != 0) continue;
            // Mark it ours where it lies: it stays in flight (gating) in the orphan row
            // until we release it, and no other member takes it.
            if (!word.compare_exchange_strong(sequence, sequence | kStolenBit)) continue;
            in_flight = &word;
            if (read_slot(sequence, out)) return true;
            release(&word);
        }
    }
    return false;
}

void GroupReader::release(std::atomic<std::uint64_t>* in_flight) noexcept {
    // Release: our reads of the slot happen-before a publisher that sees the mark gone.
    in_flight->store(kNoSequence, std::memory_order_release);
    const auto* first = &self_->in_flight[0];
    if (in_flight >= first && in_flight < first + layout::kMaxInFlight) {
        used_ &= ~(1U << (in_flight - first));
    } else {
        free_if_empty_orphan(view_, group_, in_flight);
    }
    if (++unnotified_ >= notify_batch(view_)) idle();
}

void GroupReader::idle() noexcept {
    if (unnotified_ == 0) return;
    unnotified_ = 0;
    notify_space(view_);
}

void GroupReader::count_lost(std::uint64_t n) noexcept {
    lost_ += n;
    // Relaxed: statistics for observers.
    self_->lost.store(lost_, std::memory_order_relaxed);
}

void GroupReader::count_skipped() noexcept {
    ++skipped_;
    self_->skipped.store(skipped_, std::memory_order_relaxed);  // statistics
}

void free_if_empty_orphan(const SegmentView& view, layout::ReaderEntry* group,
                          const std::atomic<std::uint64_t>* in_flight) noexcept {
    // The orphan row that holds this word: rows are 128-byte aligned array elements.
    const auto offset = reinterpret_cast<const std::byte*>(in_flight) -
                        reinterpret_cast<const std::byte*>(view.readers);
    layout::ReaderEntry& row = view.readers[offset / sizeof(layout::ReaderEntry)];
    for (const auto& word : row.in_flight) {
        if (word.load(std::memory_order_acquire) != kNoSequence) return;
    }
    auto expected = static_cast<std::uint32_t>(ReaderState::orphan);
    // Release: our clearing of its words happens-before the daemon's next claim of it.
    if (row.state.compare_exchange_strong(expected, static_cast<std::uint32_t>(ReaderState::free),
                                          std::memory_order_release, std::memory_order_relaxed)) {
        group->orphans.fetch_sub(1, std::memory_order_relaxed);
    }
}

}  // namespace ipcbus::detail
