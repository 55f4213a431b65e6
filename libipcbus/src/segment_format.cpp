#include "segment_format.hpp"

#include <unistd.h>

#include <cstring>
#include <new>
#include <string>

#include "clock.hpp"

namespace ipcbus::detail {
namespace {

using layout::Geometry;
using layout::TopicHeader;

Error make_error(ErrorCode code, std::string_view topic, const std::string& cause) {
    return Error{code, "topic '" + std::string(topic) + "': " + cause};
}

std::string_view bounded_string(const char (&field)[layout::kNameCapacity]) noexcept {
    return {field, strnlen(field, layout::kNameCapacity)};
}

void copy_name(char (&field)[layout::kNameCapacity], std::string_view name) noexcept {
    const std::size_t n = std::min(name.size(), layout::kNameCapacity - 1);
    std::memcpy(field, name.data(), n);
    field[n] = '\0';
}

std::string describe(const TypeInfo& t) {
    // Built piecewise: gcc 12 at -O3 reports a false -Wrestrict on chained operator+.
    std::string text = "'";
    text += t.name;
    text += "' (size ";
    text += std::to_string(t.size);
    text += ", align ";
    text += std::to_string(t.align);
    text += ", schema ";
    text += std::to_string(t.schema_hash);
    text += ")";
    return text;
}

// Default ring length: 1024 slots, fewer for big slots so that a topic created without
// options reserves at most about 64 MiB (a 1 MiB frame topic gets 64 slots, not 1 GiB).
std::uint64_t default_capacity_for(std::uint64_t slot_size) {
    constexpr std::uint64_t kBudget = 64ULL << 20;
    std::uint64_t capacity = default_capacity;
    while (capacity > 4 && capacity * slot_size > kBudget) capacity /= 2;
    return capacity;
}

}  // namespace

Result<Geometry> plan_segment(const TopicRequest& request) {
    const TopicOptions& o = request.options;
    const std::uint64_t slot_size = o.slot_size != 0 ? o.slot_size : 4096;
    const std::uint64_t capacity = o.capacity != 0 ? o.capacity : default_capacity_for(slot_size);
    const std::uint64_t readers = o.max_readers != 0 ? o.max_readers : default_max_readers;
    if (request.type.name.size() > max_type_name_length) {
        return make_error(ErrorCode::invalid_name, request.topic, "type name longer than 127");
    }
    if (request.type.align > layout::kCacheLine || request.type.align == 0 ||
        (request.type.align & (request.type.align - 1)) != 0) {
        return make_error(ErrorCode::invalid_argument, request.topic,
                          "type alignment " + std::to_string(request.type.align) +
                              " is not a power of two up to 64");
    }
    if (request.type.size != 0 && request.type.size != slot_size) {
        return make_error(ErrorCode::invalid_argument, request.topic,
                          "slot size must equal the type size");
    }
    auto geometry = layout::compute_geometry(capacity, slot_size, readers);
    if (!geometry) {
        return make_error(ErrorCode::invalid_argument, request.topic,
                          "capacity " + std::to_string(capacity) +
                              " (power of two, 2..16777216), slot size " +
                              std::to_string(slot_size) + " (1..1 GiB) or max readers " +
                              std::to_string(readers) + " (1..1024) out of range");
    }
    return *geometry;
}

void format_segment(const SegmentMemory& memory, const TopicRequest& request,
                    const Geometry& g) noexcept {
    auto* h = ::new (static_cast<void*>(memory.control.data())) TopicHeader{};
    h->layout_version = layout::kLayoutVersion;
    h->header_size = sizeof(TopicHeader);
    h->control_size = g.control_size;
    h->data_size = g.data_size;
    h->capacity = g.capacity;
    h->max_readers = g.max_readers;
    h->slot_size = g.slot_size;
    h->payload_stride = g.payload_stride;
    h->reader_table_offset = g.reader_table_offset;
    h->slot_table_offset = g.slot_table_offset;
    h->payload_offset = g.payload_offset;
    h->mode = static_cast<std::uint8_t>(request.options.mode.value_or(DeliveryMode::overwrite));
    h->type_size = request.type.size;
    h->type_align = request.type.align;
    h->creator_pid = static_cast<std::int32_t>(::getpid());
    h->schema_hash = request.type.schema_hash;
    h->created_unix_ns = realtime_ns();
    copy_name(h->topic_name, request.topic);
    copy_name(h->type_name, request.type.name);
    h->write_cursor.store(0, std::memory_order_relaxed);
    h->next_publisher_id.store(1, std::memory_order_relaxed);
    // Reader entries and slot headers are all-zero (free, never written) in zeroed memory;
    // construct them so the atomics' lifetimes begin.
    for (std::uint32_t i = 0; i < g.max_readers; ++i) {
        ::new (static_cast<void*>(memory.control.data() + g.reader_table_offset +
                                  i * sizeof(layout::ReaderEntry))) layout::ReaderEntry{};
    }
    for (std::uint32_t i = 0; i < g.capacity; ++i) {
        ::new (static_cast<void*>(memory.data.data() + g.slot_table_offset +
                                  i * sizeof(layout::SlotHeader))) layout::SlotHeader{};
    }
    // Release: pairs with the acquire load of magic in validate_segment, so an opener that
    // sees the magic also sees every header field written above.
    h->magic.store(layout::kMagic, std::memory_order_release);
}

Result<SegmentView> validate_segment(const SegmentMemory& memory, std::string_view topic) {
    {
        if (memory.control.size() < sizeof(TopicHeader)) {
            return make_error(ErrorCode::corrupt_segment, topic,
                              "segment truncated: " + std::to_string(memory.control.size()) +
                                  " bytes, smaller than its header");
        }
        auto* h = reinterpret_cast<TopicHeader*>(memory.control.data());
        // Acquire: pairs with the creator's release store of magic (see format_segment).
        const std::uint64_t magic = h->magic.load(std::memory_order_acquire);
        if (magic != layout::kMagic) {
            return make_error(ErrorCode::not_a_segment, topic,
                              "shared-memory object is not an ipcbus segment (bad magic)");
        }
        if (h->layout_version != layout::kLayoutVersion || h->header_size != sizeof(TopicHeader)) {
            return make_error(ErrorCode::version_mismatch, topic,
                              "segment has layout version " + std::to_string(h->layout_version) +
                                  ", this library speaks " +
                                  std::to_string(layout::kLayoutVersion));
        }
        const auto expected = layout::compute_geometry(h->capacity, h->slot_size, h->max_readers);
        const Geometry found{h->capacity,          h->max_readers,         h->slot_size,
                             h->payload_stride,    h->reader_table_offset, h->control_size,
                             h->slot_table_offset, h->payload_offset,      h->data_size};
        if (!expected || !(*expected == found)) {
            return make_error(ErrorCode::corrupt_segment, topic,
                              "segment header geometry is inconsistent (corrupted)");
        }
        if (memory.control.size() < found.control_size || memory.data.size() < found.data_size) {
            return make_error(ErrorCode::corrupt_segment, topic,
                              "segment truncated: " + std::to_string(memory.control.size()) +
                                  " + " + std::to_string(memory.data.size()) +
                                  " bytes, header says " + std::to_string(found.control_size) +
                                  " + " + std::to_string(found.data_size));
        }
        if (h->mode != static_cast<std::uint8_t>(DeliveryMode::overwrite) &&
            h->mode != static_cast<std::uint8_t>(DeliveryMode::reliable)) {
            return make_error(ErrorCode::corrupt_segment, topic,
                              "segment has unknown delivery mode " + std::to_string(h->mode));
        }
        const std::string_view stored = bounded_string(h->topic_name);
        if (stored.size() == layout::kNameCapacity || stored != topic) {
            return make_error(ErrorCode::corrupt_segment, topic,
                              "segment belongs to another topic");
        }
        SegmentView v;
        v.header = h;
        v.readers = reinterpret_cast<layout::ReaderEntry*>(memory.control.data() +
                                                           found.reader_table_offset);
        v.slots =
            reinterpret_cast<layout::SlotHeader*>(memory.data.data() + found.slot_table_offset);
        v.payloads = memory.data.data() + found.payload_offset;
        v.mask = found.capacity - 1;
        v.payload_stride = found.payload_stride;
        v.slot_size = found.slot_size;
        v.max_readers = found.max_readers;
        v.reliable = h->mode == static_cast<std::uint8_t>(DeliveryMode::reliable);
        return v;
    }
}

Result<Ok> check_compatible(const SegmentView& view, const TopicRequest& request) {
    const TopicHeader& h = *view.header;
    const TypeInfo& want = request.type;
    const TypeInfo have{bounded_string(h.type_name), h.type_size, h.type_align, h.schema_hash};
    const bool any = want.name.empty();
    if (!any && (want.name != have.name || want.size != have.size || want.align != have.align ||
                 want.schema_hash != have.schema_hash)) {
        return make_error(
            ErrorCode::type_mismatch, request.topic,
            "type mismatch: topic carries " + describe(have) + ", opened as " + describe(want));
    }
    const TopicOptions& o = request.options;
    auto mismatch = [&](const char* what, std::uint64_t asked, std::uint64_t has) {
        return make_error(ErrorCode::parameter_mismatch, request.topic,
                          std::string(what) + " mismatch: asked for " + std::to_string(asked) +
                              ", topic has " + std::to_string(has));
    };
    if (o.capacity != 0 && o.capacity != h.capacity) {
        return mismatch("capacity", o.capacity, h.capacity);
    }
    if (o.slot_size != 0 && o.slot_size != h.slot_size) {
        return mismatch("slot size", o.slot_size, h.slot_size);
    }
    if (o.max_readers != 0 && o.max_readers != h.max_readers) {
        return mismatch("max readers", o.max_readers, h.max_readers);
    }
    if (o.mode && static_cast<std::uint8_t>(*o.mode) != h.mode) {
        return make_error(ErrorCode::parameter_mismatch, request.topic,
                          "delivery mode mismatch: asked for " +
                              std::string(ipcbus::to_string(*o.mode)) + ", topic has " +
                              std::string(ipcbus::to_string(static_cast<DeliveryMode>(h.mode))));
    }
    return Ok{};
}

}  // namespace ipcbus::detail
