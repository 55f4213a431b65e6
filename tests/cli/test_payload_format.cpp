// SPDX-License-Identifier: Apache-2.0
// How `ipcbus echo` shows payloads: UTF-8 validation (JSON output depends on it), base64,
// hex.
#include <gtest/gtest.h>

#include <cstddef>
#include <initializer_list>
#include <string>
#include <vector>

#include "payload_format.hpp"

namespace {

using ipcbus::cli::as_bytes;

std::vector<std::byte> bytes(std::initializer_list<unsigned> values) {
    std::vector<std::byte> out;
    for (unsigned v : values) out.push_back(static_cast<std::byte>(v));
    return out;
}

TEST(PayloadFormatTest, base64MatchesTheRfc4648TestVectors) {
    EXPECT_EQ(ipcbus::cli::to_base64(as_bytes("")), "");
    EXPECT_EQ(ipcbus::cli::to_base64(as_bytes("f")), "Zg==");
    EXPECT_EQ(ipcbus::cli::to_base64(as_bytes("fo")), "Zm8=");
    EXPECT_EQ(ipcbus::cli::to_base64(as_bytes("foo")), "Zm9v");
    EXPECT_EQ(ipcbus::cli::to_base64(as_bytes("foob")), "Zm9vYg==");
    EXPECT_EQ(ipcbus::cli::to_base64(as_bytes("fooba")), "Zm9vYmE=");
    EXPECT_EQ(ipcbus::cli::to_base64(as_bytes("foobar")), "Zm9vYmFy");
    EXPECT_EQ(ipcbus::cli::to_base64(bytes({0xfb, 0xff, 0xbf})), "+/+/");
}

TEST(PayloadFormatTest, wellFormedUtf8IsAccepted) {
    for (const std::string& text :
         std::vector<std::string>{"", "plain ascii", "w\xc3\xb6rld", "\xe2\x82\xac",
                                  "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", std::string(1, '\0')}) {
        EXPECT_TRUE(ipcbus::cli::is_valid_utf8(as_bytes(text))) << text;
    }
}

TEST(PayloadFormatTest, illFormedUtf8IsRejected) {
    const std::vector<std::vector<std::byte>> ill_formed{
        bytes({0xff}),                    // never valid
        bytes({0x80}),                    // continuation without a lead byte
        bytes({0xc0, 0x80}),              // overlong NUL
        bytes({0xe0, 0x80, 0x80}),        // overlong three-byte form
        bytes({0xed, 0xa0, 0x80}),        // UTF-16 surrogate
        bytes({0xf0, 0x80, 0x80, 0x80}),  // overlong four-byte form
        bytes({0xf4, 0x90, 0x80, 0x80}),  // past U+10FFFF
        bytes({0xe2, 0x82}),              // cut short
        bytes({0xe2, 0x28, 0xa1}),        // bad continuation
    };
    for (const auto& sequence : ill_formed) {
        EXPECT_FALSE(ipcbus::cli::is_valid_utf8(sequence))
            << ipcbus::cli::to_hex(sequence, sequence.size());
    }
}

TEST(PayloadFormatTest, controlCharactersAreNotPrintableText) {
    EXPECT_TRUE(ipcbus::cli::is_printable_text(as_bytes("tab\tis fine")));
    EXPECT_FALSE(ipcbus::cli::is_printable_text(as_bytes("new\nline")));
    EXPECT_FALSE(ipcbus::cli::is_printable_text(as_bytes(std::string("nul\0", 4))));
    EXPECT_FALSE(ipcbus::cli::is_printable_text(as_bytes("del\x7f")));
}

TEST(PayloadFormatTest, hexIsCutShortWithAnEllipsis) {
    const auto four = bytes({0x00, 0x1f, 0xa0, 0xff});
    EXPECT_EQ(ipcbus::cli::to_hex(four, 8), "001fa0ff");
    EXPECT_EQ(ipcbus::cli::to_hex(four, 2), "001f...");
}

}  // namespace
