// Error reporting. Setup calls (create/open a topic) return Result<T>: a value or an
// Error with a code and a message naming the topic and the cause. Hot-path calls return
// Expected<T, E> with a small error enum: no allocation, no exception.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace ipcbus {

enum class ErrorCode : std::uint8_t {
    invalid_name,        // topic or domain name breaks the naming rules
    invalid_argument,    // an option is out of range (capacity, slot size, ...)
    type_mismatch,       // the topic carries another type (name, size, align, schema)
    parameter_mismatch,  // the topic exists with other capacity/slot size/mode
    not_a_segment,       // the shared-memory object is not an ipcbus segment
    version_mismatch,    // the segment was written by another layout version
    corrupt_segment,     // header fields are inconsistent or the segment is truncated
    resource_exhausted,  // reader table full, /dev/shm full, ...
    permission_denied,   // the kernel refused access to the segment
    timeout,             // waited too long, e.g. for a segment being created
    system_error,        // any other operating-system error
    not_found,           // no such topic (queries)
    daemon_unreachable,  // no ipcbusd answers for the domain and none could be started
};

/// Stable, human-readable name of an error code ("type_mismatch"). Thread-safe.
std::string_view to_string(ErrorCode code) noexcept;

/// A setup error: what went wrong (code) and a sentence naming the object and the cause.
struct Error {
    ErrorCode code;
    std::string message;
};

/// Minimal expected<T, E> (the toolchain's libstdc++ 12 lacks std::expected).
/// Holds either a value or an error; never throws on construction.
template <class T, class E>
class [[nodiscard]] Expected {
  public:
    Expected(T value) noexcept(std::is_nothrow_move_constructible_v<T>)  // NOLINT: implicit
        : state_(std::in_place_index<0>, std::move(value)) {}
    Expected(E error) noexcept(std::is_nothrow_move_constructible_v<E>)  // NOLINT: implicit
        : state_(std::in_place_index<1>, std::move(error)) {}

    [[nodiscard]] bool has_value() const noexcept { return state_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    T& value() & noexcept { return *std::get_if<0>(&state_); }
    const T& value() const& noexcept { return *std::get_if<0>(&state_); }
    T&& value() && noexcept { return std::move(*std::get_if<0>(&state_)); }
    T& operator*() & noexcept { return value(); }
    const T& operator*() const& noexcept { return value(); }
    T&& operator*() && noexcept { return std::move(*this).value(); }
    T* operator->() noexcept { return std::get_if<0>(&state_); }
    const T* operator->() const noexcept { return std::get_if<0>(&state_); }

    const E& error() const& noexcept { return *std::get_if<1>(&state_); }
    E&& error() && noexcept { return std::move(*std::get_if<1>(&state_)); }

  private:
    std::variant<T, E> state_;
};

/// Result of a setup call: a value or an Error.
template <class T>
using Result = Expected<T, Error>;

/// Empty value for Result<Ok>.
struct Ok {};

}  // namespace ipcbus
