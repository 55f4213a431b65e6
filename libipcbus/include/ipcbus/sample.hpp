// SPDX-License-Identifier: Apache-2.0
// A Sample is a received message, read in place in shared memory (zero-copy).
//
// Reliable mode: nothing rewrites a sample's bytes until it is released, so data() and
// Sample<T>'s operator* are plain references.
// Overwrite mode: a publisher may reuse the memory while a slow reader still looks at it.
// Read such a sample with copy_to() or load<T>(), which copy with atomic loads (the
// compiler cannot turn a racing read into garbage it then trusts) and then check that the
// copy is the message as published. data() stays available for code that checks
// overwritten() after reading (the classic seqlock pattern, which C++ formally calls a
// data race); take_copy() on the subscriber does all of this in one call.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <optional>
#include <span>
#include <utility>

#include "ipcbus/type_info.hpp"

namespace ipcbus {

namespace detail {
struct SubscriberImpl;
// Reliable mode and consumer groups: tells the subscriber a sample is done with.
void release_sample(SubscriberImpl* owner, std::uintptr_t token) noexcept;
// Copies `n` bytes out of memory another process may be rewriting: relaxed atomic word
// loads for small copies, an opaque memcpy for large ones (the caller validates after).
void copy_shared(std::byte* dst, const std::byte* src, std::size_t n) noexcept;
}  // namespace detail

/// What every message carries besides its payload.
struct SampleInfo {
    std::uint64_t sequence;      // position in the topic's single global order
    std::uint64_t timestamp_ns;  // when it was published: CLOCK_MONOTONIC nanoseconds
                                 // (Node::now() reads the same clock)
    std::uint64_t size;          // payload length in bytes
    std::uint32_t publisher_id;  // RawPublisher::id() of the sender
    // The sequence number on the host the message came from, if ipcbus-bridge carried it
    // in from another host; otherwise equal to `sequence`.
    std::uint64_t origin_sequence;
};

/// A message read in place. Move-only; must not outlive its subscriber, and is released
/// (destroyed) by the thread that uses the subscriber.
class RawSample {
  public:
    RawSample(RawSample&& other) noexcept
        : stamp_word_(std::exchange(other.stamp_word_, nullptr)),
          expected_stamp_(other.expected_stamp_),
          buffer_state_(other.buffer_state_),
          expected_generation_(other.expected_generation_),
          data_(other.data_),
          info_(other.info_),
          owner_(std::exchange(other.owner_, nullptr)),
          token_(other.token_) {}
    RawSample& operator=(RawSample&& other) noexcept {
        if (this != &other) {
            reset();
            stamp_word_ = std::exchange(other.stamp_word_, nullptr);
            expected_stamp_ = other.expected_stamp_;
            buffer_state_ = other.buffer_state_;
            expected_generation_ = other.expected_generation_;
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

    /// Hands the message back now (as the destructor does): in reliable mode its frame may
    /// be reused, in a consumer group it is done. The sample must not be read after this.
    void reset() noexcept {
        if (owner_ != nullptr) detail::release_sample(std::exchange(owner_, nullptr), token_);
    }

    /// The payload in place. Reliable mode: plain bytes. Overwrite mode: see the top of
    /// this header (prefer copy_to() or load()).
    [[nodiscard]] std::span<const std::byte> data() const noexcept { return {data_, info_.size}; }
    [[nodiscard]] const SampleInfo& info() const noexcept { return info_; }
    [[nodiscard]] std::uint64_t sequence() const noexcept { return info_.sequence; }

    /// True if a publisher has started to reuse this message's memory since the sample
    /// was taken, so bytes read before this call may be torn. Call it after reading.
    /// Any thread.
    [[nodiscard]] bool overwritten() const noexcept {
        // Acquire fence: orders the payload reads before it ahead of the re-load below
        // (the seqlock reader's second check, pairing with the writer's release fence).
        std::atomic_thread_fence(std::memory_order_acquire);
        if (buffer_state_ != nullptr) {
            return (buffer_state_->load(std::memory_order_relaxed) >> 32) != expected_generation_;
        }
        return stamp_word_->load(std::memory_order_relaxed) != expected_stamp_;
    }

    /// Copies the payload (at most out.size() bytes) safely; true if the copy is the
    /// message as published, false if it was overwritten meanwhile. Any thread.
    [[nodiscard]] bool copy_to(std::span<std::byte> out) const noexcept {
        const std::size_t n = out.size() < info_.size ? out.size() : info_.size;
        detail::copy_shared(out.data(), data_, n);
        return !overwritten();
    }

    /// A T read safely from the payload at `offset`: std::nullopt if the payload is too
    /// short or was overwritten while being read. Any thread.
    template <Payload T>
    [[nodiscard]] std::optional<T> load(std::size_t offset = 0) const noexcept {
        if (offset > info_.size || info_.size - offset < sizeof(T)) return std::nullopt;
        alignas(T) std::byte bytes[sizeof(T)];
        detail::copy_shared(bytes, data_ + offset, sizeof(T));
        if (overwritten()) return std::nullopt;
        T value;
        std::memcpy(&value, bytes, sizeof(T));
        return value;
    }

  private:
    friend class RawSubscriber;
    RawSample(const std::atomic<std::uint64_t>* stamp_word, std::uint64_t expected_stamp,
              const std::atomic<std::uint64_t>* buffer_state, std::uint64_t expected_generation,
              const std::byte* data, const SampleInfo& info, detail::SubscriberImpl* owner,
              std::uintptr_t token) noexcept
        : stamp_word_(stamp_word),
          expected_stamp_(expected_stamp),
          buffer_state_(buffer_state),
          expected_generation_(expected_generation),
          data_(data),
          info_(info),
          owner_(owner),
          token_(token) {}

    const std::atomic<std::uint64_t>* stamp_word_;
    std::uint64_t expected_stamp_;
    const std::atomic<std::uint64_t>* buffer_state_;  // pool topics: validate this instead
    std::uint64_t expected_generation_;
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

    /// The T in place. Reliable mode: a plain reference. Overwrite mode: prefer load().
    const T& operator*() const noexcept { return *get(); }
    const T* operator->() const noexcept { return get(); }
    const T* get() const noexcept {
        return std::launder(reinterpret_cast<const T*>(raw_.data().data()));
    }
    /// A copy of the T, read safely; std::nullopt if it was overwritten meanwhile.
    [[nodiscard]] std::optional<T> load() const noexcept { return raw_.template load<T>(); }
    [[nodiscard]] const SampleInfo& info() const noexcept { return raw_.info(); }
    [[nodiscard]] std::uint64_t sequence() const noexcept { return raw_.sequence(); }
    /// See RawSample::overwritten().
    [[nodiscard]] bool overwritten() const noexcept { return raw_.overwritten(); }
    /// See RawSample::reset().
    void reset() noexcept { raw_.reset(); }
    /// The raw sample underneath.
    [[nodiscard]] const RawSample& raw() const noexcept { return raw_; }

  private:
    RawSample raw_;
};

}  // namespace ipcbus
