// SPDX-License-Identifier: Apache-2.0
// ipcbus: the command-line tool. Parses the command line, runs the chosen command, and
// turns its failure into one line on stderr and a non-zero exit code.
#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include "cli_common.hpp"
#include "commands.hpp"
#include "ipcbus/version.hpp"

namespace {

std::string one_line_failure(const CLI::App* /*app*/, const CLI::Error& error) {
    return std::string("ipcbus: ") + error.what() + " (see --help)\n";
}

// A command cut short by Ctrl-C (or SIGTERM) exits as a shell reports a process killed by
// that signal, 128 + its number, so scripts can tell it did not finish its work.
int exit_code_after(int command_result) {
    const int signal_number = ipcbus::cli::stop_signal();
    return command_result == 0 && signal_number != 0 ? 128 + signal_number : command_result;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace ipcbus::cli;
    CLI::App app{
        "ipcbus: look at and use the topics of an ipcbus domain from the shell.\n"
        "Every command takes --domain (default: $IPCBUS_DOMAIN, else 'default')."};
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
    CLI11_PARSE(app, argc, argv);
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
