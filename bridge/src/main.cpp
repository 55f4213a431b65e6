// SPDX-License-Identifier: Apache-2.0
// ipcbus-bridge: carries chosen topics of one ipcbus domain to other hosts over NATS, and
// topics from other hosts into it. Local processes keep shared-memory speed; only the
// topics you name cross the network.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cctype>
#include <fstream>
#include <string>
#include <vector>

#include "exporter.hpp"
#include "importer.hpp"
#include "ipcbus/ipcbus.hpp"
#include "ipcbusd/access_policy.hpp"
#include "nats_link.hpp"

namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_signal(int) {
    g_stop.store(true, std::memory_order_relaxed);
}

struct Options {
    std::string domain = ipcbus::default_domain();
    std::string nats_url = "nats://127.0.0.1:4222";
    std::string nats_domain;  // empty: the local domain
    std::vector<std::string> exports;
    std::vector<std::string> imports;
    std::string origin;  // empty: machine id / domain
    std::size_t buffer_messages = 100'000;
    std::size_t buffer_bytes = 64U << 20;
    int report_ms = 5000;
    int reconnect_wait_ms = 100;
    bool jetstream = false;
    std::string log_level = "info";
};

// This host's identity on the bus: the machine id, and the domain, so that two domains on
// one machine are two hosts. A message never returns to the host it came from.
std::string host_origin(const std::string& domain) {
    std::ifstream file("/etc/machine-id");
    std::string id;
    if (!(file >> id) || id.empty()) {
        char name[256] = {};
        ::gethostname(name, sizeof name - 1);
        id = name;
    }
    return id.substr(0, 64) + "/" + domain;
}

