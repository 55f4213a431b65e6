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

namespace detail {
struct SubscriberImpl;
// Reliable mode and consumer groups: tells the subscriber a sample is done with.
void release_sample(SubscriberImpl* owner, std::uintptr_t token) noexcept;
}  // namespace detail

/// What every message carries besides its payload.
struct SampleInfo {
    std::uint64_t sequence;      // position in the topic's single global order
    std::uint64_t timestamp_ns;  // CLOCK_MONOTONIC when it was published
    std::uint64_t size;          // payload length in bytes
    std::uint32_t publisher_id;  // RawPublisher::id() of the sender
    // The sequence number on the host the message came from, if ipcbus-bridge carried it
    // in from another host; otherwise equal to `sequence`.
    std::uint64_t origin_sequence;
};

/// A message read in place. Move-only; must not outlive its subscriber, and is released
/// (destroyed) by the thread that uses the subscriber.
///
/// In overwrite mode the publisher may reuse the slot while a slow reader still looks at
/// it. overwritten() tells (seqlock check): if it returns false after you read the
/// payload, what you read is the message as published. take_copy() does this for you.
/// In reliable mode the slot is not reused before the sample is destroyed.
class RawSample {
  public:
    RawSample(RawSample&& other) noexcept
        : stamp_word_(std::exchange(other.stamp_word_, nullptr)),
          expected_stamp_(other.expected_stamp_),
          data_(other.data_),
          info_(other.info_),
          owner_(std::exchange(other.owner_, nullptr)),
          token_(other.token_) {}
    RawSample& operator=(RawSample&& other) noexcept {
        if (this != &other) {
            reset();
            stamp_word_ = std::exchange(other.stamp_word_, nullptr);
            expected_stamp_ = other.expected_stamp_;
            data_ = other.data_;
            info_ = other.info_;
            owner_ = std::exchange(other.owner_, nullptr);
            token_ = other.token_;
        }
        return *this;
    }
    RawSample(const RawSample&) = delete;
    RawSample& operator=(const RawSample&) = delete;
    ~RawSample() { reset(); }

    /// Hands the message back now (as the destructor does): in reliable mode its slot may
    /// be reused, in a consumer group it is done. The sample must not be read after this.
    void reset() noexcept {
        if (owner_ != nullptr) detail::release_sample(std::exchange(owner_, nullptr), token_);
    }

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
              const std::byte* data, const SampleInfo& info, detail::SubscriberImpl* owner,
              std::uintptr_t token) noexcept
        : stamp_word_(stamp_word),
          expected_stamp_(expected_stamp),
          data_(data),
          info_(info),
          owner_(owner),
          token_(token) {}

    const std::atomic<std::uint64_t>* stamp_word_;
    std::uint64_t expected_stamp_;
    const std::byte* data_;
    SampleInfo info_;
    detail::SubscriberImpl* owner_;  // null: nothing to release (overwrite mode, plain)
    std::uintptr_t token_;           // what the owner needs to release it
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
    /// See RawSample::reset().
    void reset() noexcept { raw_.reset(); }

  private:
    RawSample raw_;
};

}  // namespace ipcbus
