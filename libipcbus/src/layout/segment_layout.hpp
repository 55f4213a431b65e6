// SPDX-License-Identifier: Apache-2.0
// The binary layout of ipcbus shared memory. Every process of a domain agrees on it; a
// process built from another version is refused by the layout version check.
//
// >>> Whoever changes any struct, constant or offset in this file: bump kLayoutVersion. <<<
//
// A topic lives in memory objects (memfds) that each have exactly one kind of writer:
//
//   topic segment        written by publishers and the daemon; readers map it read-only
//   reader segment       one per subscriber, written by that subscriber (and the daemon
//                        when it sets the row up or cleans up after it); publishers map it
//                        read-only
//   group segment        one per consumer group, written by the group's members (and the
//                        daemon); publishers map it read-only
//   domain segment       one per domain, written by the daemon only (the clock)
//
// So a reader can write only its own state, a member only its own group's, and nothing a
// reader writes is trusted by anyone else without a bound (see docs/SECURITY.md).
//
//   topic segment, offset 0
//   +-------------------------------------------------------------------------+
//   | TopicHeader (768 B)                                                     |
//   |   lines 0-7  identity, written once by the daemon before `magic`: layout |
//   |              version, geometry, type, names. Validated once by every     |
//   |              opener and copied; never read again on the hot path.        |
//   |   line 8     cursor line: write_cursor (publishers)                       |
//   |   line 9     control line: exclusive, roster_generation, rows_in_use      |
//   |              (daemon; `exclusive` also the revoked publisher)             |
//   |   line 10    wake line: data_futex (readers sleep on it), space_waiters   |
//   |   line 11    statistics: skipped_total, expired_total                     |
//   +-------------------------------------------------------------------------+
//   | PublisherEntry[max_publishers]   64 B each: one per publisher, its own    |
//   +-------------------------------------------------------------------------+
//   | RosterEntry[max_readers]         64 B each: the daemon's list of readers |
//   |                                  and groups (which segment is whose)     |
//   +-------------------------------------------------------------------------+  page
//   | Frame[capacity]                  frame_stride bytes each:                 |
//   |   FrameHeader (64 B): stamp, size, timestamp, publisher, origin, buffer  |
//   |   user header (user_header_size, reserved for typed headers)             |
//   |   inline payload (slot_size), or nothing when the topic has a pool       |
//   +-------------------------------------------------------------------------+  page
//   | BufferHeader[pool_buffers]       64 B each (pool topics only)            |
//   +-------------------------------------------------------------------------+  page
//   | buffers[pool_buffers]            buffer_stride bytes each, page aligned   |
//   +-------------------------------------------------------------------------+
//
// Publication rule of a frame (a seqlock: the stamp is the only truth about the frame):
//   committed   seq + 1                                   (bits 61-63 clear)
//   skipped     SKIPPED | (seq + 1)                       (never committed: readers count it)
//   busy        BUSY | owner << 40 | low40(seq + 1)       (a publisher is writing it)
//   stale       BUSY | STALE | owner << 40 | low40(seq' + 1)
//                 the busy owner stalled: seq' (its own sequence, or a later lap that
//                 another publisher gave up because the slot was still busy) is passed
//                 over by readers; the owner's late commit fails and turns it SKIPPED.
//   Overwrite mode: the writer stores BUSY before the first payload byte (then a release
//   fence), the payload, the header fields, and last the committed stamp with release
//   ordering. A reader that loads the committed stamp with acquire may read; loading it
//   again after an acquire fence and finding it unchanged proves the bytes were not being
//   rewritten meanwhile. Reliable mode: a frame is rewritten only after every reader has
//   released it, so a lone (exclusive) publisher writes the frame and then the stamp,
//   without a BUSY mark; several publishers still mark BUSY (so a stalled one is seen).
//   Pool topics: the frame holds a buffer index and the buffer's generation; the reader
//   validates the generation after reading, exactly as it validates the stamp.
//
// Nothing in any segment is a pointer: offsets and indices only, each checked against the
// segment's size before use, because another process may have written them.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>

