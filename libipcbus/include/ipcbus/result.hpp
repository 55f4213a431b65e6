// SPDX-License-Identifier: Apache-2.0
// Error reporting. Setup calls (create/open a topic) return Result<T>: a value or an
// Error with a code and a message naming the topic and the cause. Hot-path calls return
// Expected<T, E> with a small error enum: no allocation, no exception.
//
// Asking an Expected that holds an error for its value (value(), *, ->) does not crash
// and does not throw: it prints the error ("ipcbus: value() on an error: daemon not
// reachable ...") to standard error and aborts, so `Node::create().value()` fails with the
// reason in one line. Check with `if (result)`, or use value_or, and_then, transform.
#pragma once

#include <cstdint>
#include <iosfwd>
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

/// "type_mismatch: topic carries ..." (the code's name, then the message).
std::ostream& operator<<(std::ostream& out, const Error& error);
std::ostream& operator<<(std::ostream& out, ErrorCode code);

namespace detail {
/// Prints "ipcbus: WHAT: TEXT" to standard error and aborts.
[[noreturn]] void abort_on_error(const char* what, std::string_view text) noexcept;
inline std::string_view error_text(const Error& error) noexcept {
    return error.message;
}
template <class E>
std::string_view error_text(const E& error) noexcept {
    return to_string(error);  // the hot-path enums' names, found by argument-dependent lookup
}
}  // namespace detail

/// Minimal expected<T, E> (the toolchain's libstdc++ 12 lacks std::expected), with the
/// members of std::expected that users reach for. Holds either a value or an error; never
/// throws. Taking the value of an error, or the error of a value, aborts with a message.
template <class T, class E>
class [[nodiscard]] Expected {
  public:
    using value_type = T;
    using error_type = E;

    Expected(T value) noexcept(std::is_nothrow_move_constructible_v<T>)  // NOLINT: implicit
        : state_(std::in_place_index<0>, std::move(value)) {}
    Expected(E error) noexcept(std::is_nothrow_move_constructible_v<E>)  // NOLINT: implicit
        : state_(std::in_place_index<1>, std::move(error)) {}

    [[nodiscard]] bool has_value() const noexcept { return state_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    T& value() & noexcept { return *checked_value("value() on an error"); }
    const T& value() const& noexcept { return *checked_value("value() on an error"); }
    T&& value() && noexcept { return std::move(*checked_value("value() on an error")); }
    T& operator*() & noexcept { return *checked_value("operator* on an error"); }
    const T& operator*() const& noexcept { return *checked_value("operator* on an error"); }
    T&& operator*() && noexcept { return std::move(*checked_value("operator* on an error")); }
    T* operator->() noexcept { return checked_value("operator-> on an error"); }
    const T* operator->() const noexcept { return checked_value("operator-> on an error"); }

    const E& error() const& noexcept { return *checked_error(); }
    E&& error() && noexcept { return std::move(*checked_error()); }

    /// The value, or `fallback` when this holds an error.
    template <class U>
    T value_or(U&& fallback) const& {
        return has_value() ? *std::get_if<0>(&state_) : static_cast<T>(std::forward<U>(fallback));
    }
    template <class U>
    T value_or(U&& fallback) && {
        return has_value() ? std::move(*std::get_if<0>(&state_))
                           : static_cast<T>(std::forward<U>(fallback));
    }

    /// f(value) -> Expected<U, E> when this holds a value; the error passed on otherwise.
    template <class F>
    auto and_then(F&& f) && {
        using Next = std::invoke_result_t<F, T&&>;
        if (!has_value()) return Next(std::move(*std::get_if<1>(&state_)));
        return std::forward<F>(f)(std::move(*std::get_if<0>(&state_)));
    }
    template <class F>
    auto and_then(F&& f) & {
        using Next = std::invoke_result_t<F, T&>;
        if (!has_value()) return Next(*std::get_if<1>(&state_));
        return std::forward<F>(f)(*std::get_if<0>(&state_));
    }

    /// Expected<f(value), E>: the value mapped, or the error passed on.
    template <class F>
    auto transform(F&& f) && {
        using U = std::remove_cvref_t<std::invoke_result_t<F, T&&>>;
        if (!has_value()) return Expected<U, E>(std::move(*std::get_if<1>(&state_)));
        return Expected<U, E>(std::forward<F>(f)(std::move(*std::get_if<0>(&state_))));
    }
    template <class F>
    auto transform(F&& f) & {
        using U = std::remove_cvref_t<std::invoke_result_t<F, T&>>;
        if (!has_value()) return Expected<U, E>(*std::get_if<1>(&state_));
        return Expected<U, E>(std::forward<F>(f)(*std::get_if<0>(&state_)));
    }

  private:
    T* checked_value(const char* what) noexcept {
        T* value = std::get_if<0>(&state_);
        if (value == nullptr) detail::abort_on_error(what, detail::error_text(*checked_error()));
        return value;
    }
    const T* checked_value(const char* what) const noexcept {
        const T* value = std::get_if<0>(&state_);
        if (value == nullptr) detail::abort_on_error(what, detail::error_text(*checked_error()));
        return value;
    }
    E* checked_error() noexcept {
        E* error = std::get_if<1>(&state_);
        if (error == nullptr)
            detail::abort_on_error("error() on a value", "there is no error to return");
        return error;
    }
    const E* checked_error() const noexcept {
        const E* error = std::get_if<1>(&state_);
        if (error == nullptr)
            detail::abort_on_error("error() on a value", "there is no error to return");
        return error;
    }

    std::variant<T, E> state_;
};

/// Result of a setup call: a value or an Error.
template <class T>
using Result = Expected<T, Error>;

/// Empty value for Result<Ok>.
struct Ok {};

}  // namespace ipcbus
