// SPDX-License-Identifier: Apache-2.0
// Self-checking message payloads for cross-process tests: each carries its publisher,
// a per-publisher counter and a checksum over everything else, so a torn or corrupted
// read is always detected.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace ipcbus::test {

struct PayloadHeader {
    std::uint64_t counter;    // per-publisher message number, from 0
    std::uint64_t checksum;   // over publisher, counter, size and the filler
    std::uint32_t publisher;  // test-chosen publisher number
    std::uint32_t size;       // total payload size, header included
};
static_assert(sizeof(PayloadHeader) == 24);

inline std::uint8_t filler_byte(std::uint64_t counter, std::size_t i) noexcept {
    return static_cast<std::uint8_t>(counter * 31 + i * 7 + 1);
}

inline std::uint64_t payload_checksum(std::uint32_t publisher, std::uint64_t counter,
                                      std::span<const std::byte> filler) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL ^ publisher;
    h = (h ^ counter) * 0x100000001b3ULL;
    for (std::byte b : filler) h = (h ^ static_cast<std::uint8_t>(b)) * 0x100000001b3ULL;
    return h;
}

/// Fills `out` (at least sizeof(PayloadHeader) bytes) with message `counter` of `publisher`.
inline void write_payload(std::span<std::byte> out, std::uint32_t publisher,
                          std::uint64_t counter) noexcept {
    auto filler = out.subspan(sizeof(PayloadHeader));
    for (std::size_t i = 0; i < filler.size(); ++i) {
        filler[i] = static_cast<std::byte>(filler_byte(counter, i));
    }
    PayloadHeader h{counter, payload_checksum(publisher, counter, filler), publisher,
                    static_cast<std::uint32_t>(out.size())};
    std::memcpy(out.data(), &h, sizeof h);
}

/// Checks a payload; on success stores its header in `header`.
inline bool check_payload(std::span<const std::byte> in, PayloadHeader& header) noexcept {
    if (in.size() < sizeof(PayloadHeader)) return false;
    std::memcpy(&header, in.data(), sizeof header);
    if (header.size != in.size()) return false;
    const auto filler = in.subspan(sizeof(PayloadHeader));
    if (header.checksum != payload_checksum(header.publisher, header.counter, filler)) return false;
    for (std::size_t i = 0; i < filler.size(); ++i) {
        if (static_cast<std::uint8_t>(filler[i]) != filler_byte(header.counter, i)) return false;
    }
    return true;
}

}  // namespace ipcbus::test
