// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: shared memory written by someone else. A process maps a topic segment
// that the daemon formatted and publishers write, and publishers and the daemon map
// reader and group segments that readers write, any of whom may be buggy or hostile.
// Validation is all that stands between a process and a damaged topic segment, and the
// bounds in the ring are all that stand between a publisher or the daemon and a lying
// reader. Whatever the bytes: nothing reads or writes outside the memory it was given,
// nothing loops for ever, and a delivered message lies within its frame or buffer.
//
// The input is a topic segment (as long as its header's segment_size says, clamped to the
// input), then one page taken as a reader segment and one as a group segment (zeros where
// the input ends). Each part sits in page-aligned memory with the bytes after it up to the
// page boundary poisoned, so AddressSanitizer reports a read one past the end. Random
// bytes rarely carry the magic: corpus/fuzz_segment holds real segments (make_corpus).
#include <sanitizer/asan_interface.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "ipcbus/topic.hpp"
#include "ipcbus/type_info.hpp"
#include "ring.hpp"
#include "roster.hpp"
#include "segment_format.hpp"

namespace {

using namespace ipcbus;
using namespace ipcbus::detail;

constexpr std::string_view kTopic = "fuzz/topic";
constexpr int kMaxPolls = 64;

void check(bool condition) {
    if (!condition) std::abort();
}

/// Page-aligned copy of part of the input, poisoned after its end.
class Region {
  public:
    Region(const std::uint8_t* data, std::size_t size, std::size_t at_least)
        : size_(std::max(size, at_least)),
          allocated_(std::max<std::size_t>(layout::round_up(size_, layout::kPage), layout::kPage)),
          memory_(static_cast<std::byte*>(std::aligned_alloc(layout::kPage, allocated_))) {
        std::memset(memory_, 0, allocated_);
        if (size != 0) std::memcpy(memory_, data, size);
        ASAN_POISON_MEMORY_REGION(memory_ + size_, allocated_ - size_);
    }
    ~Region() {
        ASAN_UNPOISON_MEMORY_REGION(memory_ + size_, allocated_ - size_);
        std::free(memory_);
    }
    Region(const Region&) = delete;
    Region& operator=(const Region&) = delete;
    [[nodiscard]] std::span<std::byte> bytes() const { return {memory_, size_}; }
    [[nodiscard]] bool contains(const void* p, std::uint64_t bytes) const {
        const auto* b = static_cast<const std::byte*>(p);
        return b >= memory_ && b <= memory_ + size_ &&
               bytes <= static_cast<std::uint64_t>(memory_ + size_ - b);
    }

