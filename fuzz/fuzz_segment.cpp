// libFuzzer target: a topic segment written by someone else. A process maps segments that
// another process formatted (and may still be writing); validate_segment is all that stands
// between it and a damaged or hostile one. Whatever the bytes, validation must never read
// outside the memory it was given, and a reader over a segment that validated must never
// read outside it either: every poll, every field, every payload byte within `size`.
//
// The input is copied into page-aligned memory (as a mapping would be); the bytes after it
// up to the page boundary are poisoned, so AddressSanitizer reports a read one past the end.
// Random bytes rarely carry the magic: corpus/fuzz_segment holds real segments (make_corpus).
#include <sanitizer/asan_interface.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "ipcbus/topic.hpp"
#include "ipcbus/type_info.hpp"
#include "ring.hpp"
#include "segment_format.hpp"

namespace {

using namespace ipcbus;
using namespace ipcbus::detail;

constexpr std::string_view kTopic = "fuzz/topic";
constexpr int kMaxPolls = 64;

void check(bool condition) {
    if (!condition) std::abort();
}

/// Reads every byte of a message, so that ASan sees each one.
std::uint64_t touch(const std::byte* payload, std::uint64_t size) {
    std::uint64_t sum = 0;
    for (std::uint64_t i = 0; i < size; ++i) sum += static_cast<std::uint8_t>(payload[i]);
    return sum;
}

void exercise(const SegmentView& view, const SegmentMemory& memory) {
    // What openers ask for: any type (a tool), raw bytes with and without parameters.
    (void)check_compatible(view, TopicRequest{kTopic, any_type, {}});
    (void)check_compatible(view, TopicRequest{kTopic, raw_bytes_type, TopicOptions{8, 64, 4}});
    (void)check_compatible(view, TopicRequest{kTopic, type_info_of<std::uint64_t>(), {}});

    // The view derives only from checked offsets: everything it points at is inside the
    // segment it belongs to (reader table: control; slots and payloads: data).
    const auto within = [](std::span<std::byte> part, const void* p, std::uint64_t bytes) {
        const auto* b = static_cast<const std::byte*>(p);
        const auto* end = part.data() + part.size();
        return b >= part.data() && b <= end && bytes <= static_cast<std::uint64_t>(end - b);
    };
    const auto inside = [&](const void* p, std::uint64_t bytes) {
        return within(memory.data, p, bytes);
    };
    check(within(memory.control, view.readers, view.max_readers * sizeof(layout::ReaderEntry)));
    check(inside(view.slots, (view.mask + 1) * sizeof(layout::SlotHeader)));
    check(inside(view.payloads, (view.mask + 1) * view.payload_stride));
    check(view.slot_size <= view.payload_stride);

    // A subscriber starting where the daemon would start it (the write cursor), and one
    // starting at the oldest sequence the ring can still hold, which sees every slot.
    const std::uint64_t cursor = view.header->write_cursor.load(std::memory_order_relaxed);
    const std::uint64_t capacity = view.mask + 1;
    for (const std::uint64_t start : {cursor, cursor >= capacity ? cursor - capacity : 0}) {
        RingReader reader(view, start, &view.readers[0]);
        std::uint64_t sum = 0;
        for (int i = 0; i < kMaxPolls; ++i) {
            Polled message{};
            const PollStatus status = reader.poll(message);
            if (status == PollStatus::empty) break;
            if (status == PollStatus::corrupt) continue;
            check(message.size <= view.slot_size);
            check(inside(message.payload, message.size));
            sum += touch(message.payload, message.size);
            (void)RingReader::overwritten(message);
        }
        // Keep the reads from being optimised away.
        asm volatile("" : : "r"(sum) : "memory");
    }

    // A reliable publisher's scan of the reader table, whatever the rows claim to be.
    (void)oldest_needed(view);
    // A consumer-group member: row 0 in the group of the row it names (checked as the
    // subscriber checks it), taking messages, dead members' first.
    const std::uint32_t group = view.readers[0].group.load(std::memory_order_relaxed);
    if (group != 0 && group <= view.max_readers) {
        GroupReader member(view, &view.readers[0], &view.readers[group - 1]);
        for (int i = 0; i < kMaxPolls; ++i) {
            Polled message{};
            std::atomic<std::uint64_t>* in_flight = nullptr;
            const PollStatus status = member.poll(message, in_flight);
            if (status != PollStatus::message) break;
            check(message.size <= view.slot_size);
            check(inside(message.payload, message.size));
            member.release(in_flight);
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::size_t allocated =
        std::max<std::size_t>(layout::round_up(size, layout::kPage), layout::kPage);
    auto* memory = static_cast<std::byte*>(std::aligned_alloc(layout::kPage, allocated));
    if (memory == nullptr) return 0;
    if (size != 0) std::memcpy(memory, data, size);
    ASAN_POISON_MEMORY_REGION(memory + size, allocated - size);

    // The input is the control segment followed by the data segment, split where the
    // header says the control segment ends (wherever that is: the input is hostile).
    std::uint64_t split = size;
    if (size >= offsetof(layout::TopicHeader, control_size) + sizeof(std::uint64_t)) {
        std::memcpy(&split, memory + offsetof(layout::TopicHeader, control_size), sizeof split);
        split = std::min<std::uint64_t>(split, size);
    }
    const SegmentMemory bytes{{memory, split}, {memory + split, size - split}};
    if (auto view = validate_segment(bytes, kTopic)) {
        exercise(*view, bytes);
    } else {
        check(!view.error().message.empty());
    }

    ASAN_UNPOISON_MEMORY_REGION(memory + size, allocated - size);
    std::free(memory);
    return 0;
}
