// SPDX-License-Identifier: Apache-2.0
#include "segment_format.hpp"

#include <unistd.h>

#include <algorithm>
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

std::string bounded_string(const char (&field)[layout::kNameCapacity]) {
    return std::string(field, strnlen(field, layout::kNameCapacity));
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

constexpr std::uint32_t kMaxPoolLoans = 2;
constexpr std::uint64_t kMaxUnblockTimeoutNs = 3'600'000'000'000ULL;  // an hour
constexpr std::uint64_t kBudget = 64ULL << 20;  // what a topic created without options reserves

// Pool topics: the ring's frames plus spares for loans and held samples.
std::uint64_t pool_buffers_for(std::uint64_t capacity) {
    return capacity + std::max<std::uint64_t>(4, capacity / 4);
}

// Default ring length: 1024 frames, fewer for big payloads so that a topic created without
// options reserves at most about 64 MiB (a 1 MiB frame topic gets 32 buffers, not 1 GiB).
std::uint64_t default_capacity_for(std::uint64_t slot_size, bool pooled) {
    std::uint64_t capacity = default_capacity;
    const std::uint64_t per = pooled ? layout::round_up(slot_size, layout::kPage) : slot_size;
    auto bytes = [&](std::uint64_t c) { return (pooled ? pool_buffers_for(c) : c) * per; };
    while (capacity > 4 && bytes(capacity) > kBudget) capacity /= 2;
    return capacity;
}

}  // namespace

namespace {

// Each parameter against its own limit, naming the limit and the way out (the geometry's
// catch-all below is then only for combinations, such as a segment over the layout's cap).
Result<Ok> check_limits(std::string_view topic, std::uint64_t capacity, std::uint64_t slot_size,
                        std::uint64_t readers, std::uint64_t publishers) {
    if (capacity < 2 || (capacity & (capacity - 1)) != 0) {
        return make_error(ErrorCode::invalid_argument, topic,
                          "capacity " + std::to_string(capacity) +
                              " is not a power of two of 2 or more (e.g. 1024 slots)");
    }
    if (capacity > max_capacity) {
        return make_error(ErrorCode::invalid_argument, topic,
                          "capacity " + std::to_string(capacity) + " is more than the limit of " +
                              std::to_string(max_capacity) +
                              " slots (ipcbus::max_capacity): choose a smaller ring");
    }
    if (slot_size > max_slot_size) {
        return make_error(ErrorCode::invalid_argument, topic,
                          "slot size " + std::to_string(slot_size) +
                              " bytes is more than the limit of " + std::to_string(max_slot_size) +
                              " bytes, 1 GiB (ipcbus::max_slot_size): split larger data into "
                              "several messages");
    }
    if (readers > max_readers_limit) {
        return make_error(ErrorCode::invalid_argument, topic,
                          "max_readers " + std::to_string(readers) + " is more than the limit of " +
                              std::to_string(max_readers_limit) +
                              " readers per topic (ipcbus::max_readers_limit)");
    }
    if (publishers > max_publishers_limit) {
        return make_error(ErrorCode::invalid_argument, topic,
                          "max_publishers " + std::to_string(publishers) +
                              " is more than the limit of " + std::to_string(max_publishers_limit) +
                              " publishers per topic (ipcbus::max_publishers_limit)");
    }
    return Ok{};
}

}  // namespace

