// SPDX-License-Identifier: Apache-2.0
// A topic in plain heap memory, for unit tests of the format and the ring: the topic
// segment, and reader and group segments set up with the daemon's own roster code
// (src/roster.hpp), so tests run what the daemon runs.
#pragma once

#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "ring.hpp"
#include "roster.hpp"
#include "segment_format.hpp"

namespace ipcbus::test {

struct HeapOptions {
    std::uint32_t capacity = 8;
    std::uint64_t slot_size = 64;
    std::uint32_t max_readers = 8;
    DeliveryMode mode = DeliveryMode::overwrite;
    std::uint32_t history_depth = 1;
    bool pooled = false;
    std::uint32_t max_publishers = 4;
};

class HeapSegment {
  public:
    explicit HeapSegment(std::uint32_t capacity, std::uint64_t slot_size = 64,
                         std::uint32_t max_readers = 8, std::string topic = "unit/topic")
        : HeapSegment(HeapOptions{capacity, slot_size, max_readers}, std::move(topic)) {}

    HeapSegment(const HeapOptions& o, std::string topic) : topic_(std::move(topic)) {
        request_.topic = topic_;
        request_.type = raw_bytes_type;
        request_.options.capacity = o.capacity;
        request_.options.slot_size = o.slot_size;
        request_.options.max_readers = o.max_readers;
        request_.options.max_publishers = o.max_publishers;
        request_.options.mode = o.mode;
        request_.options.history_depth = o.history_depth;
        if (o.pooled) request_.options.pool_threshold = 1;  // every payload in the pool
        auto plan = detail::plan_segment(request_);
        if (!plan) throw std::runtime_error(plan.error().message);
        plan_ = *plan;
        memory_ = allocate(plan_.geometry.segment_size);
        detail::format_segment(bytes(), request_, plan_);
        auto validated = detail::validate_segment(bytes(), topic_);
        if (!validated) throw std::runtime_error(validated.error().message);
        view_ = validated->view;
    }

    [[nodiscard]] std::span<std::byte> bytes() const {
        return {memory_.get(), plan_.geometry.segment_size};
    }
    [[nodiscard]] const detail::SegmentView& view() const { return view_; }
    [[nodiscard]] const detail::TopicRequest& request() const { return request_; }
    [[nodiscard]] const detail::TopicPlan& plan() const { return plan_; }
    [[nodiscard]] layout::TopicHeader& header() const {
        return *reinterpret_cast<layout::TopicHeader*>(memory_.get());
    }

    /// A reader, member or group as the daemon sets one up: claimed, its own segment,
    /// activated `history` back.
    struct Entry {
        std::uint32_t index = 0;
        layout::ReaderRow* row = nullptr;     // readers and members
        layout::GroupState* group = nullptr;  // groups
        std::uint64_t start = 0;
        [[nodiscard]] const void* base() const {
            return row != nullptr ? static_cast<const void*>(row) : static_cast<const void*>(group);
        }
    };
    Entry add_reader(std::uint32_t history = 0) {
        return add(layout::RosterKind::plain, 0, nullptr, history);
    }
    Entry add_group(std::uint32_t history = 0) {
        return add(layout::RosterKind::group, 0, nullptr, history);
    }
    Entry add_member(const Entry& group) {
        return add(layout::RosterKind::member, group.index + 1, group.group, 0);
    }
    void remove(const Entry& e) {
        detail::release_roster_entry(
            view_, e.index, e.row != nullptr ? &e.row->space_futex : &e.group->space_futex);
    }
    /// What the daemon sends a publisher: every segment, as its ReaderSet gets them.
    void offer_all(detail::ReaderSet& set) const {
        for (const Entry& e : entries_) {
            set.offer(e.index, view_.roster[e.index].generation.load(), e.base(), nullptr);
        }
    }
    /// A publisher-table entry of publisher `id`.
    layout::PublisherEntry* add_publisher(std::uint32_t id) {
        auto entry = detail::claim_publisher_entry(view_, 1, id);
        if (!entry) throw std::runtime_error("publisher table full");
        return &view_.publishers[*entry];
    }

  private:
    struct Free {
        void operator()(std::byte* p) const { std::free(p); }
    };
    static std::unique_ptr<std::byte, Free> allocate(std::uint64_t size) {
        auto* p = static_cast<std::byte*>(
            std::aligned_alloc(layout::kPage, layout::round_up(size, layout::kPage)));
        std::memset(p, 0, size);
        return std::unique_ptr<std::byte, Free>(p);
    }
    Entry add(layout::RosterKind kind, std::uint32_t group, const layout::GroupState* member_of,
              std::uint32_t history) {
        auto index = detail::claim_roster_entry(view_, 1, kind, group);
        if (!index) throw std::runtime_error("roster full");
        const bool is_group = kind == layout::RosterKind::group;
        const std::uint64_t size =
            is_group ? layout::kGroupSegmentSize : layout::kReaderSegmentSize;
        segments_.push_back(allocate(size));
        std::span<std::byte> memory{segments_.back().get(), size};
        const std::uint64_t generation = view_.roster[*index].generation.load();
        Entry e;
        e.index = *index;
        if (is_group) {
            detail::format_group_segment(memory, *index, generation, 0);
            e.group = reinterpret_cast<layout::GroupState*>(memory.data());
        } else {
            detail::format_reader_segment(memory, *index, generation, kind, 0);
            e.row = reinterpret_cast<layout::ReaderRow*>(memory.data());
        }
        e.start = detail::activate_roster_entry(view_, *index, e.row, e.group, member_of, history);
        entries_.push_back(e);
        return e;
    }

    std::string topic_;
    detail::TopicRequest request_{};
    detail::TopicPlan plan_{};
    std::unique_ptr<std::byte, Free> memory_;
    detail::SegmentView view_{};
    std::vector<std::unique_ptr<std::byte, Free>> segments_;
    std::vector<Entry> entries_;
};

}  // namespace ipcbus::test