  private:
    std::size_t size_;
    std::size_t allocated_;
    std::byte* memory_;
};

/// Reads every byte of a message, so that ASan sees each one.
std::uint64_t touch(const std::byte* payload, std::uint64_t size) {
    std::uint64_t sum = 0;
    for (std::uint64_t i = 0; i < size; ++i) sum += static_cast<std::uint8_t>(payload[i]);
    return sum;
}

void check_message(const SegmentView& view, const Region& topic, const Polled& m) {
    check(m.size <= view.slot_size);
    check(topic.contains(m.payload, m.size));
    const std::uint64_t sum = touch(m.payload, m.size);
    asm volatile("" : : "r"(sum) : "memory");  // keep the reads
    (void)overwritten(m);
}

// What openers ask for: any type (a tool), raw bytes with and without parameters.
void compare(const ValidatedTopic& topic) {
    (void)check_compatible(topic, TopicRequest{kTopic, any_type, {}});
    TopicOptions options;
    options.capacity = 8;
    options.slot_size = 64;
    options.max_readers = 4;
    (void)check_compatible(topic, TopicRequest{kTopic, raw_bytes_type, options});
    (void)check_compatible(topic, TopicRequest{kTopic, type_info_of<std::uint64_t>(), {}});
}

// The view derives only from checked offsets: everything it points at lies inside.
void check_view(const SegmentView& v, const Region& topic) {
    check(topic.contains(v.header, sizeof(layout::TopicHeader)));
    check(topic.contains(v.publishers, v.max_publishers * sizeof(layout::PublisherEntry)));
    check(topic.contains(v.roster, v.max_readers * sizeof(layout::RosterEntry)));
    check(topic.contains(v.frames, v.capacity * v.frame_stride));
    check(v.payload_offset + (v.pooled() ? 0 : v.slot_size) <= v.frame_stride);
    if (v.pooled()) {
        check(topic.contains(v.pool, v.pool_buffers * sizeof(layout::BufferHeader)));
        check(topic.contains(v.buffers, v.pool_buffers * v.buffer_stride));
        check(v.slot_size <= v.buffer_stride);
    }
}

// Plain readers: one where the daemon would start it (the write cursor), one at the
// oldest sequence the ring can still hold, which sees every frame; the second holds
// samples (reliable mode, pool topics) in the hostile reader page.
void read_plainly(const SegmentView& view, const Region& topic, layout::ReaderRow* row) {
    const std::uint64_t cursor = view.header->write_cursor.load(std::memory_order_relaxed);
    const std::uint64_t oldest = cursor >= view.capacity ? cursor - view.capacity : 0;
    for (const std::uint64_t start : {cursor, oldest}) {
        RingReader reader(view, row, start);
        HeldSet held(view, row, start);
        std::array<std::uint64_t, 4> holding{};
        std::size_t count = 0;
        for (int i = 0; i < kMaxPolls; ++i) {
            Polled message{};
            const PollStatus status = reader.poll(message);
            if (status == PollStatus::empty) break;
            if (status != PollStatus::message) continue;
            check_message(view, topic, message);
            if (count == holding.size()) held.release(holding[--count]);
            held.hold(message.sequence);
            holding[count++] = message.sequence;
        }
        while (count > 0) held.release(holding[--count]);
        held.idle();
        reader.publish_position();
    }
}

// A publisher: its view of the readers (the hostile pages offered for the first roster
// entries, whatever kind the roster says they are), gating, wake-up decisions, the pool
// and one publish into the hostile frames.
void publish_once(const SegmentView& view, layout::ReaderRow* row, layout::GroupState* group) {
    ReaderSet readers(view);
    const std::uint32_t rows = std::min<std::uint32_t>(view.max_readers, 4);
    for (std::uint32_t i = 0; i < rows; ++i) {
        const std::uint64_t generation = view.roster[i].generation.load(std::memory_order_relaxed);
        const bool as_group = view.roster[i].kind.load(std::memory_order_relaxed) ==
                              static_cast<std::uint32_t>(layout::RosterKind::group);
        readers.offer(i, generation, as_group ? static_cast<const void*>(group) : row, nullptr);
    }
    readers.refresh_if_needed();
    const std::uint64_t cursor = view.header->write_cursor.load(std::memory_order_relaxed);
    check(readers.oldest_needed(cursor) <= cursor);
    (void)readers.wake_needed();
    (void)readers.readers();

    const std::uint32_t id = 1 + view.header->next_publisher_id.load(std::memory_order_relaxed) %
                                     layout::kMaxPublisherId;
    RingWriter writer(view, id, &view.publishers[0], readers, nullptr);
    MessageMeta meta;
    std::array<std::byte, 64> payload{};
    std::span<const std::byte> inline_payload;
    std::optional<PoolWriter> pool;
    std::optional<BufferLoan> loan;
    if (view.pooled()) {
        pool.emplace(view, id, readers);
        loan = pool->take();
        if (!loan) return;
        meta.buffer = loan->index;
        meta.buffer_generation = loan->generation;
        meta.size = std::min<std::uint64_t>(view.slot_size, 64);
        std::memcpy(view.buffer(loan->index), payload.data(), meta.size);
    } else {
        meta.size = std::min<std::uint64_t>(view.slot_size, payload.size());
        inline_payload = std::span(payload.data(), meta.size);
    }
    std::uint64_t sequence = 0;
    const PublishStatus status = writer.publish(inline_payload, meta, sequence);
    if (loan) {
        if (status == PublishStatus::published) {
            pool->committed(*loan, sequence);
        } else {
            pool->give_back(*loan);
        }
    }
}

// A consumer-group member: the hostile reader page as its row, the hostile group page as
// its group, taking messages (dead members' first) and releasing them.
void read_as_member(const SegmentView& view, const Region& topic, layout::ReaderRow* row,
                    layout::GroupState* group) {
    GroupReader member(view, row, 0, group);
    for (int i = 0; i < kMaxPolls; ++i) {
        Polled message{};
        std::uint32_t slot = 0;
        const PollStatus status = member.poll(message, slot);
        if (status == PollStatus::empty || status == PollStatus::too_many_held) break;
        if (status != PollStatus::message) continue;
        check_message(view, topic, message);
        member.release(slot);
    }
    member.idle();
}

// The daemon: a dead member's marks into the orphan table, dead and stalled publishers'
// frames, holes, pool loans.
void clean_up(const SegmentView& view, layout::ReaderRow* row, layout::GroupState* group) {
    const layout::ReaderRow* others[] = {row};
    (void)orphan_member_marks(view, 0, *row, *group, others);
    const layout::PublisherEntry& p = view.publishers[0];
    const std::uint64_t claiming = p.claiming.load(std::memory_order_relaxed);
    (void)resolve_stalled_claim(view, p.id, claiming % (view.capacity * 4));
    (void)resolve_dead_publisher(view, p.id, claiming);
    std::vector<std::uint64_t> holes;
    find_holes(view, holes, 8);
    for (const std::uint64_t hole : holes) (void)skip_hole(view, hole);
    (void)reclaim_pool_loans(view, p.id);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // Where the topic segment ends: its header says (the input is hostile: clamped).
    std::uint64_t topic_size = size;
    const std::size_t at = offsetof(layout::TopicHeader, segment_size);
    if (size >= at + sizeof(std::uint64_t)) {
        std::memcpy(&topic_size, data + at, sizeof topic_size);
        topic_size = std::min<std::uint64_t>(topic_size, size);
    }
    const std::size_t rest = size - topic_size;
    const std::size_t reader_bytes = std::min<std::size_t>(rest, layout::kReaderSegmentSize);
    const std::size_t group_bytes =
        std::min<std::size_t>(rest - reader_bytes, layout::kGroupSegmentSize);
    const Region topic(data, topic_size, 0);
    const Region reader(data + topic_size, reader_bytes, layout::kReaderSegmentSize);
    const Region group(data + topic_size + reader_bytes, group_bytes, layout::kGroupSegmentSize);
    auto* row = reinterpret_cast<layout::ReaderRow*>(reader.bytes().data());
    auto* state = reinterpret_cast<layout::GroupState*>(group.bytes().data());

    auto validated = validate_segment(topic.bytes(), kTopic);
    if (!validated) {
        check(!validated.error().message.empty());
        return 0;
    }
    const SegmentView& view = validated->view;
    check_view(view, topic);
    compare(*validated);
    read_plainly(view, topic, row);
    publish_once(view, row, state);
    read_as_member(view, topic, row, state);
    clean_up(view, row, state);
    read_plainly(view, topic, row);  // after the writes above
    return 0;
}