Result<TopicPlan> plan_segment(const TopicRequest& request) {
    const TopicOptions& o = request.options;
    const std::uint64_t slot_size = o.slot_size != 0 ? o.slot_size : 4096;
    const std::uint64_t threshold =
        o.pool_threshold != 0 ? o.pool_threshold : default_pool_threshold;
    const bool pooled = slot_size > threshold;
    const std::uint64_t capacity =
        o.capacity != 0 ? o.capacity : default_capacity_for(slot_size, pooled);
    const std::uint64_t readers = o.max_readers != 0 ? o.max_readers : default_max_readers;
    const std::uint64_t publishers =
        o.max_publishers != 0 ? o.max_publishers : default_max_publishers;
    if (request.type.name.size() > max_type_name_length) {
        return make_error(ErrorCode::invalid_name, request.topic, "type name longer than 127");
    }
    const std::uint64_t align = request.type.align;
    if (align == 0 || (align & (align - 1)) != 0) {
        return make_error(ErrorCode::invalid_argument, request.topic,
                          "type alignment " + std::to_string(align) + " is not a power of two");
    }
    if (align > layout::kCacheLine) {
        return make_error(ErrorCode::invalid_argument, request.topic,
                          "type alignment " + std::to_string(align) + " is more than " +
                              std::to_string(layout::kCacheLine) +
                              ", the alignment of every slot (a cache line): align the type "
                              "to 64 bytes or less");
    }
    if (request.type.size != 0 && request.type.size != slot_size) {
        return make_error(ErrorCode::invalid_argument, request.topic,
                          "slot size must equal the type size");
    }
    if (auto ok = check_limits(request.topic, capacity, slot_size, readers, publishers); !ok) {
        return std::move(ok).error();
    }
    auto geometry = layout::compute_geometry(
        {capacity, slot_size, readers, publishers, pooled ? pool_buffers_for(capacity) : 0, 0});
    if (!geometry) {
        return make_error(ErrorCode::invalid_argument, request.topic,
                          "capacity " + std::to_string(capacity) +
                              " (power of two, 2..16777216), slot size " +
                              std::to_string(slot_size) + " (1..1 GiB), max readers " +
                              std::to_string(readers) + " (1..1024) or max publishers " +
                              std::to_string(publishers) + " (1..256) out of range");
    }
    const std::uint64_t history = o.history_depth.value_or(1);
    if (history > capacity / 2) {
        return make_error(ErrorCode::invalid_argument, request.topic,
                          "history depth " + std::to_string(history) +
                              " is more than half the capacity " + std::to_string(capacity));
    }
    const auto timeout_ms = o.unblock_timeout.count() != 0 ? o.unblock_timeout.count()
                                                           : default_unblock_timeout.count();
    if (timeout_ms < 1 ||
        static_cast<std::uint64_t>(timeout_ms) * 1'000'000 > kMaxUnblockTimeoutNs) {
        return make_error(
            ErrorCode::invalid_argument, request.topic,
            "unblock timeout " + std::to_string(timeout_ms) + " ms is out of range (1 ms .. 1 h)");
    }
    return TopicPlan{*geometry, o.mode.value_or(DeliveryMode::overwrite),
                     static_cast<std::uint32_t>(history), kMaxPoolLoans,
                     static_cast<std::uint64_t>(timeout_ms) * 1'000'000};
}

void format_segment(std::span<std::byte> memory, const TopicRequest& request,
                    const TopicPlan& plan) noexcept {
    const Geometry& g = plan.geometry;
    auto* h = ::new (static_cast<void*>(memory.data())) TopicHeader{};
    h->layout_version = layout::kLayoutVersion;
    h->header_size = sizeof(TopicHeader);
    h->segment_size = g.segment_size;
    h->capacity = g.capacity;
    h->max_readers = g.max_readers;
    h->max_publishers = g.max_publishers;
    h->mode = static_cast<std::uint8_t>(plan.mode);
    h->slot_size = g.slot_size;
    h->frame_stride = g.frame_stride;
    h->user_header_size = g.user_header_size;
    h->pool_buffers = g.pool_buffers;
    h->buffer_stride = g.buffer_stride;
    h->history_depth = plan.history_depth;
    h->max_pool_loans = plan.max_pool_loans;
    h->unblock_timeout_ns = plan.unblock_timeout_ns;
    h->publisher_table_offset = g.publisher_table_offset;
    h->roster_offset = g.roster_offset;
    h->frames_offset = g.frames_offset;
    h->pool_table_offset = g.pool_table_offset;
    h->pool_offset = g.pool_offset;
    h->type_size = request.type.size;
    h->type_align = request.type.align;
    h->creator_pid = static_cast<std::int32_t>(::getpid());
    h->schema_hash = request.type.schema_hash;
    h->created_unix_ns = realtime_ns();
    copy_name(h->topic_name, request.topic);
    copy_name(h->type_name, request.type.name);
    h->next_publisher_id.store(1, std::memory_order_relaxed);
    // Every other shared struct is all-zero (free, never written) in zeroed memory;
    // construct them so the atomics' lifetimes begin.
    auto construct = [&](std::uint64_t offset, std::uint64_t count, std::uint64_t size, auto tag) {
        using T = typename decltype(tag)::type;
        for (std::uint64_t i = 0; i < count; ++i) {
            ::new (static_cast<void*>(memory.data() + offset + i * size)) T{};
        }
    };
    construct(g.publisher_table_offset, g.max_publishers, sizeof(layout::PublisherEntry),
              std::type_identity<layout::PublisherEntry>{});
    construct(g.roster_offset, g.max_readers, sizeof(layout::RosterEntry),
              std::type_identity<layout::RosterEntry>{});
    construct(g.frames_offset, g.capacity, g.frame_stride,
              std::type_identity<layout::FrameHeader>{});
    if (g.pool_buffers != 0) {
        construct(g.pool_table_offset, g.pool_buffers, sizeof(layout::BufferHeader),
                  std::type_identity<layout::BufferHeader>{});
    }
    // Release: pairs with the acquire load of magic in validate_segment, so an opener that
    // sees the magic also sees every header field written above.
    h->magic.store(layout::kTopicMagic, std::memory_order_release);
}

