// A Loan is a writable slot of a topic's ring, handed to the publisher so it can build a
// message in place (zero-copy). Publishing it commits the message; dropping it unpublished
// marks the slot "skipped" so readers pass over it and count it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <string_view>
#include <utility>

#include "ipcbus/type_info.hpp"

namespace ipcbus {

namespace detail {
struct PublisherImpl;
void abandon_loan(PublisherImpl* owner, std::uint64_t sequence) noexcept;
}  // namespace detail

/// Why a loan could not be had. Hot-path error: no allocation.
enum class LoanError : std::uint8_t {
    payload_too_large,  // requested size exceeds the topic's slot size
    too_many_loans,     // this publisher already holds as many loans as the ring allows
    would_block,        // reliable mode: the ring is full of messages a reader still needs,
                        // and the publisher's block timeout ran out (or is zero)
};

std::string_view to_string(LoanError error) noexcept;

/// A writable slot of raw bytes. Move-only; must not outlive its publisher.
/// Used by one thread at a time.
class RawLoan {
  public:
    RawLoan(RawLoan&& other) noexcept
        : owner_(std::exchange(other.owner_, nullptr)),
          data_(other.data_),
          sequence_(other.sequence_),
          size_(other.size_),
          capacity_(other.capacity_),
          origin_sequence_(other.origin_sequence_) {}
    RawLoan& operator=(RawLoan&& other) noexcept {
        if (this != &other) {
            release();
            owner_ = std::exchange(other.owner_, nullptr);
            data_ = other.data_;
            sequence_ = other.sequence_;
            size_ = other.size_;
            capacity_ = other.capacity_;
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
    /// The sequence number this message will carry.
    [[nodiscard]] std::uint64_t sequence() const noexcept { return sequence_; }
    /// For bridges that carry messages in from another host: the sequence number the
    /// message had there, which readers see as SampleInfo::origin_sequence. Unset, readers
    /// see this message's own sequence().
    void set_origin_sequence(std::uint64_t origin) noexcept { origin_sequence_ = origin; }

  private:
    friend class RawPublisher;
    RawLoan(detail::PublisherImpl* owner, std::byte* data, std::uint64_t sequence, std::size_t size,
            std::size_t capacity) noexcept
        : owner_(owner), data_(data), sequence_(sequence), size_(size), capacity_(capacity) {}
    void release() noexcept {
        if (owner_ != nullptr) detail::abandon_loan(std::exchange(owner_, nullptr), sequence_);
    }

    detail::PublisherImpl* owner_;
    std::byte* data_;
    std::uint64_t sequence_;
    std::size_t size_;
    std::size_t capacity_;
    std::uint64_t origin_sequence_ = ~0ULL;  // ~0: none, the message's own sequence
};

/// A writable slot holding one T, default-initialised in place. Move-only; must not
/// outlive its publisher. Used by one thread at a time.
template <Payload T>
class Loan {
  public:
    explicit Loan(RawLoan raw) noexcept
        : raw_(std::move(raw)), value_(::new (static_cast<void*>(raw_.data().data())) T) {}

    T& operator*() noexcept { return *value_; }
    T* operator->() noexcept { return value_; }
    T* get() noexcept { return value_; }
    [[nodiscard]] std::uint64_t sequence() const noexcept { return raw_.sequence(); }

    /// The raw loan underneath, for Publisher<T>::publish.
    RawLoan& raw() noexcept { return raw_; }

  private:
    RawLoan raw_;
    T* value_;
};

}  // namespace ipcbus