namespace ipcbus::layout {

inline constexpr std::uint64_t kTopicMagic = 0x3153554243504921ULL;   // "!IPCBUS1"
inline constexpr std::uint64_t kReaderMagic = 0x3144524243504921ULL;  // "!IPCBRD1"
inline constexpr std::uint64_t kGroupMagic = 0x3150524743504921ULL;   // "!IPCGRP1"
inline constexpr std::uint64_t kDomainMagic = 0x314d4f4443504921ULL;  // "!IPCDOM1"
inline constexpr std::uint32_t kLayoutVersion = 7;
inline constexpr std::size_t kCacheLine = 64;
inline constexpr std::size_t kPage = 4096;
inline constexpr std::size_t kNameCapacity = 128;  // 127 characters + NUL

// --- stamps ------------------------------------------------------------------------------
inline constexpr std::uint64_t kBusyBit = 1ULL << 63;
inline constexpr std::uint64_t kSkippedBit = 1ULL << 62;
inline constexpr std::uint64_t kStaleBit = 1ULL << 61;
inline constexpr std::uint64_t kFlagBits = kBusyBit | kSkippedBit | kStaleBit;
inline constexpr std::uint64_t kSequenceMask = ~kFlagBits;  // committed and skipped stamps
inline constexpr int kLowBits = 40;                         // sequence bits of busy stamps
inline constexpr std::uint64_t kLowMask = (1ULL << kLowBits) - 1;
inline constexpr int kOwnerBits = 21;
inline constexpr std::uint32_t kMaxPublisherId = (1U << kOwnerBits) - 1;

/// The stamp that marks sequence `seq` committed.
constexpr std::uint64_t stamp_of(std::uint64_t seq) noexcept {
    return seq + 1;
}
constexpr std::uint64_t skipped_stamp(std::uint64_t seq) noexcept {
    return kSkippedBit | (seq + 1);
}
constexpr std::uint64_t busy_stamp(std::uint32_t owner, std::uint64_t seq) noexcept {
    return kBusyBit | (static_cast<std::uint64_t>(owner & kMaxPublisherId) << kLowBits) |
           ((seq + 1) & kLowMask);
}
constexpr bool is_busy(std::uint64_t stamp) noexcept {
    return (stamp & kBusyBit) != 0;
}
constexpr bool is_stale(std::uint64_t stamp) noexcept {
    return (stamp & (kBusyBit | kStaleBit)) == (kBusyBit | kStaleBit);
}
constexpr std::uint32_t busy_owner(std::uint64_t stamp) noexcept {
    return static_cast<std::uint32_t>((stamp >> kLowBits) & kMaxPublisherId);
}
/// How a busy stamp's sequence relates to `seq`: 0 the same, > 0 a later lap, < 0 an
/// earlier one (mod 2^40: exact for any two sequences less than 2^39 apart).
constexpr std::int64_t busy_lap_distance(std::uint64_t stamp, std::uint64_t seq) noexcept {
    const std::uint64_t diff = ((stamp & kLowMask) - ((seq + 1) & kLowMask)) & kLowMask;
    return diff >= (1ULL << (kLowBits - 1)) ? static_cast<std::int64_t>(diff) - (1LL << kLowBits)
                                            : static_cast<std::int64_t>(diff);
}
/// The full sequence a busy stamp names, given a sequence `near` less than 2^39 from it.
constexpr std::uint64_t busy_sequence(std::uint64_t stamp, std::uint64_t near) noexcept {
    return near + static_cast<std::uint64_t>(busy_lap_distance(stamp, near));
}

// --- the topic segment -------------------------------------------------------------------

/// TopicHeader::exclusive: who may claim with plain stores (a 32-bit futex word).
inline constexpr std::uint32_t kExclusiveShared = 0;         // everyone uses atomics
inline constexpr std::uint32_t kExclusiveOwned = 1U << 30;   // | id: that publisher alone
inline constexpr std::uint32_t kExclusiveRevoke = 2U << 30;  // | id: it must give it up
inline constexpr std::uint32_t kExclusiveIdMask = (1U << 30) - 1;

struct alignas(kCacheLine) TopicHeader {
    // --- identity: written by the daemon before magic, never changed afterwards ----------
    std::atomic<std::uint64_t> magic;  // kTopicMagic, stored last with release ordering
    std::uint32_t layout_version;
    std::uint32_t header_size;  // sizeof(TopicHeader)
    std::uint64_t segment_size;
    std::uint32_t capacity;  // frames, a power of two
    std::uint32_t max_readers;
    std::uint32_t max_publishers;
    std::uint8_t mode;  // DeliveryMode
    std::uint8_t reserved0[3];
    std::uint64_t slot_size;         // largest payload
    std::uint64_t frame_stride;      // bytes per frame: header, user header, inline payload
    std::uint32_t user_header_size;  // reserved for typed user headers (0 today)
    std::uint32_t pool_buffers;      // 0: payloads inline in the frames
    std::uint64_t buffer_stride;
    std::uint32_t history_depth;       // newest messages kept for late joiners
    std::uint32_t max_pool_loans;      // per publisher
    std::uint64_t unblock_timeout_ns;  // a stalled claim older than this is passed over
    std::uint64_t publisher_table_offset;
    std::uint64_t roster_offset;
    std::uint64_t frames_offset;
    std::uint64_t pool_table_offset;
    std::uint64_t pool_offset;
    std::uint64_t type_size;
    std::uint32_t type_align;
    std::int32_t creator_pid;
    std::uint64_t schema_hash;
    std::uint64_t created_unix_ns;
    std::uint8_t reserved1[48];
    char topic_name[kNameCapacity];  // NUL-terminated
    char type_name[kNameCapacity];   // NUL-terminated

