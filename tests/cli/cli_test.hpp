// SPDX-License-Identifier: Apache-2.0
// The fixture of the CLI tests: a domain of each test's own, the ipcbus tool run in it, and
// helpers to read what it prints.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "cli_process.hpp"
#include "ipcbus/ipcbus.hpp"
#include "test_domain.hpp"

namespace ipcbus::test {

using nlohmann::json;

struct Pose {
    double x, y;
};

inline std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream stream(text);
    for (std::string line; std::getline(stream, line);) lines.push_back(line);
    return lines;
}

inline std::span<const std::byte> bytes_of(const std::string& text) {
    return std::as_bytes(std::span<const char>(text.data(), text.size()));
}

/// Whether `text` starts with digits laid out as `pattern` ('9': a digit, else itself).
inline bool starts_like(std::string_view text, std::string_view pattern) {
    if (text.size() < pattern.size()) return false;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        const bool digit = text[i] >= '0' && text[i] <= '9';
        if (pattern[i] == '9' ? !digit : text[i] != pattern[i]) return false;
    }
    return true;
}

/// Whether `line` is one of echo's plain lines, "HH:MM:SS.ffffff TOPIC #SEQ age AGE: PAYLOAD",
/// with this topic, sequence and payload (`rest` is what follows the age: ": hi" or
/// " [3 bytes]"). AGE is a number and a unit: "812 ns", "41.2 us", "3.0 ms", "1.5 s".
inline bool is_echo_line(const std::optional<std::string>& line, const std::string& topic,
                         std::uint64_t seq, const std::string& rest) {
    if (!line || !starts_like(*line, "99:99:99.999999 ")) return false;
    std::string_view after = std::string_view(*line).substr(16);
    const std::string head = topic + " #" + std::to_string(seq) + " age ";
    if (!after.starts_with(head)) return false;
    after.remove_prefix(head.size());
    std::size_t digits = 0;
    while (digits < after.size() &&
           ((after[digits] >= '0' && after[digits] <= '9') || after[digits] == '.')) {
        ++digits;
    }
    if (digits == 0) return false;
    after.remove_prefix(digits);
    for (std::string_view unit : {" ns", " us", " ms", " s"}) {
        if (after.starts_with(unit) && after.substr(unit.size()) == rest) return true;
    }
    return false;
}

class CliTest : public DomainTest {
  protected:
    /// `args` followed by this test's --domain.
    std::vector<std::string> in_domain(std::vector<std::string> args) const {
        args.insert(args.end(), {"--domain", domain_});
        return args;
    }

    CliOutcome run(const std::vector<std::string>& args, std::string_view input = {}) const {
        return run_cli(in_domain(args), input);
    }

    /// Starts `ipcbus echo TOPIC --json --count N`.
    std::unique_ptr<CliProcess> start_json_echo(const std::string& topic, std::size_t count) const {
        return std::make_unique<CliProcess>(
            in_domain({"echo", topic, "--json", "--count", std::to_string(count)}));
    }

    /// The next `count` JSON lines `echo` prints.
    static std::vector<json> read_json_lines(CliProcess& echo, std::size_t count) {
        std::vector<json> messages;
        for (std::size_t i = 0; i < count; ++i) {
            const auto line = echo.read_line();
            if (!line) {
                ADD_FAILURE() << "echo ended after " << i << " of " << count << " messages";
                break;
            }
            messages.push_back(json::parse(*line));
        }
        return messages;
    }

    /// `topics --json`'s entry for `name`, null if it is not listed.
    json listed_topic(const std::string& name) const {
        const CliOutcome topics = run({"topics", "--json"});
        EXPECT_EQ(topics.exit_code, 0) << topics.err;
        for (const json& topic : json::parse(topics.out)) {
            if (topic.at("name") == name) return topic;
        }
        return nullptr;
    }

    static void expect_one_error_line(const CliOutcome& outcome, const std::string& fragment) {
        EXPECT_TRUE(outcome.exited);
        EXPECT_NE(outcome.exit_code, 0);
        EXPECT_TRUE(outcome.err.starts_with("ipcbus: ")) << outcome.err;
        EXPECT_NE(outcome.err.find(fragment), std::string::npos) << outcome.err;
        EXPECT_EQ(lines_of(outcome.err).size(), 1U) << outcome.err;
    }
};

}  // namespace ipcbus::test