namespace {

// The identity checks of validate_segment, up to and including the geometry.
Result<Geometry> validate_geometry(std::span<std::byte> memory, std::string_view topic) {
    if (memory.size() < 16) {
        return make_error(ErrorCode::corrupt_segment, topic,
                          "segment truncated: " + std::to_string(memory.size()) +
                              " bytes, smaller than its header");
    }
    const auto* h = reinterpret_cast<const TopicHeader*>(memory.data());
    // Acquire: pairs with the creator's release store of magic (see format_segment).
    if (h->magic.load(std::memory_order_acquire) != layout::kTopicMagic) {
        return make_error(ErrorCode::not_a_segment, topic,
                          "shared-memory object is not an ipcbus topic segment (bad magic)");
    }
    // Relaxed copies from here on: the acquire above ordered them.
    if (h->layout_version != layout::kLayoutVersion) {
        return make_error(ErrorCode::version_mismatch, topic,
                          "segment has layout version " + std::to_string(h->layout_version) +
                              ", this library speaks " + std::to_string(layout::kLayoutVersion) +
                              " (every process of a domain must use the same ipcbus release)");
    }
    if (memory.size() < sizeof(TopicHeader) || h->header_size != sizeof(TopicHeader)) {
        return make_error(ErrorCode::corrupt_segment, topic,
                          "segment truncated: " + std::to_string(memory.size()) +
                              " bytes, smaller than its header");
    }
    const auto expected =
        layout::compute_geometry({h->capacity, h->slot_size, h->max_readers, h->max_publishers,
                                  h->pool_buffers, h->user_header_size});
    const Geometry found{h->capacity,         h->max_readers,   h->max_publishers,
                         h->pool_buffers,     h->slot_size,     h->frame_stride,
                         h->user_header_size, h->buffer_stride, h->publisher_table_offset,
                         h->roster_offset,    h->frames_offset, h->pool_table_offset,
                         h->pool_offset,      h->segment_size};
    if (!expected || !(*expected == found)) {
        return make_error(ErrorCode::corrupt_segment, topic,
                          "segment header geometry is inconsistent (corrupted)");
    }
    if (memory.size() < found.segment_size) {
        return make_error(ErrorCode::corrupt_segment, topic,
                          "segment truncated: " + std::to_string(memory.size()) +
                              " bytes, header says " + std::to_string(found.segment_size));
    }
    return found;
}

}  // namespace

