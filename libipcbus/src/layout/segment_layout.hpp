// The binary layout of a topic segment. Every process that maps a topic agrees on this
// layout; a process built from another version is refused by the layout version check.
//
// >>> Whoever changes any struct, constant or offset in this file: bump kLayoutVersion. <<<
//
//   Each topic has two segments: a control segment, which every process that uses the
//   topic may write (readers publish their positions there), and a data segment, which
//   only publishers may write: subscribers map it read-only, and cannot reopen it
//   writable (its inode is read-only to everyone), so no reader can corrupt a message.
//
//   control segment, offset 0
//   +-------------------------------------------------------------------------+
//   | TopicHeader (512 B)                                                     |
//   |   line 0-5  identity, written once by the creator: magic (stored LAST), |
//   |             layout version, geometry, offsets, type, topic name         |
//   |   line 6    write_cursor: next sequence to claim (publishers only)      |
//   |   line 7    next publisher id, skipped counter, the futex words that    |
//   |             sleeping publishers (reliable mode) and readers wait on     |
//   +-------------------------------------------------------------------------+
//   | ReaderEntry[max_readers]      128 B each, two cache lines per row       |
//   |   a plain reader: state, pid, cursor (next expected sequence), lost,    |
//   |     skipped, released (reliable mode: oldest sequence still in use)     |
//   |   a consumer group: the group's shared cursor (next to hand out)        |
//   |   a group member: its group's row, and in line 1 the sequences it has   |
//   |     claimed and not yet released (in flight), for gating and for        |
//   |     redelivery when it dies                                             |
//   +-------------------------------------------------------------------------+  page
//
//   data segment, offset 0
//   +-------------------------------------------------------------------------+
//   | SlotHeader[capacity]          64 B each, one cache line per slot        |
//   |   stamp (the only truth about the slot), size, publisher, timestamp,    |
//   |   owner (publisher holding it BUSY)                                     |
//   +-------------------------------------------------------------------------+  page aligned
//   | payload[capacity]             payload_stride bytes each                 |
//   |   stride = slot_size rounded up to 64 B (to 4 KiB for slots >= 4 KiB)   |
//   +-------------------------------------------------------------------------+
//
// Publication rule of a slot (a seqlock; the stamp word is the only truth):
//   stamp = sequence + 1 (0 = never written), plus flag bits:
//     BUSY    (bit 63): a publisher is writing the slot for this sequence;
//     SKIPPED (bit 62): the sequence was claimed but abandoned; readers pass over it.
//   A publisher claims a sequence s from write_cursor, then CASes the slot's stamp from
//   an older value to BUSY|(s+1), issues a release fence, writes payload and header
//   fields, and finally stores s+1 with release ordering. A reader that loads s+1 with
//   acquire ordering may read the slot; re-loading the stamp after an acquire fence and
//   finding it unchanged proves the bytes read were not overwritten meanwhile.
//
// Nothing in the segment is a pointer: offsets only, each checked against the segment
// size by validate_segment() before use, because another process may have written them.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>

namespace ipcbus::layout {

inline constexpr std::uint64_t kMagic = 0x3153554243504921ULL;  // "!IPCBUS1" little-endian
inline constexpr std::uint32_t kLayoutVersion = 6;
inline constexpr std::size_t kCacheLine = 64;
inline constexpr std::size_t kPage = 4096;
inline constexpr std::size_t kNameCapacity = 128;  // 127 characters + NUL

inline constexpr std::uint64_t kBusyBit = 1ULL << 63;
inline constexpr std::uint64_t kSkippedBit = 1ULL << 62;
inline constexpr std::uint64_t kStampMask = kSkippedBit - 1;

/// The stamp that marks sequence `seq` committed.
constexpr std::uint64_t stamp_of(std::uint64_t seq) noexcept {
    return seq + 1;
}

struct alignas(kCacheLine) TopicHeader {
    // --- identity: written by the creator before magic, read-only afterwards ----------
    std::atomic<std::uint64_t> magic;  // kMagic, stored last with release ordering
    std::uint32_t layout_version;
    std::uint32_t header_size;   // sizeof(TopicHeader)
    std::uint64_t control_size;  // the control segment (this header and the reader table)
    std::uint32_t capacity;      // slot count, a power of two
    std::uint32_t max_readers;   // entries in the reader table
    std::uint64_t slot_size;     // largest payload
    std::uint64_t payload_stride;
    std::uint64_t reader_table_offset;  // in the control segment
    std::uint64_t slot_table_offset;    // in the data segment
    std::uint64_t payload_offset;       // in the data segment
    std::uint8_t mode;                  // DeliveryMode
    std::uint8_t reserved0[7];
    std::uint64_t type_size;
    std::uint32_t type_align;
    std::int32_t creator_pid;
    std::uint64_t schema_hash;
    std::uint64_t created_unix_ns;
    char topic_name[kNameCapacity];  // NUL-terminated
    char type_name[kNameCapacity];   // NUL-terminated
    std::uint64_t data_size;         // the data segment (slot headers and payloads)
    std::uint8_t reserved1[8];

