// A topic in plain heap memory, for unit tests of the format and the ring.
#pragma once

#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>

#include "segment_format.hpp"

namespace ipcbus::test {

class HeapSegment {
  public:
    explicit HeapSegment(std::uint32_t capacity, std::uint64_t slot_size = 64,
                         std::uint32_t max_readers = 8, std::string topic = "unit/topic")
        : topic_(std::move(topic)) {
        request_.topic = topic_;
        request_.type = raw_bytes_type;
        request_.options.capacity = capacity;
        request_.options.slot_size = slot_size;
        request_.options.max_readers = max_readers;
        auto g = detail::plan_segment(request_);
        if (!g) throw std::runtime_error(g.error().message);
        geometry_ = *g;
        control_.reset(allocate(g->control_size));
        data_.reset(allocate(g->data_size));
        detail::format_segment(memory(), request_, geometry_);
    }

    /// Both parts of the topic's memory.
    [[nodiscard]] detail::SegmentMemory memory() const {
        return {{control_.get(), geometry_.control_size}, {data_.get(), geometry_.data_size}};
    }
    [[nodiscard]] detail::SegmentView view() const {
        return detail::validate_segment(memory(), topic_).value();
    }
    [[nodiscard]] const detail::TopicRequest& request() const { return request_; }
    [[nodiscard]] layout::TopicHeader& header() const {
        return *reinterpret_cast<layout::TopicHeader*>(control_.get());
    }

  private:
    struct Free {
        void operator()(std::byte* p) const { std::free(p); }
    };
    static std::byte* allocate(std::uint64_t size) {
        auto* p = static_cast<std::byte*>(std::aligned_alloc(layout::kPage, size));
        std::memset(p, 0, size);
        return p;
    }
    std::string topic_;
    detail::TopicRequest request_{};
    layout::Geometry geometry_{};
    std::unique_ptr<std::byte, Free> control_;
    std::unique_ptr<std::byte, Free> data_;
};

}  // namespace ipcbus::test
