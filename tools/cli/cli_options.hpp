// SPDX-License-Identifier: Apache-2.0
// Command-line conventions shared by the commands: numeric options that say in words what
// they accept, topic names written the ROS way, and "did you mean" for a mistyped command.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

namespace ipcbus::cli {

/// Accepts a whole number from `min` to `max`; anything else is refused with a message
/// that names the option's meaning in words ("must be a whole number from 1 to 3600, not
/// '-5'") instead of CLI11's numeric range.
CLI::Validator whole_number(std::uint64_t min, std::uint64_t max = UINT64_MAX);

/// Accepts a decimal number of 0 or more ("must be a number of 0 or more, not '-5'").
CLI::Validator non_negative_number();

/// A topic name as the user typed it, made into ipcbus's form: one leading '/' (the ROS
/// habit, "/md/ticks") is dropped. Other mistakes are left for the library to report.
[[nodiscard]] std::string normalized_topic(std::string_view typed);

/// A CLI11 transform that applies normalized_topic() to an option's value.
CLI::Validator topic_name();

/// The name among `known` closest to `typed` (edit distance at most 2, or `typed` a prefix
/// of it), for "did you mean".
[[nodiscard]] std::optional<std::string> closest_name(std::string_view typed,
                                                      const std::vector<std::string>& known);

/// If the first word on the command line that is not an option (or an option's value) is
/// none of `commands`, the message to print: "unknown command 'topic' (did you mean
/// 'topics'?)", the guess taken from `visible` (the commands --help lists).
/// `options_with_values` are the global options that take a value.
[[nodiscard]] std::optional<std::string> unknown_command_message(
    int argc, const char* const* argv, const std::vector<std::string>& commands,
    const std::vector<std::string>& visible, const std::vector<std::string>& options_with_values);

}  // namespace ipcbus::cli