    // --- publishers' claim ticket, on its own cache line ------------------------------
    alignas(kCacheLine) std::atomic<std::uint64_t> write_cursor;

    // --- bookkeeping, on its own cache line (touched at attach/detach, abandon) --------
    // Reliable mode: publishers sleeping because the ring is full. Read by whoever frees
    // space (a reader releasing, the daemon freeing a dead reader's row) after a seq_cst
    // fence; non-zero means: bump space_futex and wake.
    alignas(kCacheLine) std::atomic<std::uint32_t> publishers_waiting;
    std::atomic<std::uint32_t> next_publisher_id;
    std::atomic<std::uint64_t> skipped_total;    // loans abandoned
    std::atomic<std::uint32_t> space_futex;      // bumped when space frees for waiters
    std::atomic<std::uint32_t> readers_waiting;  // readers asleep on data_futex
    std::atomic<std::uint32_t> data_futex;       // bumped by a publisher waking readers
    // Rows below this index may be in use (the daemon raises it before it activates a
    // row, never lowers it): scans of the reader table stop there.
    std::atomic<std::uint32_t> rows_in_use;
    std::uint8_t reserved2[32];
};

/// What a row of the reader table is.
enum class ReaderState : std::uint32_t {
    free = 0,
    active = 1,    // a reader (plain, or a member of a consumer group)
    group = 2,     // a consumer group: `cursor` is the next sequence it hands out
    orphan = 3,    // a group member that died holding messages: they await redelivery
    claiming = 4,  // being set up by the daemon; ignored until it turns active or group
};

/// An empty in-flight entry of a group member.
inline constexpr std::uint64_t kNoSequence = ~0ULL;
/// A group member claimed from an orphan: still in flight (gating), owned by the thief.
inline constexpr std::uint64_t kStolenBit = 1ULL << 63;
inline constexpr std::size_t kMaxInFlight = 8;

struct alignas(kCacheLine) ReaderEntry {
    std::atomic<std::uint32_t> state;  // ReaderState
    std::int32_t pid;
    std::atomic<std::uint64_t> cursor;   // next sequence this reader (or group) expects
    std::atomic<std::uint64_t> lost;     // messages overrun before it read them
    std::atomic<std::uint64_t> skipped;  // abandoned sequences passed over
    // Reliable mode, plain reader: no sequence at or after this one may be overwritten
    // (the oldest sample still held, or the cursor when none is).
    std::atomic<std::uint64_t> released;
    std::atomic<std::uint32_t> group;    // member: its group's row + 1; 0: none
    std::atomic<std::uint32_t> orphans;  // group row: member rows orphaned and not yet empty
    // Group row: bumped each time a member row becomes an orphan. Unlike `orphans`, which
    // goes back down, it tells a watcher that a new orphan came even if the count is the
    // same as when it last looked (1 -> 0 -> 1).
    std::atomic<std::uint32_t> orphan_events;
    std::uint8_t reserved[12];
    // Group member: sequences claimed and not yet released (kNoSequence: empty).
    alignas(kCacheLine) std::atomic<std::uint64_t> in_flight[kMaxInFlight];
};

struct alignas(kCacheLine) SlotHeader {
    std::atomic<std::uint64_t> stamp;  // see the publication rule above
    std::atomic<std::uint64_t> size;
    std::atomic<std::uint64_t> timestamp_ns;
    std::atomic<std::uint32_t> publisher_id;
    // Publisher id of whoever holds (or last held) the slot BUSY: lets the daemon turn the
    // BUSY slot of a publisher that died mid-write into SKIPPED.
    std::atomic<std::uint32_t> owner;
    // The message's sequence number on the host it came from, for messages that
    // ipcbus-bridge carried in from another host; `sequence` for messages published here.
    std::atomic<std::uint64_t> origin_sequence;
};

// The layout is shared between processes: pin it. A failure here means the layout
// changed: bump kLayoutVersion, and update tests/unit/test_layout.cpp.
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(std::is_standard_layout_v<TopicHeader>);
static_assert(std::is_standard_layout_v<ReaderEntry>);
static_assert(std::is_standard_layout_v<SlotHeader>);
static_assert(sizeof(TopicHeader) == 512 && alignof(TopicHeader) == 64);
static_assert(offsetof(TopicHeader, magic) == 0);
static_assert(offsetof(TopicHeader, layout_version) == 8);
static_assert(offsetof(TopicHeader, control_size) == 16);
static_assert(offsetof(TopicHeader, data_size) == 368);
static_assert(offsetof(TopicHeader, capacity) == 24);
static_assert(offsetof(TopicHeader, slot_size) == 32);
static_assert(offsetof(TopicHeader, reader_table_offset) == 48);
static_assert(offsetof(TopicHeader, slot_table_offset) == 56);
static_assert(offsetof(TopicHeader, payload_offset) == 64);
static_assert(offsetof(TopicHeader, mode) == 72);
static_assert(offsetof(TopicHeader, type_size) == 80);
static_assert(offsetof(TopicHeader, schema_hash) == 96);
static_assert(offsetof(TopicHeader, topic_name) == 112);
static_assert(offsetof(TopicHeader, type_name) == 240);
static_assert(offsetof(TopicHeader, write_cursor) == 384);
static_assert(offsetof(TopicHeader, publishers_waiting) == 448);
static_assert(offsetof(TopicHeader, next_publisher_id) == 452);
static_assert(offsetof(TopicHeader, skipped_total) == 456);
static_assert(offsetof(TopicHeader, space_futex) == 464);
static_assert(offsetof(TopicHeader, readers_waiting) == 468);
static_assert(offsetof(TopicHeader, data_futex) == 472);
static_assert(offsetof(TopicHeader, rows_in_use) == 476);
static_assert(sizeof(ReaderEntry) == 128 && alignof(ReaderEntry) == 64);
static_assert(offsetof(ReaderEntry, cursor) == 8);
static_assert(offsetof(ReaderEntry, lost) == 16);
static_assert(offsetof(ReaderEntry, skipped) == 24);
static_assert(offsetof(ReaderEntry, released) == 32);
static_assert(offsetof(ReaderEntry, group) == 40);
static_assert(offsetof(ReaderEntry, orphans) == 44);
static_assert(offsetof(ReaderEntry, orphan_events) == 48);
static_assert(offsetof(ReaderEntry, in_flight) == 64);
static_assert(sizeof(SlotHeader) == 64 && alignof(SlotHeader) == 64);
static_assert(offsetof(SlotHeader, stamp) == 0);
static_assert(offsetof(SlotHeader, size) == 8);
static_assert(offsetof(SlotHeader, timestamp_ns) == 16);
static_assert(offsetof(SlotHeader, publisher_id) == 24);
static_assert(offsetof(SlotHeader, owner) == 28);
static_assert(offsetof(SlotHeader, origin_sequence) == 32);

/// Where everything lies in a segment of the given parameters.
struct Geometry {
    std::uint32_t capacity;
    std::uint32_t max_readers;
    std::uint64_t slot_size;
    std::uint64_t payload_stride;
    std::uint64_t reader_table_offset;  // control segment
    std::uint64_t control_size;
    std::uint64_t slot_table_offset;  // data segment
    std::uint64_t payload_offset;
    std::uint64_t data_size;

