// A Sample is a received message, read in place in shared memory (zero-copy).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <utility>

#include "ipcbus/type_info.hpp"

namespace ipcbus {

/// What every message carries besides its payload.
struct SampleInfo {
    std::uint64_t sequence;      // position in the topic's single global order
    std::uint64_t timestamp_ns;  // CLOCK_MONOTONIC when it was published
    std::uint64_t size;          // payload length in bytes
    std::uint32_t publisher_id;  // RawPublisher::id() of the sender
};

/// A message read in place. Move-only; must not outlive its subscriber.
///
/// In overwrite mode the publisher may reuse the slot while a slow reader still looks at
/// it. overwritten() tells (seqlock check): if it returns false after you read the
/// payload, what you read is the message as published. take_copy() does this for you.
class RawSample {
  public:
    RawSample(RawSample&& other) noexcept
        : stamp_word_(std::exchange(other.stamp_word_, nullptr)),
          expected_stamp_(other.expected_stamp_),
          data_(other.data_),
          info_(other.info_) {}
    RawSample& operator=(RawSample&& other) noexcept {
        stamp_word_ = std::exchange(other.stamp_word_, nullptr);
        expected_stamp_ = other.expected_stamp_;
        data_ = other.data_;
        info_ = other.info_;
        return *this;
    }
    RawSample(const RawSample&) = delete;
    RawSample& operator=(const RawSample&) = delete;
    ~RawSample() = default;

    [[nodiscard]] std::span<const std::byte> data() const noexcept { return {data_, info_.size}; }
    [[nodiscard]] const SampleInfo& info() const noexcept { return info_; }
    [[nodiscard]] std::uint64_t sequence() const noexcept { return info_.sequence; }

    /// True if a publisher has started to reuse this slot since the sample was taken, so
    /// bytes read before this call may be torn. Call it after reading. Any thread.
    [[nodiscard]] bool overwritten() const noexcept {
        // Acquire fence: orders the payload reads before it ahead of the re-load below
        // (the seqlock reader's second check, pairing with the writer's release fence).
        std::atomic_thread_fence(std::memory_order_acquire);
        return stamp_word_->load(std::memory_order_relaxed) != expected_stamp_;
    }

  private:
    friend class RawSubscriber;
    RawSample(const std::atomic<std::uint64_t>* stamp_word, std::uint64_t expected_stamp,
              const std::byte* data, const SampleInfo& info) noexcept
        : stamp_word_(stamp_word), expected_stamp_(expected_stamp), data_(data), info_(info) {}

    const std::atomic<std::uint64_t>* stamp_word_;
    std::uint64_t expected_stamp_;
    const std::byte* data_;
    SampleInfo info_;
};

/// A message of type T read in place. Move-only; must not outlive its subscriber.
template <Payload T>
class Sample {
  public:
    explicit Sample(RawSample raw) noexcept : raw_(std::move(raw)) {}

    const T& operator*() const noexcept { return *get(); }
    const T* operator->() const noexcept { return get(); }
    const T* get() const noexcept {
        return std::launder(reinterpret_cast<const T*>(raw_.data().data()));
    }
    [[nodiscard]] const SampleInfo& info() const noexcept { return raw_.info(); }
    [[nodiscard]] std::uint64_t sequence() const noexcept { return raw_.sequence(); }
    /// See RawSample::overwritten().
    [[nodiscard]] bool overwritten() const noexcept { return raw_.overwritten(); }

  private:
    RawSample raw_;
};

}  // namespace ipcbus