Result<ValidatedTopic> validate_segment(std::span<std::byte> memory, std::string_view topic) {
    auto geometry = validate_geometry(memory, topic);
    if (!geometry) return std::move(geometry).error();
    const Geometry& g = *geometry;
    auto* h = reinterpret_cast<TopicHeader*>(memory.data());
    const std::uint8_t mode = h->mode;
    if (mode != static_cast<std::uint8_t>(DeliveryMode::overwrite) &&
        mode != static_cast<std::uint8_t>(DeliveryMode::reliable)) {
        return make_error(ErrorCode::corrupt_segment, topic,
                          "segment has unknown delivery mode " + std::to_string(mode));
    }
    const std::uint32_t history = h->history_depth;
    const std::uint32_t pool_loans = h->max_pool_loans;
    const std::uint64_t timeout = h->unblock_timeout_ns;
    if (history > g.capacity / 2 || pool_loans == 0 || pool_loans > 64 || timeout == 0 ||
        timeout > kMaxUnblockTimeoutNs) {
        return make_error(ErrorCode::corrupt_segment, topic,
                          "segment header parameters are out of range (corrupted)");
    }
    ValidatedTopic out;
    out.identity.topic = bounded_string(h->topic_name);
    if (out.identity.topic.size() == layout::kNameCapacity || out.identity.topic != topic) {
        return make_error(ErrorCode::corrupt_segment, topic, "segment belongs to another topic");
    }
    out.identity.type_name = bounded_string(h->type_name);
    out.identity.type_size = h->type_size;
    out.identity.type_align = h->type_align;
    out.identity.schema_hash = h->schema_hash;
    out.identity.creator_pid = h->creator_pid;
    out.identity.created_unix_ns = h->created_unix_ns;
    SegmentView& v = out.view;
    v.header = h;
    v.publishers =
        reinterpret_cast<layout::PublisherEntry*>(memory.data() + g.publisher_table_offset);
    v.roster = reinterpret_cast<layout::RosterEntry*>(memory.data() + g.roster_offset);
    v.frames = memory.data() + g.frames_offset;
    v.mask = g.capacity - 1;
    v.capacity = g.capacity;
    v.slot_size = g.slot_size;
    v.frame_stride = g.frame_stride;
    v.payload_offset = sizeof(layout::FrameHeader) + layout::round_up(g.user_header_size, 64);
    v.max_readers = g.max_readers;
    v.max_publishers = g.max_publishers;
    v.pool_buffers = g.pool_buffers;
    if (g.pool_buffers != 0) {
        v.pool = reinterpret_cast<layout::BufferHeader*>(memory.data() + g.pool_table_offset);
        v.buffers = memory.data() + g.pool_offset;
        v.buffer_stride = g.buffer_stride;
    }
    v.history_depth = history;
    v.max_pool_loans = pool_loans;
    v.unblock_timeout_ns = timeout;
    v.reliable = mode == static_cast<std::uint8_t>(DeliveryMode::reliable);
    return out;
}

Result<Ok> check_compatible(const ValidatedTopic& topic, const TopicRequest& request) {
    const SegmentView& v = topic.view;
    const TypeInfo& want = request.type;
    const TypeInfo have = topic.identity.type();
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
    if (o.capacity != 0 && o.capacity != v.capacity) {
        return mismatch("capacity", o.capacity, v.capacity);
    }
    if (o.slot_size != 0 && o.slot_size != v.slot_size) {
        return mismatch("slot size", o.slot_size, v.slot_size);
    }
    if (o.max_readers != 0 && o.max_readers != v.max_readers) {
        return mismatch("max readers", o.max_readers, v.max_readers);
    }
    if (o.max_publishers != 0 && o.max_publishers != v.max_publishers) {
        return mismatch("max publishers", o.max_publishers, v.max_publishers);
    }
    if (o.history_depth && *o.history_depth != v.history_depth) {
        return mismatch("history depth", *o.history_depth, v.history_depth);
    }
    if (o.mode && *o.mode != v.mode()) {
        return make_error(ErrorCode::parameter_mismatch, request.topic,
                          "delivery mode mismatch: asked for " +
                              std::string(ipcbus::to_string(*o.mode)) + ", topic has " +
                              std::string(ipcbus::to_string(v.mode())));
    }
    return Ok{};
}