    // --- line 8: the claim ticket (publishers) -----------------------------------------
    alignas(kCacheLine) std::atomic<std::uint64_t> write_cursor;  // next sequence to claim

    // --- line 9: control, written by the daemon (rarely) ---------------------------------
    // kExclusive*: the single publisher's fast path, and its revocation handshake.
    alignas(kCacheLine) std::atomic<std::uint32_t> exclusive;
    std::atomic<std::uint32_t> next_publisher_id;
    // Bumped whenever a roster entry changes: publishers then look at the roster again.
    std::atomic<std::uint64_t> roster_generation;
    // Roster entries below this index may be in use (raised before an entry is used,
    // never lowered): scans stop there.
    std::atomic<std::uint32_t> rows_in_use;

    // --- line 10: waking ---------------------------------------------------------------
    // Readers sleep on data_futex (a generation counter bumped by whoever wakes them);
    // space_waiters counts publishers asleep because the ring is full (reliable mode),
    // which readers check when they release.
    alignas(kCacheLine) std::atomic<std::uint32_t> data_futex;
    std::atomic<std::uint32_t> space_waiters;

    // --- line 11: statistics (relaxed) -------------------------------------------------
    alignas(kCacheLine) std::atomic<std::uint64_t> skipped_total;  // frames never committed
    std::atomic<std::uint64_t> expired_total;  // commits refused after the unblock timeout
};

/// PublisherEntry::claiming when no claim is in progress, and while a ticket is about to
/// be taken (the daemon cannot tell which sequence: it looks for holes).
inline constexpr std::uint64_t kNotClaiming = ~0ULL;
inline constexpr std::uint64_t kTakingTicket = ~0ULL - 1;

enum class PublisherState : std::uint32_t { free = 0, active = 1 };

/// One publisher's bookkeeping, written by that publisher (the daemon claims and frees
/// the entry). Read by the daemon (stalls, `ipcbus info`) and by readers (fence_on).
struct alignas(kCacheLine) PublisherEntry {
    std::atomic<std::uint32_t> state;  // PublisherState
    std::uint32_t id;                  // the publisher id (busy stamps, pool owners)
    std::int32_t pid;
    // 1 while this publisher orders its commits against sleeping readers with a full
    // fence (readers then need no membarrier of their own); see wait.hpp.
    std::atomic<std::uint32_t> fence_on;
    std::atomic<std::uint64_t> claiming;          // kNotClaiming, kTakingTicket or a sequence
    std::atomic<std::uint64_t> blocked_since_ns;  // waiting for space since (0: not)
    std::atomic<std::uint32_t> loans;             // outstanding loans
    std::atomic<std::uint32_t> pool_loans;        // of which pool buffers
    std::atomic<std::uint64_t> published;         // messages committed
    std::atomic<std::uint64_t> last_publish_ns;
    // Odd while inside an exclusive publish (the publisher's plain-store claim): the
    // daemon revokes the exclusive path only once it has seen it even (publishers.cpp).
    std::atomic<std::uint32_t> in_publish;
    std::uint8_t reserved[4];
};

enum class RosterState : std::uint32_t {
    free = 0,
    claiming = 1,  // being set up by the daemon; ignored by scans
    active = 2,    // a reader (plain or group member) or a group
};
enum class RosterKind : std::uint32_t { plain = 0, member = 1, group = 2 };

/// The daemon's entry for one reader or group: which segment publishers must look at,
/// and where its reading started. Written by the daemon only.
struct alignas(kCacheLine) RosterEntry {
    std::atomic<std::uint32_t> state;  // RosterState
    std::atomic<std::uint32_t> kind;   // RosterKind
    std::atomic<std::int32_t> pid;     // the reader's process (0 for a group)
    std::atomic<std::uint32_t> group;  // member: its group's roster index + 1
    // Bumped each time the entry is given to a new reader: names the segment the daemon
    // sends publishers for it.
    std::atomic<std::uint64_t> generation;
    // The first sequence this reader (or group) may read: what publishers assume it still
    // needs until they have mapped its segment.
    std::atomic<std::uint64_t> start;
    std::uint8_t reserved[32];
};

/// What precedes every frame's payload. Written by the publisher of the frame.
struct alignas(kCacheLine) FrameHeader {
    std::atomic<std::uint64_t> stamp;  // see the publication rule above
    std::atomic<std::uint64_t> size;   // payload bytes
    std::atomic<std::uint64_t> timestamp_ns;
    // The message's sequence on the host it came from (ipcbus-bridge), else `sequence`.
    std::atomic<std::uint64_t> origin_sequence;
    std::atomic<std::uint32_t> publisher_id;
    std::atomic<std::uint32_t> buffer;  // pool topics: the buffer holding the payload
    std::atomic<std::uint64_t> buffer_generation;
    std::uint8_t reserved[16];
};

/// BufferHeader::state: generation << 32 | owner << 8 | kind.
enum class BufferKind : std::uint32_t { free = 0, loaned = 1, committed = 2 };
constexpr std::uint64_t buffer_state(std::uint64_t generation, std::uint32_t owner,
                                     BufferKind kind) noexcept {
    return generation << 32 | static_cast<std::uint64_t>(owner & kMaxPublisherId) << 8 |
           static_cast<std::uint64_t>(kind);
}
constexpr std::uint64_t buffer_generation(std::uint64_t state) noexcept {
    return state >> 32;
}
constexpr std::uint32_t buffer_owner(std::uint64_t state) noexcept {
    return static_cast<std::uint32_t>(state >> 8) & kMaxPublisherId;
}
constexpr BufferKind buffer_kind(std::uint64_t state) noexcept {
    return static_cast<BufferKind>(state & 0xff);
}

/// One buffer of a pool topic. Written by publishers (the daemon frees a dead one's).
struct alignas(kCacheLine) BufferHeader {
    std::atomic<std::uint64_t> state;     // buffer_state(): taken and given back by CAS
    std::atomic<std::uint64_t> sequence;  // the message it carries (committed)
    std::atomic<std::uint64_t> last_use;  // when it was last handed out (most recent: warm)
    std::uint8_t reserved[40];
};

// --- reader and group segments -----------------------------------------------------------

/// ReaderRow::sleep: sleepers in the low 16 bits, an epoch above them (bumped by every
/// sleeper that announces itself), and kWantsFence once the reader has slept.
inline constexpr std::uint64_t kSleepersMask = 0xffff;
inline constexpr std::uint64_t kSleepEpoch = 1ULL << 16;
inline constexpr std::uint64_t kWantsFence = 1ULL << 63;

/// An in-flight mark of a group member: kNoSequence (empty), or a sequence it is taking
/// (kPending: its CAS may or may not have won), or one it took, plus for marks of
/// messages taken over from the orphan table kFromOrphan and the table entry.
inline constexpr std::uint64_t kNoSequence = ~0ULL;
inline constexpr std::uint64_t kPendingBit = 1ULL << 62;
inline constexpr std::uint64_t kMarkSequenceMask = kPendingBit - 1;
inline constexpr std::size_t kMaxInFlight = 8;

/// A subscriber's own memory. Written by the subscriber; publishers and the daemon read.
struct alignas(kCacheLine) ReaderRow {
    // --- line 0: identity (daemon, at setup) -----------------------------------------
    std::atomic<std::uint64_t> magic;  // kReaderMagic, stored last
    std::uint32_t layout_version;
    std::uint32_t roster_index;  // which roster entry this segment belongs to
    std::uint64_t generation;    // the roster entry's generation it was made for
    std::uint64_t segment_size;
    std::uint32_t kind;  // RosterKind
    std::uint8_t reserved0[28];
    // --- line 1: what publishers read (published by the reader in batches) ------------
    alignas(kCacheLine) std::atomic<std::uint64_t> position;  // next sequence expected
    // No sequence at or after this one may be reused (the oldest sample still held, or
    // the position when none is). Reliable mode: gates publishers; pool topics: buffers.
    std::atomic<std::uint64_t> released;
    // --- line 2: waking ---------------------------------------------------------------
    alignas(kCacheLine) std::atomic<std::uint64_t> sleep;  // sleepers | epoch | kWantsFence
    // Publishers that wait for this reader to free space sleep on it; the reader bumps it.
    std::atomic<std::uint32_t> space_futex;
    // --- line 3: statistics for observers (relaxed) -----------------------------------
    alignas(kCacheLine) std::atomic<std::uint64_t> lost;
    std::atomic<std::uint64_t> skipped;
    std::atomic<std::uint64_t> received;
    std::atomic<std::uint32_t> held;  // samples held right now
    // --- line 4: a group member's in-flight marks (see kPendingBit) ---------------------
    alignas(kCacheLine) std::atomic<std::uint64_t> in_flight[kMaxInFlight];
    // Where each mark came from: 0 the group cursor, else orphan entry + 1 (the daemon
    // resolves those through the entry's taker instead).
    alignas(kCacheLine) std::atomic<std::uint32_t> in_flight_source[kMaxInFlight];
    std::uint8_t reserved1[32];
    // --- lines 6-7: reserved for a sampled delivery-latency histogram ------------------
    alignas(kCacheLine) std::atomic<std::uint64_t> latency_histogram[16];
};

/// An orphan-table entry of a group: state = generation << 32 | taker << 8 | kind.
enum class OrphanKind : std::uint32_t { empty = 0, available = 1, taken = 2 };
inline constexpr std::size_t kMaxOrphans = 64;
constexpr std::uint64_t orphan_state(std::uint64_t generation, std::uint32_t taker,
                                     OrphanKind kind) noexcept {
    return generation << 32 | static_cast<std::uint64_t>(taker & 0xffffff) << 8 |
           static_cast<std::uint64_t>(kind);
}
constexpr OrphanKind orphan_kind(std::uint64_t state) noexcept {
    return static_cast<OrphanKind>(state & 0xff);
}
constexpr std::uint32_t orphan_taker(std::uint64_t state) noexcept {
    return static_cast<std::uint32_t>(state >> 8) & 0xffffff;
}
constexpr std::uint64_t orphan_generation(std::uint64_t state) noexcept {
    return state >> 32;
}

struct alignas(16) OrphanEntry {
    std::atomic<std::uint64_t> state;     // orphan_state()
    std::atomic<std::uint64_t> sequence;  // the message awaiting redelivery
};

/// A consumer group's shared memory. Written by its members (the daemon sets it up and
/// puts dead members' unfinished messages into the orphan table).
struct alignas(kCacheLine) GroupState {
    // --- line 0: identity (daemon) ----------------------------------------------------
    std::atomic<std::uint64_t> magic;  // kGroupMagic, stored last
    std::uint32_t layout_version;
    std::uint32_t roster_index;
    std::uint64_t generation;
    std::uint64_t segment_size;
    std::uint8_t reserved0[32];
    // --- line 1: the shared cursor (members CAS it) -----------------------------------
    alignas(kCacheLine) std::atomic<std::uint64_t> cursor;  // next sequence to hand out
    // --- line 2: ---------------------------------------------------------------------
    alignas(kCacheLine) std::atomic<std::uint64_t> lost;  // overwrite mode: overrun
    std::atomic<std::uint32_t> space_futex;               // as ReaderRow::space_futex
    std::atomic<std::uint32_t> orphan_events;             // bumped by the daemon per orphaning
    // Entries available in the orphan table: a hint (raised by the daemon, lowered by the
    // member that takes one) that tells waiting members when the table is worth a look.
    std::atomic<std::uint32_t> orphans_available;
    // --- lines 3-: messages of dead members awaiting redelivery --------------------------
    alignas(kCacheLine) OrphanEntry orphans[kMaxOrphans];
};

// --- the domain segment ------------------------------------------------------------------

/// One TSC calibration: ns = base_ns + ((tsc - base_tsc) * mult) >> shift. A seqlock on
/// `sequence` (odd while the daemon rewrites it).
struct TscCalibration {
    std::atomic<std::uint32_t> sequence;
    std::atomic<std::uint32_t> shift;
    std::atomic<std::uint64_t> base_tsc;
    std::atomic<std::uint64_t> base_ns;
    std::atomic<std::uint64_t> mult;
};

/// The domain's clock: one TSC calibration that every process uses, so timestamps from
/// different processes compare. Written by the daemon. Two calibrations, and `active`
/// says which one readers use: the daemon rewrites the other one, then switches, so a
/// reader never finds the clock in the middle of an update (the daemon may be preempted
/// there) and never has to fall back to another clock, which would make timestamps jump.
struct alignas(kCacheLine) DomainClock {
    std::atomic<std::uint64_t> magic;  // kDomainMagic, stored last
    std::uint32_t layout_version;
    std::atomic<std::uint32_t> tsc_usable;  // 0: use CLOCK_MONOTONIC
    std::atomic<std::uint32_t> active;      // which calibration is current (0 or 1)
    std::uint8_t reserved0[12];
    TscCalibration calibration[2];
    std::uint8_t reserved1[32];
};

// The layout is shared between processes: pin it. A failure here means the layout
// changed: bump kLayoutVersion, and update tests/unit/test_layout.cpp.
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(std::is_standard_layout_v<TopicHeader>);
static_assert(std::is_standard_layout_v<PublisherEntry>);
static_assert(std::is_standard_layout_v<RosterEntry>);
static_assert(std::is_standard_layout_v<FrameHeader>);
static_assert(std::is_standard_layout_v<BufferHeader>);
static_assert(std::is_standard_layout_v<ReaderRow>);
static_assert(std::is_standard_layout_v<GroupState>);
static_assert(std::is_standard_layout_v<DomainClock>);
static_assert(sizeof(TopicHeader) == 768 && alignof(TopicHeader) == 64);
static_assert(offsetof(TopicHeader, magic) == 0);
static_assert(offsetof(TopicHeader, layout_version) == 8);  // never moves: version probe
static_assert(offsetof(TopicHeader, segment_size) == 16);
static_assert(offsetof(TopicHeader, capacity) == 24);
static_assert(offsetof(TopicHeader, mode) == 36);
static_assert(offsetof(TopicHeader, slot_size) == 40);
static_assert(offsetof(TopicHeader, pool_buffers) == 60);
static_assert(offsetof(TopicHeader, history_depth) == 72);
static_assert(offsetof(TopicHeader, unblock_timeout_ns) == 80);
static_assert(offsetof(TopicHeader, publisher_table_offset) == 88);
static_assert(offsetof(TopicHeader, pool_offset) == 120);
static_assert(offsetof(TopicHeader, type_size) == 128);
static_assert(offsetof(TopicHeader, schema_hash) == 144);
static_assert(offsetof(TopicHeader, topic_name) == 208);
static_assert(offsetof(TopicHeader, type_name) == 336);
static_assert(offsetof(TopicHeader, write_cursor) == 512);
static_assert(offsetof(TopicHeader, exclusive) == 576);
static_assert(offsetof(TopicHeader, roster_generation) == 584);
static_assert(offsetof(TopicHeader, rows_in_use) == 592);
static_assert(offsetof(TopicHeader, data_futex) == 640);
static_assert(offsetof(TopicHeader, space_waiters) == 644);
static_assert(offsetof(TopicHeader, skipped_total) == 704);
static_assert(sizeof(PublisherEntry) == 64);
static_assert(offsetof(PublisherEntry, claiming) == 16);
static_assert(offsetof(PublisherEntry, published) == 40);
static_assert(offsetof(PublisherEntry, in_publish) == 56);
static_assert(sizeof(RosterEntry) == 64);
static_assert(offsetof(RosterEntry, generation) == 16);
static_assert(offsetof(RosterEntry, start) == 24);
static_assert(sizeof(FrameHeader) == 64);
static_assert(offsetof(FrameHeader, size) == 8);
static_assert(offsetof(FrameHeader, origin_sequence) == 24);
static_assert(offsetof(FrameHeader, publisher_id) == 32);
static_assert(offsetof(FrameHeader, buffer_generation) == 40);
static_assert(sizeof(BufferHeader) == 64);
static_assert(sizeof(ReaderRow) == 512);
static_assert(offsetof(ReaderRow, position) == 64);
static_assert(offsetof(ReaderRow, released) == 72);
static_assert(offsetof(ReaderRow, sleep) == 128);
static_assert(offsetof(ReaderRow, space_futex) == 136);
static_assert(offsetof(ReaderRow, lost) == 192);
static_assert(offsetof(ReaderRow, in_flight) == 256);
static_assert(offsetof(ReaderRow, in_flight_source) == 320);
static_assert(offsetof(ReaderRow, latency_histogram) == 384);
static_assert(sizeof(OrphanEntry) == 16);
static_assert(offsetof(GroupState, cursor) == 64);
static_assert(offsetof(GroupState, lost) == 128);
static_assert(offsetof(GroupState, orphans) == 192);
static_assert(sizeof(GroupState) == 192 + kMaxOrphans * 16);
static_assert(sizeof(TscCalibration) == 32);
static_assert(sizeof(DomainClock) == 128);
static_assert(offsetof(DomainClock, active) == 16);
static_assert(offsetof(DomainClock, calibration) == 32);

/// Where everything lies in a topic segment of the given parameters.
struct Geometry {
    std::uint32_t capacity;
    std::uint32_t max_readers;
    std::uint32_t max_publishers;
    std::uint32_t pool_buffers;
    std::uint64_t slot_size;
    std::uint64_t frame_stride;
    std::uint32_t user_header_size;
    std::uint64_t buffer_stride;
    std::uint64_t publisher_table_offset;
    std::uint64_t roster_offset;
    std::uint64_t frames_offset;
    std::uint64_t pool_table_offset;
    std::uint64_t pool_offset;
    std::uint64_t segment_size;

