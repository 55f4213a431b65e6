// SPDX-License-Identifier: Apache-2.0
// Writes the seed corpus of fuzz_segment: small, real topics (formatted by format_segment,
// readers and groups set up with the daemon's roster code, messages published by
// RingWriter) for topic "fuzz/topic", one file each: the topic segment, then a reader
// segment and a group segment (the input format of fuzz_segment.cpp). Random bytes almost
// never carry the magic and a consistent geometry; these let the fuzzer start from valid
// segments and mutate their fields, stamps, sizes, cursors, marks and orphans.
//
//   make_corpus DIR     writes DIR/segment-<n>.bin (the files in fuzz/corpus/fuzz_segment)
//
// The output is deterministic (creator pid, creation time and timestamps are zeroed), so
// regenerating the corpus after a layout change only changes what the layout changed.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "heap_segment.hpp"
#include "ring.hpp"

namespace {

using namespace ipcbus;
using namespace ipcbus::detail;
using ipcbus::test::HeapOptions;
using ipcbus::test::HeapSegment;

/// What happens to one sequence.
enum class Fate {
    commit,
    hole,        // a ticket taken, the frame never marked (then skipped by the daemon)
    leave_busy,  // a publisher that died (or stalled) in the middle of writing it
};

struct Step {
    Fate fate;
    std::uint64_t size;  // of a committed message
};

struct Seed {
    HeapOptions options;
    std::vector<Step> steps;
    bool with_group;  // a group and a member, the member holding a message in flight
    bool skip_holes;  // the daemon passed the holes over
};

std::vector<Step> commits(int n, std::uint64_t size) {
    return std::vector<Step>(static_cast<std::size_t>(n), Step{Fate::commit, size});
}

std::vector<Step> concat(std::vector<Step> a, const std::vector<Step>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

void publish(const SegmentView& view, RingWriter& writer, PoolWriter* pool, std::uint64_t size) {
    std::vector<std::byte> payload(size);
    const std::uint64_t next = view.header->write_cursor.load();
    for (std::uint64_t i = 0; i < size; ++i) payload[i] = static_cast<std::byte>((next * 31 + i));
    MessageMeta meta;
    meta.size = size;
    std::optional<BufferLoan> loan;
    if (pool != nullptr) {
        loan = pool->take();
        if (!loan) return;
        std::memcpy(view.buffer(loan->index), payload.data(), size);
        meta.buffer = loan->index;
        meta.buffer_generation = loan->generation;
        payload.clear();
    }
    std::uint64_t sequence = 0;
    const PublishStatus status = writer.publish(payload, meta, sequence);
    if (loan && status == PublishStatus::published) pool->committed(*loan, sequence);
    if (loan && status != PublishStatus::published) pool->give_back(*loan);
}

bool write_seed(const std::string& path, const Seed& seed) {
    HeapSegment topic(seed.options, "fuzz/topic");
    const SegmentView& view = topic.view();
    auto reader = topic.add_reader();
    HeapSegment::Entry group{};
    HeapSegment::Entry member{};
    if (seed.with_group) {
        group = topic.add_group();
        member = topic.add_member(group);
    }
    ReaderSet readers(view);
    topic.offer_all(readers);
    layout::PublisherEntry* entry = topic.add_publisher(1);
    RingWriter writer(view, 1, entry, readers, nullptr);
    std::optional<PoolWriter> pool;
    if (view.pooled()) pool.emplace(view, 1, readers);
    std::vector<std::uint64_t> holes;
    for (const Step& step : seed.steps) {
        switch (step.fate) {
            case Fate::commit:
                publish(view, writer, pool ? &*pool : nullptr, step.size);
                break;
            case Fate::hole:
                holes.push_back(view.header->write_cursor.fetch_add(1));
                break;
            case Fate::leave_busy: {
                const std::uint64_t s = view.header->write_cursor.fetch_add(1);
                view.frame(s).stamp.store(layout::busy_stamp(1, s));
                entry->claiming.store(s);
                break;
            }
        }
    }
    if (seed.skip_holes) {
        for (const std::uint64_t s : holes) (void)skip_hole(view, s);
    }
    // The reader read half of what is there; the member holds the oldest in flight.
    const std::uint64_t cursor = view.header->write_cursor.load();
    reader.row->position.store(cursor / 2);
    reader.row->released.store(cursor / 2);
    if (seed.with_group && cursor > 0) {
        member.row->in_flight[0].store(0);
        group.group->cursor.store(1);
    }
    // Deterministic bytes: no pid, no clock.
    layout::TopicHeader& header = topic.header();
    header.creator_pid = 0;
    header.created_unix_ns = 0;
    for (std::uint64_t s = cursor > view.capacity ? cursor - view.capacity : 0; s < cursor; ++s) {
        view.frame(s).timestamp_ns.store(1000 + s);
    }
    entry->pid = 0;
    entry->last_publish_ns.store(0);
    for (std::uint32_t i = 0; i < view.max_readers; ++i) view.roster[i].pid.store(0);

    std::vector<std::byte> reader_page(layout::kReaderSegmentSize);
    std::vector<std::byte> group_page(layout::kGroupSegmentSize);
    std::memcpy(reader_page.data(), seed.with_group ? member.row : reader.row,
                sizeof(layout::ReaderRow));
    if (seed.with_group) std::memcpy(group_page.data(), group.group, sizeof(layout::GroupState));
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    const auto write = [&](std::span<const std::byte> part) {
        out.write(reinterpret_cast<const char*>(part.data()),
                  static_cast<std::streamsize>(part.size()));
    };
    write(topic.bytes());
    write(reader_page);
    write(group_page);
    if (!out) {
        std::fprintf(stderr, "%s: cannot write\n", path.c_str());
        return false;
    }
    return true;
}

HeapOptions options(std::uint32_t capacity, std::uint64_t slot_size, DeliveryMode mode,
                    bool pooled = false) {
    HeapOptions o;
    o.capacity = capacity;
    o.slot_size = slot_size;
    o.max_readers = 4;
    o.max_publishers = 2;
    o.mode = mode;
    o.history_depth = 1;
    o.pooled = pooled;
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    constexpr auto overwrite = DeliveryMode::overwrite;
    constexpr auto reliable = DeliveryMode::reliable;
    const std::vector<Step> mixed = {
        {Fate::commit, 0}, {Fate::commit, 16}, {Fate::hole, 0}, {Fate::commit, 5}};
    const std::vector<Seed> seeds = {
        // Empty rings, smallest and a larger geometry.
        {options(2, 8, overwrite), {}, false, false},
        {options(8, 128, reliable), {}, true, false},
        // Written and lapped: three messages in two frames.
        {options(2, 8, overwrite), commits(3, 8), false, false},
        // Varied sizes (0 and full included), a hole passed over in between.
        {options(4, 16, overwrite), mixed, true, true},
        // A publisher that died mid-write after four messages (frame left busy).
        {options(4, 32, overwrite), concat(commits(4, 32), {{Fate::leave_busy, 0}}), false, false},
        // Several laps with a hole left open: readers must wait there, or jump and count.
        {options(8, 128, overwrite),
         concat(concat(commits(9, 100), {{Fate::hole, 0}}), commits(10, 128)), true, false},
        // Reliable with a group member holding a message; a slot size not a multiple of 64.
        {options(4, 100, reliable), commits(3, 100), true, false},
        // Pool topics: overwrite (lapped) and reliable.
        {options(4, 200, overwrite, true), commits(7, 200), false, false},
        {options(4, 200, reliable, true), commits(2, 150), true, false},
    };
    const std::string dir = argv[1];
    int written = 0;
    for (std::size_t i = 0; i < seeds.size(); ++i) {
        if (!write_seed(dir + "/segment-" + std::to_string(i + 1) + ".bin", seeds[i])) return 1;
        ++written;
    }
    std::printf("wrote %d segments to %s\n", written, dir.c_str());
    return 0;
}
