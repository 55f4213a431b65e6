// SPDX-License-Identifier: Apache-2.0
// ipcbusd: the discovery daemon of an ipcbus domain (thin main over the daemon library).
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>

#include "descriptor_limit.hpp"
#include "ipcbus/node.hpp"
#include "ipcbus/version.hpp"
#include "ipcbusd/daemon.hpp"
#include "service_notify.hpp"

namespace {

ipcbusd::Daemon* g_daemon = nullptr;

extern "C" void on_signal(int) {
    if (g_daemon != nullptr) g_daemon->stop();
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "ipcbusd: the ipcbus discovery daemon of one bus domain.\n"
        "It keeps the topic registry, creates topic segments and hands them to clients,\n"
        "enforces the access policy, and cleans up the moment a client dies.\n"
        "Clients start it by themselves when needed (unless IPCBUS_NO_AUTOSTART=1)."};
    std::string domain = ipcbus::default_domain();
    std::string config;
    double idle_exit_s = 0;
    bool autostarted = false;
    std::string socket_dir;
    bool no_abstract = false;
    double recovery_window_s = 1.5;
    std::string log_level = "info";
    app.footer(
        "Exit status: 0 stopped by SIGTERM/SIGINT or idle, 1 failed, 2 invalid configuration,\n"
        "3 another ipcbusd already serves the domain.\n"
        "Environment: IPCBUS_DOMAIN (default domain); LISTEN_PID/LISTEN_FDS (socket activation:\n"
        "serve the passed sockets instead). For clients: IPCBUS_NO_AUTOSTART=1 (never start a\n"
        "daemon: use the one a service manager runs), IPCBUS_DAEMON (the ipcbusd to start),\n"
        "IPCBUS_SOCKET_DIR (find DIR/<domain>.sock), IPCBUS_DAEMON_USER (users, besides root,\n"
        "themselves and 'ipcbus', whose daemon they trust).");
    app.add_option("--domain", domain,
                   "Bus domain to serve (default: $IPCBUS_DOMAIN, else 'default'); it names the "
                   "daemon's socket, so one daemon serves each domain");
    app.add_option("--config", config,
                   "TOML file with limits, per-topic defaults and access rules "
                   "(an example: share/doc/ipcbus/ipcbusd.example.toml)");
    app.add_option("--idle-exit", idle_exit_s,
                   "Exit after this many seconds with no clients and no topics (0: never)")
        ->check(CLI::NonNegativeNumber);
    app.add_flag("--autostarted", autostarted,
                 "Started by a client library: same as --idle-exit 10 unless that is given");
    app.add_option("--socket-dir", socket_dir,
                   "Also serve the socket file DIR/<domain>.sock (e.g. /run/ipcbus): in a "
                   "directory only the daemon's user may write, it cannot be impersonated, and "
                   "mounting DIR shares the domain with containers. Clients look in "
                   "/run/ipcbus, or in $IPCBUS_SOCKET_DIR");
    app.add_flag("--no-abstract", no_abstract,
                 "Serve the socket file only, not the abstract name @ipcbus/<domain>")
        ->needs("--socket-dir");
    app.add_option("--recovery-window", recovery_window_s,
                   "After a restart, how many seconds opens that would create one of the "
                   "previous daemon's topics (listed in DIR/<domain>.topics, with "
                   "--socket-dir) wait for its running holders to re-register (default 1.5)")
        ->check(CLI::Range(0.0, 60.0));
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
    app.set_version_flag("--version", "ipcbusd " + std::string(ipcbus::version()));
    CLI11_PARSE(app, argc, argv);

    auto logger = spdlog::stderr_color_mt("ipcbusd");
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e ipcbusd[" + domain + "] %^%l%$: %v");
    spdlog::set_default_logger(logger);
    spdlog::set_level(spdlog::level::from_str(log_level));

    ipcbusd::DaemonOptions options;
    options.domain = domain;
    options.socket_dir = socket_dir;
    options.abstract_name = !no_abstract;
    options.autostarted = autostarted;
    options.recovery_window =
        std::chrono::milliseconds(static_cast<long long>(recovery_window_s * 1000));
    if (!config.empty()) {
        auto policy = ipcbusd::AccessPolicy::load(config);
        if (!policy) {
            spdlog::error("{}", policy.error().message);
            return 2;
        }
        options.policy = std::move(policy).value();
    }
    if (const std::string failed = ipcbusd::raise_descriptor_limit(options.policy.limits());
        !failed.empty()) {
        spdlog::error("{}", failed);
        return 2;
    }
    if (autostarted && idle_exit_s == 0) idle_exit_s = 10;
    options.idle_exit = std::chrono::milliseconds(static_cast<long long>(idle_exit_s * 1000));

    auto daemon = ipcbusd::Daemon::create(std::move(options));
    if (!daemon) {
        spdlog::error("{}", daemon.error().message);
        // 3: the domain is served already; a systemd unit must not restart into that
        // (RestartPreventExitStatus in ipcbusd@.service).
        return daemon.error().message.starts_with("another ipcbusd already serves") ? 3 : 1;
    }
    g_daemon = daemon->get();
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    ::sigaction(SIGTERM, &sa, nullptr);
    ::sigaction(SIGINT, &sa, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    // A file-size limit (ulimit -f, systemd LimitFSIZE=) must refuse a large segment with
    // EFBIG, not kill the daemon of the whole domain with SIGXFSZ.
    ::signal(SIGXFSZ, SIG_IGN);
    std::printf("ready\n");  // for scripts and tests: the socket accepts connections now
    std::fflush(stdout);
    if (const std::string failed = ipcbusd::notify_ready(); !failed.empty()) {
        spdlog::warn("{}", failed);  // a unit of Type=notify will time out and say so too
    }
    const int rc = (*daemon)->run();
    g_daemon = nullptr;
    return rc;
}
