// SPDX-License-Identifier: Apache-2.0
#include "payload_format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>

namespace ipcbus::cli {
namespace {

std::uint8_t byte_at(std::span<const std::byte> bytes, std::size_t i) noexcept {
    return static_cast<std::uint8_t>(bytes[i]);
}

bool is_continuation(std::uint8_t byte) noexcept {
    return (byte & 0xC0U) == 0x80U;
}

// Length of the well-formed UTF-8 sequence starting at `i`, 0 if there is none. The
// ranges are those of the Unicode standard's table 3-7 (well-formed byte sequences).
std::size_t utf8_sequence_length(std::span<const std::byte> bytes, std::size_t i) noexcept {
    const std::uint8_t lead = byte_at(bytes, i);
    if (lead < 0x80) return 1;
    std::size_t length = 0;
    std::uint8_t second_min = 0x80;
    std::uint8_t second_max = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        if (lead == 0xE0) second_min = 0xA0;  // overlong
        if (lead == 0xED) second_max = 0x9F;  // surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        if (lead == 0xF0) second_min = 0x90;  // overlong
        if (lead == 0xF4) second_max = 0x8F;  // past U+10FFFF
    } else {
        return 0;  // a continuation byte, an overlong C0/C1, or F5..FF
    }
    if (i + length > bytes.size()) return 0;
    const std::uint8_t second = byte_at(bytes, i + 1);
    if (second < second_min || second > second_max) return 0;
    for (std::size_t k = 2; k < length; ++k) {
        if (!is_continuation(byte_at(bytes, i + k))) return 0;
    }
    return length;
}

}  // namespace

bool is_valid_utf8(std::span<const std::byte> bytes) noexcept {
    for (std::size_t i = 0; i < bytes.size();) {
        const std::size_t length = utf8_sequence_length(bytes, i);
        if (length == 0) return false;
        i += length;
    }
    return true;
}

bool is_printable_text(std::span<const std::byte> bytes) noexcept {
    for (const std::byte b : bytes) {
        const auto c = static_cast<std::uint8_t>(b);
        if ((c < 0x20 && c != '\t') || c == 0x7F) return false;
    }
    return is_valid_utf8(bytes);
}

std::string to_hex(std::span<const std::byte> bytes, std::size_t max_bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    const std::size_t shown = std::min(bytes.size(), max_bytes);
    std::string out;
    out.reserve(2 * shown + 3);
    for (std::size_t i = 0; i < shown; ++i) {
        out += kDigits[byte_at(bytes, i) >> 4];
        out += kDigits[byte_at(bytes, i) & 0xF];
    }
    if (shown < bytes.size()) out += "...";
    return out;
}

std::string escaped_text(std::span<const std::byte> bytes, std::size_t max_bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    const std::size_t shown = std::min(bytes.size(), max_bytes);
    std::string out;
    out.reserve(shown + 3);
    for (std::size_t i = 0; i < shown;) {
        const std::uint8_t c = byte_at(bytes, i);
        const std::size_t length = utf8_sequence_length(bytes, i);
        const bool control = length == 1 && ((c < 0x20 && c != '\t') || c == 0x7F);
        if (c == '\\') {
            out += "\\\\";
            i += 1;
        } else if (length == 0 || control || i + length > shown) {
            out += "\\x";  // not text: a byte of binary data, or a character cut in two
            out += kDigits[c >> 4];
            out += kDigits[c & 0xF];
            i += 1;
        } else {
            out.append(reinterpret_cast<const char*>(bytes.data()) + i, length);
            i += length;
        }
    }
    if (shown < bytes.size()) out += "...";
    return out;
}

std::string human_duration(std::uint64_t nanoseconds) {
    const auto ns = static_cast<double>(nanoseconds);
    if (nanoseconds < 1'000) return fmt::format("{} ns", nanoseconds);
    if (nanoseconds < 1'000'000) return fmt::format("{:.1f} us", ns / 1e3);
    if (nanoseconds < 1'000'000'000) return fmt::format("{:.1f} ms", ns / 1e6);
    return fmt::format("{:.1f} s", ns / 1e9);
}

std::string to_base64(std::span<const std::byte> bytes) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        const std::size_t chunk = std::min<std::size_t>(3, bytes.size() - i);
        std::uint32_t group = 0;
        for (std::size_t k = 0; k < 3; ++k) {
            group = (group << 8) | (k < chunk ? byte_at(bytes, i + k) : 0U);
        }
        // A chunk of n bytes yields n + 1 significant characters; '=' pads to four.
        for (std::size_t k = 0; k < 4; ++k) {
            out += k <= chunk ? kAlphabet[(group >> (18 - 6 * k)) & 0x3F] : '=';
        }
    }
    return out;
}

}  // namespace ipcbus::cli
