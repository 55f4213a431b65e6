// SPDX-License-Identifier: Apache-2.0
// A Loan is a buffer a publisher fills with a message before publishing it. It is private
// until publish(): no reader sees it and no other publisher waits for it, so holding a
// loan (a camera driver waiting for its next frame, a process that is stopped) delays no
// one. The message gets its sequence number only when it is published.
//
//   - Topics with inline payloads (slots up to the topic's pool threshold): the loan is a
//     buffer in the publisher's own memory, which publish() copies into the ring (for
//     small messages that costs less than the cache miss a shared buffer would).
//   - Pool topics (larger slots): the loan is a buffer of the topic's shared pool, written
//     in place and published without a copy (zero-copy).
//
// Dropping a loan unpublished simply gives the buffer back; readers never hear of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <new>
#include <span>
#include <string_view>
#include <utility>

#include "ipcbus/type_info.hpp"

namespace ipcbus {

namespace detail {
struct PublisherImpl;
void abandon_loan(PublisherImpl* owner, std::uint32_t token, std::uint64_t generation) noexcept;
}  // namespace detail

/// Why a loan or a publish failed. Hot-path error: no allocation.
enum class LoanError : std::uint8_t {
    payload_too_large,  // requested size exceeds the topic's slot size
    too_many_loans,     // this publisher holds as many loans as it may at once
    would_block,        // reliable mode: every frame (or pool buffer) holds a message a reader
                        // still needs, and the publisher's block timeout ran out (or is zero)
    expired,            // publish(): this thread stalled (stopped, starved of CPU) inside the
                        // call for longer than the topic's unblock timeout, and readers passed
                        // the sequence over; the loan is intact: publish it again
    invalid_loan,       // publish(): the loan is another publisher's, or already published
};

std::string_view to_string(LoanError error) noexcept;
std::ostream& operator<<(std::ostream& out, LoanError error);

/// A private buffer of raw bytes to publish. Move-only; must not outlive its publisher.
/// Used by one thread at a time.
class RawLoan {
  public:
    RawLoan(RawLoan&& other) noexcept
        : owner_(std::exchange(other.owner_, nullptr)),
          data_(other.data_),
          size_(other.size_),
          capacity_(other.capacity_),
          token_(other.token_),
          generation_(other.generation_),
          origin_sequence_(other.origin_sequence_) {}
    RawLoan& operator=(RawLoan&& other) noexcept {
        if (this != &other) {
            release();
            owner_ = std::exchange(other.owner_, nullptr);
            data_ = other.data_;
            size_ = other.size_;
            capacity_ = other.capacity_;
            token_ = other.token_;
            generation_ = other.generation_;
            origin_sequence_ = other.origin_sequence_;
        }
        return *this;
    }
    RawLoan(const RawLoan&) = delete;
    RawLoan& operator=(const RawLoan&) = delete;
    ~RawLoan() { release(); }

    /// The message bytes to fill in (size() of them).
    [[nodiscard]] std::span<std::byte> data() noexcept { return {data_, size_}; }
    /// Current message length.
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    /// Most bytes this loan can carry (the topic's slot size).
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
    /// Changes the message length; false (and no change) if size > capacity().
    [[nodiscard]] bool resize(std::size_t size) noexcept {
        if (size > capacity_) return false;
        size_ = size;
        return true;
    }
    /// For bridges that carry messages in from another host: the sequence number the
    /// message had there, which readers see as SampleInfo::origin_sequence. Unset, readers
    /// see the message's own sequence.
    void set_origin_sequence(std::uint64_t origin) noexcept { origin_sequence_ = origin; }
    /// False once published (or moved from).
    [[nodiscard]] bool valid() const noexcept { return owner_ != nullptr; }

  private:
    friend class RawPublisher;
    RawLoan(detail::PublisherImpl* owner, std::byte* data, std::size_t size, std::size_t capacity,
            std::uint32_t token, std::uint64_t generation) noexcept
        : owner_(owner),
          data_(data),
          size_(size),
          capacity_(capacity),
          token_(token),
          generation_(generation) {}
    void release() noexcept {
        if (owner_ != nullptr) {
            detail::abandon_loan(std::exchange(owner_, nullptr), token_, generation_);
        }
    }

    detail::PublisherImpl* owner_;
    std::byte* data_;
    std::size_t size_;
    std::size_t capacity_;
    std::uint32_t token_;                    // which private buffer, or which pool buffer
    std::uint64_t generation_;               // pool buffers: the generation it was handed out with
    std::uint64_t origin_sequence_ = ~0ULL;  // ~0: none, the message's own sequence
};

/// A private buffer holding one T, default-initialised in place. Move-only; must not
/// outlive its publisher. Used by one thread at a time.
template <Payload T>
class Loan {
  public:
    explicit Loan(RawLoan raw) noexcept
        : raw_(std::move(raw)), value_(::new (static_cast<void*>(raw_.data().data())) T) {}

    T& operator*() noexcept { return *value_; }
    T* operator->() noexcept { return value_; }
    T* get() noexcept { return value_; }

    /// The raw loan underneath, for Publisher<T>::publish.
    RawLoan& raw() noexcept { return raw_; }

  private:
    RawLoan raw_;
    T* value_;
};

}  // namespace ipcbus