    friend bool operator==(const Geometry&, const Geometry&) = default;
};

constexpr std::uint64_t round_up(std::uint64_t value, std::uint64_t to) noexcept {
    return (value + to - 1) / to * to;
}

/// The one way to compute a segment's geometry. nullopt when the parameters are out of
/// range (capacity not a power of two, sizes over the limits), so nothing can overflow.
constexpr std::optional<Geometry> compute_geometry(std::uint64_t capacity, std::uint64_t slot_size,
                                                   std::uint64_t max_readers) noexcept {
    const bool power_of_two = capacity >= 2 && (capacity & (capacity - 1)) == 0;
    if (!power_of_two || capacity > (1ULL << 24)) return std::nullopt;
    if (slot_size == 0 || slot_size > (1ULL << 30)) return std::nullopt;
    if (max_readers == 0 || max_readers > 1024) return std::nullopt;
    Geometry g{};
    g.capacity = static_cast<std::uint32_t>(capacity);
    g.max_readers = static_cast<std::uint32_t>(max_readers);
    g.slot_size = slot_size;
    // Large payloads start on a page, so huge frames map and fault page by page.
    g.payload_stride = round_up(slot_size, slot_size >= kPage ? kPage : kCacheLine);
    g.reader_table_offset = sizeof(TopicHeader);
    g.control_size = round_up(g.reader_table_offset + max_readers * sizeof(ReaderEntry), kPage);
    g.slot_table_offset = 0;
    g.payload_offset = round_up(capacity * sizeof(SlotHeader), kPage);
    g.data_size = round_up(g.payload_offset + capacity * g.payload_stride, kPage);
    if (g.data_size > (1ULL << 40)) return std::nullopt;  // 1 TiB: surely a mistake
    return g;
}

}  // namespace ipcbus::layout