void add_options(CLI::App& app, Options& o) {
    app.set_config("--config", "", "TOML file with these options as keys (export = [\"a/*\"])");
    app.add_option("--domain", o.domain, "Local bus domain (default: $IPCBUS_DOMAIN or 'default')");
    app.add_option("--nats", o.nats_url, "NATS server URL")->capture_default_str();
    app.add_option("--nats-domain", o.nats_domain,
                   "Name of the bus on NATS: subjects are ipcbus.<name>.<topic>; hosts that "
                   "share topics use the same name (default: the local domain)");
    app.add_option("--export", o.exports, "Local topics to send to NATS (pattern; repeatable)");
    app.add_option("--import", o.imports, "Topics to take from NATS (pattern; repeatable)");
    app.add_option("--origin", o.origin, "This host's id (default: machine id / domain)");
    app.add_option("--buffer-messages", o.buffer_messages,
                   "Exports kept while NATS is away; beyond, the oldest are dropped")
        ->capture_default_str();
    app.add_option("--buffer-bytes", o.buffer_bytes, "Payload bytes kept while NATS is away")
        ->capture_default_str();
    app.add_option("--report-ms", o.report_ms, "Interval of the rate/buffer/drops log line")
        ->check(CLI::Range(10, 3'600'000))
        ->capture_default_str();
    app.add_option("--reconnect-wait-ms", o.reconnect_wait_ms, "Between reconnect attempts")
        ->check(CLI::Range(1, 60'000))
        ->capture_default_str();
    app.add_flag("--jetstream", o.jetstream,
                 "Keep the bus in a JetStream stream: exports are acknowledged (at least once, "
                 "deduplicated by message id), imports read through durable consumers, so a "
                 "host that was down catches up");
    app.add_option("--log-level", o.log_level, "trace, debug, info, warn, error or off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
}

// The bus name ends up in subjects and the JetStream stream's name, the origin in every
// message's header: both are checked here, not found wrong on the far side.
bool valid_names(const Options& o) {
    auto word_chars = [](const std::string& text, std::size_t max, bool extra_printable) {
        if (text.empty() || text.size() > max) return false;
        for (char c : text) {
            const bool word = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
            if (!word && !(extra_printable && c > 0x20 && c < 0x7f)) return false;
        }
        return true;
    };
    if (!o.nats_domain.empty() && !word_chars(o.nats_domain, 32, false)) {
        spdlog::error("--nats-domain '{}': 1-32 characters of [A-Za-z0-9_-]", o.nats_domain);
        return false;
    }
    if (!o.origin.empty() && !word_chars(o.origin, 200, true)) {
        spdlog::error("--origin: 1-200 printable characters without spaces");
        return false;
    }
    return true;
}

int run(const Options& o) {
    if (!valid_names(o)) return 2;
    for (const auto* list : {&o.exports, &o.imports}) {
        for (const auto& pattern : *list) {
            if (auto ok = ipcbusd::validate_pattern(pattern); !ok) {
                spdlog::error("{}", ok.error().message);
                return 2;
            }
        }
    }
    auto node = ipcbus::Node::create({o.domain});
    if (!node) {
        spdlog::error("{}", node.error().message);
        return 1;
    }
    ipcbus::bridge::Stats stats;
    const std::string nats_domain = o.nats_domain.empty() ? o.domain : o.nats_domain;
    auto link = ipcbus::bridge::NatsLink::connect(
        {o.nats_url, o.reconnect_wait_ms, o.jetstream, nats_domain}, stats);
    if (!link) {
        spdlog::error("{}", link.error().message);
        return 1;
    }
    const std::string origin = o.origin.empty() ? host_origin(o.domain) : o.origin;
    ipcbus::bridge::OwnPublishers own;
    ipcbus::bridge::Importer importer(*node, **link, own, stats, {o.imports, nats_domain, origin});
    ipcbus::bridge::Exporter exporter(*node, **link, own, stats,
                                      {o.exports, nats_domain, origin, o.buffer_messages,
                                       o.buffer_bytes, std::chrono::milliseconds(o.report_ms)});
    for (auto started : {importer.start(), exporter.start()}) {
        if (!started) {
            spdlog::error("{}", started.error().message);
            return 1;
        }
    }
    spdlog::info("bridging domain '{}' as '{}' on {} (origin {})", o.domain, nats_domain,
                 o.nats_url, origin);
    ipcbus::bridge::say("ready");
    auto last = stats.to_json();
    exporter.run(g_stop, [&] {
        const auto now = stats.to_json();
        spdlog::info("exported {} (+{}), imported {} (+{}), buffered {}, dropped {}, gaps {}",
                     now["exported"].get<std::uint64_t>(),
                     now["exported"].get<std::uint64_t>() - last["exported"].get<std::uint64_t>(),
                     now["imported"].get<std::uint64_t>(),
                     now["imported"].get<std::uint64_t>() - last["imported"].get<std::uint64_t>(),
                     now["buffered"].get<std::uint64_t>(),
                     now["buffer_dropped"].get<std::uint64_t>(), now["gaps"].get<std::uint64_t>());
        last = now;
        exporter.announce();  // marks are per connection: renew them after a daemon restart
        importer.announce();
    });
    importer.stop();
    if ((*link)->connected()) (void)natsConnection_FlushTimeout((*link)->connection(), 2000);
    const auto final_stats = stats.to_json();
    spdlog::info("stopping: {}", final_stats.dump());
    ipcbus::bridge::say("stats " + final_stats.dump());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "ipcbus-bridge: carries chosen topics of an ipcbus domain to other hosts over NATS,\n"
        "and topics of other hosts into it. Patterns: '*' one level, '**' any depth.\n"
        "Prints 'ready' when bridging, and its counters as 'stats {json}' on exit."};
    Options options;
    add_options(app, options);
    app.set_version_flag("--version", "ipcbus-bridge " + std::string(ipcbus::version()));
    CLI11_PARSE(app, argc, argv);

    auto logger = spdlog::stderr_color_mt("ipcbus-bridge");
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e ipcbus-bridge[" + options.domain + "] %^%l%$: %v");
    spdlog::set_default_logger(logger);
    spdlog::set_level(spdlog::level::from_str(options.log_level));
    if (options.exports.empty() && options.imports.empty()) {
        spdlog::error("nothing to do: give --export and/or --import patterns");
        return 2;
    }
    struct sigaction action {};
    action.sa_handler = on_signal;
    ::sigaction(SIGINT, &action, nullptr);
    ::sigaction(SIGTERM, &action, nullptr);
    const int status = run(options);
    // Waits for the client library's threads, so that no late callback (a closed
    // connection's last events) runs while the program's statics are torn down.
    (void)nats_CloseAndWait(2000);
    return status;
}
