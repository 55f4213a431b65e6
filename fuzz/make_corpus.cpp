// Writes the seed corpus of fuzz_segment: small, real topic segments (formatted by
// format_segment, messages published by RingWriter) for topic "fuzz/topic", one file each.
// Random bytes almost never carry the magic and a consistent geometry; these let the fuzzer
// start from valid segments and mutate their fields, stamps, sizes and cursors.
//
//   make_corpus DIR     writes DIR/segment-<n>.bin (the files in fuzz/corpus/fuzz_segment)
//
// The output is deterministic (creator pid, creation time and timestamps are zeroed), so
// regenerating the corpus after a layout change only changes what the layout changed.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "ipcbus/topic.hpp"
#include "ipcbus/type_info.hpp"
#include "ring.hpp"
#include "segment_format.hpp"

namespace {

using namespace ipcbus;
using namespace ipcbus::detail;

/// What happens to one sequence after it is claimed.
enum class Fate { commit, abandon, leave_busy };

struct Step {
    Fate fate;
    std::uint64_t size;  // of a committed message
};

struct Seed {
    std::uint32_t capacity;
    std::uint64_t slot_size;
    std::uint32_t max_readers;
    TypeInfo type;
    std::vector<Step> steps;
    std::uint32_t active_readers;  // reader-table rows claimed (as the daemon does)
};

std::vector<Step> commits(int n, std::uint64_t size) {
    return std::vector<Step>(static_cast<std::size_t>(n), Step{Fate::commit, size});
}

std::vector<Step> concat(std::vector<Step> a, const std::vector<Step>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

bool write_seed(const std::string& path, const Seed& seed) {
    const TopicRequest request{"fuzz/topic", seed.type,
                               TopicOptions{seed.capacity, seed.slot_size, seed.max_readers}};
    auto geometry = plan_segment(request);
    if (!geometry) {
        std::fprintf(stderr, "%s: %s\n", path.c_str(), geometry.error().message.c_str());
        return false;
    }
    // One file: the control segment, then the data segment (fuzz_segment splits it again
    // where the header says the control segment ends).
    const std::size_t size = geometry->control_size + geometry->data_size;
    auto* memory = static_cast<std::byte*>(std::aligned_alloc(layout::kPage, size));
    std::memset(memory, 0, size);
    const SegmentMemory bytes{{memory, geometry->control_size},
                              {memory + geometry->control_size, geometry->data_size}};
    format_segment(bytes, request, *geometry);
    auto view = validate_segment(bytes, request.topic);
    if (!view) {
        std::fprintf(stderr, "%s: %s\n", path.c_str(), view.error().message.c_str());
        std::free(memory);
        return false;
    }
    auto& header = *view->header;
    header.creator_pid = 0;
    header.created_unix_ns = 0;

    for (std::uint32_t r = 0; r < seed.active_readers; ++r) {
        auto& entry = view->readers[r];
        entry.state.store(static_cast<std::uint32_t>(layout::ReaderState::active));
        entry.pid = static_cast<std::int32_t>(100 + r);
    }
    RingWriter writer(*view, header.next_publisher_id.fetch_add(1));
    std::uint64_t timestamp = 1000;
    for (const Step& step : seed.steps) {
        std::uint64_t seq = 0;
        if (writer.claim(seq) != ClaimStatus::claimed) continue;
        switch (step.fate) {
            case Fate::commit: {
                std::byte* payload = view->payload(seq);
                for (std::uint64_t i = 0; i < step.size; ++i) {
                    payload[i] = static_cast<std::byte>((seq * 31 + i) & 0xff);
                }
                writer.commit(seq, step.size, writer.publisher_id(), timestamp++);
                break;
            }
            case Fate::abandon:
                writer.abandon(seq);
                break;
            case Fate::leave_busy:
                break;  // a publisher that died mid-write
        }
    }
    for (std::uint32_t r = 0; r < seed.active_readers; ++r) {
        view->readers[r].cursor.store(header.write_cursor.load() / (r + 1));
    }

    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(memory), static_cast<std::streamsize>(size));
    std::free(memory);
    if (!out) {
        std::fprintf(stderr, "%s: cannot write\n", path.c_str());
        return false;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const TypeInfo u64 = type_info_of<std::uint64_t>();
    const std::vector<Step> mixed = {
        {Fate::commit, 0}, {Fate::commit, 16}, {Fate::abandon, 0}, {Fate::commit, 5}};
    const std::vector<Seed> seeds = {
        // Empty rings, smallest and largest geometry used here.
        {2, 8, 1, raw_bytes_type, {}, 0},
        {8, 128, 4, raw_bytes_type, {}, 1},
        // Written and lapped: three messages in two slots.
        {2, 8, 1, raw_bytes_type, commits(3, 8), 1},
        // Varied sizes (0 and full included), one abandoned loan in between.
        {4, 16, 2, raw_bytes_type, mixed, 2},
        // A publisher that died holding its loan (slot left BUSY) after four messages.
        {4, 32, 1, raw_bytes_type, concat(commits(4, 32), {{Fate::leave_busy, 0}}), 1},
        // Several laps with skips: readers must jump and count.
        {8, 128, 3, raw_bytes_type,
         concat(concat(commits(9, 100), {{Fate::abandon, 0}}), commits(10, 128)), 3},
        // A slot size that is not a multiple of 64 (payload stride 128).
        {2, 100, 2, raw_bytes_type, commits(1, 100), 2},
        // A typed topic: slot size = sizeof(std::uint64_t).
        {8, 8, 4, u64, commits(6, 8), 4},
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
