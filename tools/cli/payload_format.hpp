// SPDX-License-Identifier: Apache-2.0
// How `ipcbus echo` shows a payload: text when it is text, hex (plain output) or base64
// (JSON output) when it is not.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ipcbus::cli {

/// True if `bytes` is well-formed UTF-8 (no overlong forms, surrogates or code points past
/// U+10FFFF): exactly what a JSON string may carry.
[[nodiscard]] bool is_valid_utf8(std::span<const std::byte> bytes) noexcept;

/// True if `bytes` is UTF-8 text a terminal shows as one line: no control characters
/// other than tab.
[[nodiscard]] bool is_printable_text(std::span<const std::byte> bytes) noexcept;

/// Lower-case hex of at most `max_bytes` bytes, "..." appended when cut short.
[[nodiscard]] std::string to_hex(std::span<const std::byte> bytes, std::size_t max_bytes);

/// `bytes` (at most `max_bytes` of them) as one line of text: printable UTF-8 as it is,
/// '\\' as "\\\\", and every other byte as \xNN; "..." appended when cut short.
[[nodiscard]] std::string escaped_text(std::span<const std::byte> bytes, std::size_t max_bytes);

/// A duration for people: "850 ns", "41.2 us", "3.5 ms", "2.0 s".
[[nodiscard]] std::string human_duration(std::uint64_t nanoseconds);

/// Standard base64 (RFC 4648, with '=' padding).
[[nodiscard]] std::string to_base64(std::span<const std::byte> bytes);

/// The bytes of `text`, for comparisons and building payloads.
[[nodiscard]] inline std::span<const std::byte> as_bytes(std::string_view text) noexcept {
    return std::as_bytes(std::span<const char>(text.data(), text.size()));
}

/// `bytes` as a string_view (the caller has checked they are text).
[[nodiscard]] inline std::string_view as_text(std::span<const std::byte> bytes) noexcept {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace ipcbus::cli
