// SPDX-License-Identifier: Apache-2.0
// What a topic carries. Every topic records its payload type's name, size, alignment and
// schema hash; opening a topic with another type is refused, never silent garbage.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace ipcbus {

/// The identity of a payload type as recorded in a topic.
struct TypeInfo {
    std::string_view name;      // at most 127 characters
    std::uint64_t size;         // sizeof(T); 0 for raw bytes of any length
    std::uint32_t align;        // alignof(T)
    std::uint64_t schema_hash;  // changes whenever the layout of T changes
};

namespace detail {

constexpr std::uint64_t fnv1a(std::string_view text,
                              std::uint64_t hash = 0xcbf29ce484222325ULL) noexcept {
    for (char c : text) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

constexpr std::uint64_t mix(std::uint64_t hash, std::uint64_t value) noexcept {
    for (int byte = 0; byte < 8; ++byte) {
        hash ^= (value >> (8 * byte)) & 0xffU;
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

/// The compiler's spelling of T, cut out of __PRETTY_FUNCTION__ at compile time.
template <class T>
constexpr std::string_view compiler_type_name() noexcept {
    std::string_view pretty = __PRETTY_FUNCTION__;
    const std::string_view key = "T = ";
    const auto start = pretty.find(key) + key.size();
    const auto end = pretty.find_first_of(";]", start);
    return pretty.substr(start, end - start);
}

}  // namespace detail

/// Describes T to ipcbus. Specialise it to give a type a stable name and a schema version
/// independent of the compiler's spelling:
///
///     template <> struct ipcbus::TypeDescriptor<Tick> {
///         static constexpr std::string_view name = "trading.Tick";
///         static constexpr std::uint64_t schema_version = 3;
///     };
template <class T>
struct TypeDescriptor {
    static constexpr std::string_view name = detail::compiler_type_name<T>();
    static constexpr std::uint64_t schema_version = 1;
};

/// A type ipcbus can carry: copyable as bytes, so it can live in shared memory, and
/// default-constructible, so a loan can hold one before it is filled in.
template <class T>
concept Payload = std::is_trivially_copyable_v<T> && std::is_default_constructible_v<T> &&
                  !std::is_pointer_v<T> &&
                  std::is_same_v<T, std::remove_cv_t<T>>;

/// TypeInfo of a Payload type, computed at compile time. Thread-safe.
template <Payload T>
constexpr TypeInfo type_info_of() noexcept {
    using D = TypeDescriptor<T>;
    std::uint64_t hash = detail::fnv1a(D::name);
    hash = detail::mix(hash, sizeof(T));
    hash = detail::mix(hash, alignof(T));
    hash = detail::mix(hash, D::schema_version);
    return TypeInfo{D::name, sizeof(T), alignof(T), hash};
}

/// The type of raw-bytes topics: messages of any length up to the slot size.
inline constexpr TypeInfo raw_bytes_type{"ipcbus.bytes", 0, 1, detail::fnv1a("ipcbus.bytes")};

/// For subscribers and tools that read a topic of any type as raw bytes.
inline constexpr TypeInfo any_type{"", 0, 1, 0};

}  // namespace ipcbus