    friend bool operator==(const Geometry&, const Geometry&) = default;
};

/// The parameters a geometry is computed from.
struct GeometryRequest {
    std::uint64_t capacity;
    std::uint64_t slot_size;
    std::uint64_t max_readers;
    std::uint64_t max_publishers;
    std::uint64_t pool_buffers;  // 0: payloads inline
    std::uint64_t user_header_size;
};

inline constexpr std::uint64_t kMaxCapacity = 1ULL << 24;
inline constexpr std::uint64_t kMaxSlotSize = 1ULL << 30;
inline constexpr std::uint64_t kMaxReaders = 1024;
inline constexpr std::uint64_t kMaxPublishers = 256;
inline constexpr std::uint64_t kMaxUserHeader = 4096;
inline constexpr std::uint64_t kMaxSegmentSize = 1ULL << 40;  // 1 TiB: surely a mistake

constexpr std::uint64_t round_up(std::uint64_t value, std::uint64_t to) noexcept {
    return (value + to - 1) / to * to;
}

/// The one way to compute a topic segment's geometry. nullopt when the parameters are out
/// of range (capacity not a power of two, sizes over the limits), so nothing overflows.
constexpr std::optional<Geometry> compute_geometry(const GeometryRequest& r) noexcept {
    const bool power_of_two = r.capacity >= 2 && (r.capacity & (r.capacity - 1)) == 0;
    if (!power_of_two || r.capacity > kMaxCapacity) return std::nullopt;
    if (r.slot_size == 0 || r.slot_size > kMaxSlotSize) return std::nullopt;
    if (r.max_readers == 0 || r.max_readers > kMaxReaders) return std::nullopt;
    if (r.max_publishers == 0 || r.max_publishers > kMaxPublishers) return std::nullopt;
    if (r.user_header_size > kMaxUserHeader || r.user_header_size % 8 != 0) return std::nullopt;
    if (r.pool_buffers != 0 && (r.pool_buffers <= r.capacity || r.pool_buffers > 2 * kMaxCapacity))
        return std::nullopt;
    Geometry g{};
    g.capacity = static_cast<std::uint32_t>(r.capacity);
    g.max_readers = static_cast<std::uint32_t>(r.max_readers);
    g.max_publishers = static_cast<std::uint32_t>(r.max_publishers);
    g.pool_buffers = static_cast<std::uint32_t>(r.pool_buffers);
    g.slot_size = r.slot_size;
    g.user_header_size = static_cast<std::uint32_t>(r.user_header_size);
    // The payload follows its header in the same frame, so the reader fetches the header
    // line and the first payload line together (adjacent lines).
    const std::uint64_t inline_payload =
        r.pool_buffers == 0 ? round_up(r.slot_size, kCacheLine) : 0;
    g.frame_stride =
        sizeof(FrameHeader) + round_up(r.user_header_size, kCacheLine) + inline_payload;
    g.buffer_stride = r.pool_buffers == 0 ? 0 : round_up(r.slot_size, kPage);
    g.publisher_table_offset = sizeof(TopicHeader);
    g.roster_offset = g.publisher_table_offset + r.max_publishers * sizeof(PublisherEntry);
    g.frames_offset = round_up(g.roster_offset + r.max_readers * sizeof(RosterEntry), kPage);
    const std::uint64_t frames_end = g.frames_offset + r.capacity * g.frame_stride;
    g.pool_table_offset = r.pool_buffers == 0 ? 0 : round_up(frames_end, kPage);
    g.pool_offset =
        r.pool_buffers == 0
            ? 0
            : round_up(g.pool_table_offset + r.pool_buffers * sizeof(BufferHeader), kPage);
    const std::uint64_t end =
        r.pool_buffers == 0 ? frames_end : g.pool_offset + r.pool_buffers * g.buffer_stride;
    g.segment_size = round_up(end, kPage);
    if (g.segment_size > kMaxSegmentSize) return std::nullopt;
    return g;
}

/// Size of a reader segment and of a group segment (one page each).
inline constexpr std::uint64_t kReaderSegmentSize = round_up(sizeof(ReaderRow), kPage);
inline constexpr std::uint64_t kGroupSegmentSize = round_up(sizeof(GroupState), kPage);
inline constexpr std::uint64_t kDomainSegmentSize = kPage;

}  // namespace ipcbus::layout
