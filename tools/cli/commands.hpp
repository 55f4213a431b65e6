// SPDX-License-Identifier: Apache-2.0
// The ipcbus commands. Each add_*_command adds its subcommand to the app; when the command
// line selects it, it stores in `action` what main() then runs.
#pragma once

#include <CLI/CLI.hpp>

#include "cli_common.hpp"

namespace ipcbus::cli {

void add_topics_command(CLI::App& app, CommandAction& action);
void add_info_command(CLI::App& app, CommandAction& action);
void add_pub_command(CLI::App& app, CommandAction& action);
void add_echo_command(CLI::App& app, CommandAction& action);
void add_hz_command(CLI::App& app, CommandAction& action);
void add_perf_command(CLI::App& app, CommandAction& action);
/// Hidden: the subscriber processes `ipcbus perf` starts.
void add_perf_subscriber_command(CLI::App& app, CommandAction& action);
void add_doctor_command(CLI::App& app, CommandAction& action);

}  // namespace ipcbus::cli