void format_reader_segment(std::span<std::byte> memory, std::uint32_t index,
                           std::uint64_t generation, layout::RosterKind kind,
                           std::uint64_t start) noexcept {
    auto* row = ::new (static_cast<void*>(memory.data())) layout::ReaderRow{};
    row->layout_version = layout::kLayoutVersion;
    row->roster_index = index;
    row->generation = generation;
    row->segment_size = memory.size();
    row->kind = static_cast<std::uint32_t>(kind);
    row->position.store(start, std::memory_order_relaxed);
    row->released.store(start, std::memory_order_relaxed);
    for (auto& mark : row->in_flight) mark.store(layout::kNoSequence, std::memory_order_relaxed);
    // Release: whoever sees the magic sees the row initialised.
    row->magic.store(layout::kReaderMagic, std::memory_order_release);
}

Result<layout::ReaderRow*> validate_reader_segment(std::span<std::byte> memory,
                                                   std::string_view topic, std::uint32_t index) {
    if (memory.size() < sizeof(layout::ReaderRow)) {
        return make_error(ErrorCode::corrupt_segment, topic, "reader segment truncated");
    }
    auto* row = reinterpret_cast<layout::ReaderRow*>(memory.data());
    // Acquire: pairs with format_reader_segment's release store.
    if (row->magic.load(std::memory_order_acquire) != layout::kReaderMagic ||
        row->layout_version != layout::kLayoutVersion || row->roster_index != index) {
        return make_error(ErrorCode::corrupt_segment, topic,
                          "the daemon granted a reader segment that is not this reader's");
    }
    return row;
}

void format_group_segment(std::span<std::byte> memory, std::uint32_t index,
                          std::uint64_t generation, std::uint64_t start) noexcept {
    auto* group = ::new (static_cast<void*>(memory.data())) layout::GroupState{};
    group->layout_version = layout::kLayoutVersion;
    group->roster_index = index;
    group->generation = generation;
    group->segment_size = memory.size();
    group->cursor.store(start, std::memory_order_relaxed);
    // Release: whoever sees the magic sees the group initialised.
    group->magic.store(layout::kGroupMagic, std::memory_order_release);
}

Result<layout::GroupState*> validate_group_segment(std::span<std::byte> memory,
                                                   std::string_view topic, std::uint32_t index) {
    if (memory.size() < sizeof(layout::GroupState)) {
        return make_error(ErrorCode::corrupt_segment, topic, "group segment truncated");
    }
    auto* group = reinterpret_cast<layout::GroupState*>(memory.data());
    // Acquire: pairs with format_group_segment's release store.
    if (group->magic.load(std::memory_order_acquire) != layout::kGroupMagic ||
        group->layout_version != layout::kLayoutVersion || group->roster_index != index) {
        return make_error(ErrorCode::corrupt_segment, topic,
                          "the daemon granted a consumer-group segment that is not this group's");
    }
    return group;
}

void format_domain_segment(std::span<std::byte> memory) noexcept {
    auto* clock = ::new (static_cast<void*>(memory.data())) layout::DomainClock{};
    clock->layout_version = layout::kLayoutVersion;
    // Release: whoever sees the magic sees the clock initialised (not yet usable).
    clock->magic.store(layout::kDomainMagic, std::memory_order_release);
}

Result<const layout::DomainClock*> validate_domain_segment(std::span<const std::byte> memory) {
    if (memory.size() < sizeof(layout::DomainClock)) {
        return Error{ErrorCode::corrupt_segment, "domain segment truncated"};
    }
    const auto* clock = reinterpret_cast<const layout::DomainClock*>(memory.data());
    // Acquire: pairs with format_domain_segment's release store.
    if (clock->magic.load(std::memory_order_acquire) != layout::kDomainMagic ||
        clock->layout_version != layout::kLayoutVersion) {
        return Error{ErrorCode::version_mismatch,
                     "the daemon's domain segment is of another layout version (is ipcbusd "
                     "from another ipcbus release?)"};
    }
    return clock;
}

}  // namespace ipcbus::detail
