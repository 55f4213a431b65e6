// SPDX-License-Identifier: Apache-2.0
// ipcbus: the command-line tool. Parses the command line, runs the chosen command, and
// turns its failure into one line on stderr and a non-zero exit code.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli_common.hpp"
#include "cli_options.hpp"
#include "commands.hpp"
#include "ipcbus/version.hpp"

namespace {

std::string one_line_failure(const CLI::App* /*app*/, const CLI::Error& error) {
    return std::string("ipcbus: ") + error.what() + " (see --help)\n";
}

// A mistake on the command line (unknown command or option, a value out of range).
constexpr int kUsageExitCode = 2;

// A command cut short by Ctrl-C (or SIGTERM) exits as a shell reports a process killed by
// that signal, 128 + its number, so scripts can tell it did not finish its work.
int exit_code_after(int command_result) {
    const int signal_number = ipcbus::cli::stop_signal();
    return command_result == 0 && signal_number != 0 ? 128 + signal_number : command_result;
}

// The names of the commands; with `visible_only`, those --help lists (not the hidden ones).
std::vector<std::string> command_names(CLI::App& app, bool visible_only) {
    std::vector<std::string> names;
    for (const CLI::App* command : app.get_subcommands({})) {
        if (!visible_only || !command->get_group().empty()) names.push_back(command->get_name());
    }
    return names;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace ipcbus::cli;
    CLI::App app{
        "ipcbus: look at and use the topics of an ipcbus domain from the shell.\n"
        "Every command takes --domain (default: $IPCBUS_DOMAIN, else 'default').\n"
        "Exit status: 0 done, 1 failed (one line on stderr says why), 2 bad command line,\n"
        "128+N stopped by signal N (Ctrl-C: 130)."};
    app.failure_message(one_line_failure);  // before the subcommands: they copy it
    app.require_subcommand(1);
    app.set_version_flag("--version", "ipcbus " + std::string(ipcbus::version()));
    // --domain before the command name as well as after it (`ipcbus --domain X topics`).
    std::string global_domain;
    CLI::Option* global_domain_option =
        app.add_option("--domain", global_domain, "Bus domain, for any command")->type_name("NAME");
    CommandAction action;
    add_topics_command(app, action);
    add_info_command(app, action);
    add_pub_command(app, action);
    add_echo_command(app, action);
    add_hz_command(app, action);
    add_perf_command(app, action);
    add_perf_subscriber_command(app, action);
    add_doctor_command(app, action);
    if (auto unknown = unknown_command_message(argc, argv, command_names(app, false),
                                               command_names(app, true), {"--domain"})) {
        std::fprintf(stderr, "ipcbus: %s\n", unknown->c_str());
        return kUsageExitCode;
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        // --help and --version end here too (exit 0); any mistake on the command line exits
        // 2, as a shell's builtins and most tools do, whatever CLI11's own numbering says.
        return app.exit(error) == 0 ? 0 : kUsageExitCode;
    }
    if (global_domain_option->count() > 0) apply_global_domain(global_domain);

    install_stop_handler();
    try {
        return exit_code_after(action());
    } catch (const CliError& error) {
        std::fprintf(stderr, "ipcbus: %s\n", error.what());
    } catch (const std::exception& error) {
        std::fprintf(stderr, "ipcbus: internal error: %s\n", error.what());
    }
    return 1;
}
