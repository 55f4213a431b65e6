// SPDX-License-Identifier: Apache-2.0
#include "cli_options.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>

namespace ipcbus::cli {
namespace {

bool all_digits(std::string_view text) noexcept {
    return !text.empty() &&
           std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Levenshtein distance: small strings only (command names), so the quadratic table is fine.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t substitution = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
            diagonal = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitution});
        }
    }
    return row[b.size()];
}

}  // namespace

CLI::Validator whole_number(std::uint64_t min, std::uint64_t max) {
    const std::string range =
        max == UINT64_MAX ? fmt::format("{} or more", min) : fmt::format("from {} to {}", min, max);
    return CLI::Validator(
        [min, max, range](std::string& value) -> std::string {
            std::uint64_t number = 0;
            const auto [end, error] =
                std::from_chars(value.data(), value.data() + value.size(), number);
            const bool parsed =
                all_digits(value) && error == std::errc{} && end == value.data() + value.size();
            if (parsed && number >= min && number <= max) return {};
            return fmt::format("must be a whole number {}, not '{}'", range, value);
        },
        "", "whole number");
}

CLI::Validator non_negative_number() {
    return CLI::Validator(
        [](std::string& value) -> std::string {
            char* end = nullptr;
            const double number = std::strtod(value.c_str(), &end);
            const bool parsed = !value.empty() && end == value.c_str() + value.size();
            if (parsed && number >= 0 && number < 1e300) return {};
            return fmt::format("must be a number of 0 or more, not '{}'", value);
        },
        "", "non-negative number");
}

std::string normalized_topic(std::string_view typed) {
    if (typed.size() > 1 && typed.front() == '/' && typed[1] != '/') typed.remove_prefix(1);
    return std::string(typed);
}

CLI::Validator topic_name() {
    return CLI::Validator(
        [](std::string& value) -> std::string {
            value = normalized_topic(value);
            return {};
        },
        "", "topic name");
}

std::optional<std::string> closest_name(std::string_view typed,
                                        const std::vector<std::string>& known) {
    std::optional<std::string> best;
    std::size_t best_distance = 3;  // farther than 2 edits is no longer a typo
    for (const std::string& name : known) {
        const std::size_t distance =
            name.starts_with(typed) && !typed.empty() ? 1 : edit_distance(typed, name);
        if (distance < best_distance) {
            best_distance = distance;
            best = name;
        }
    }
    return best;
}

std::optional<std::string> unknown_command_message(
    int argc, const char* const* argv, const std::vector<std::string>& commands,
    const std::vector<std::string>& visible, const std::vector<std::string>& options_with_values) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view word = argv[i];
        if (word.starts_with("-")) {
            const bool takes_value =
                std::find(options_with_values.begin(), options_with_values.end(), word) !=
                options_with_values.end();
            if (takes_value) ++i;  // skip its value ("--domain X")
            continue;
        }
        if (std::find(commands.begin(), commands.end(), word) != commands.end()) return {};
        std::string message = fmt::format("unknown command '{}'", word);
        if (auto guess = closest_name(word, visible)) {
            message += fmt::format(" (did you mean '{}'?)", *guess);
        } else {
            message += fmt::format(" (commands: {})", fmt::join(visible, ", "));
        }
        return message;
    }
    return {};
}

}  // namespace ipcbus::cli
