// SPDX-License-Identifier: Apache-2.0
// ipcbus perf-subscriber (hidden): one subscriber process of `ipcbus perf`. It busy-polls
// the topic, computes each message's one-way latency, and writes its report to stdout.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "commands.hpp"
#include "ipcbus/subscriber.hpp"
#include "perf_protocol.hpp"

namespace ipcbus::cli {
namespace {

struct PerfSubscriberOptions {
    std::string domain;
    std::string topic;
    std::uint64_t count = 0;
};

// Receives until the end marker; polling never sleeps (a sleep would be measured as
// latency): this process gives its CPU to the measurement.
perf::SubscriberReport receive_all(RawSubscriber& subscriber, std::uint64_t count) {
    perf::SubscriberReport report;
    report.latencies_ns.reserve(count);
    std::uint64_t torn = 0;
    while (!stop_requested()) {
        auto taken = subscriber.take();
        if (!taken || !taken->has_value()) continue;  // an error is counted in lost()
        const RawSample& sample = **taken;
        const std::uint64_t received_ns = monotonic_ns();
        if (sample.info().size == 0) break;  // end of the run
        if (sample.info().size < perf::kMinMessageSize) continue;
        perf::Stamp stamp{};
        std::memcpy(&stamp, sample.data().data(), sizeof stamp);
        if (sample.overwritten()) {  // the publisher lapped us while we read it
            ++torn;
            continue;
        }
        if (stamp.index >= perf::kWarmupMessages) {
            report.latencies_ns.push_back(received_ns - stamp.sent_ns);
        }
    }
    report.lost = subscriber.lost() + torn;
    return report;
}

int run_perf_subscriber(const PerfSubscriberOptions& options) {
    const Node node = connect(options.domain);
    RawSubscriber subscriber = unwrap(RawSubscriber::create(node, options.topic));
    const auto report = receive_all(subscriber, options.count);
    if (stop_requested()) return 0;
    std::puts(perf::to_json(report).dump().c_str());
    std::fflush(stdout);
    return 0;
}

}  // namespace

void add_perf_subscriber_command(CLI::App& app, CommandAction& action) {
    auto options = std::make_shared<PerfSubscriberOptions>();
    CLI::App* command = app.add_subcommand(std::string(perf::kSubscriberCommand),
                                           "A subscriber process of `ipcbus perf`");
    command->group("");  // hidden from --help: only `ipcbus perf` starts it
    command->add_option("--domain", options->domain)->required();
    command->add_option("--topic", options->topic)->required();
    command->add_option("--count", options->count, "Measured messages to expect")->required();
    command->callback(
        [options, &action] { action = [options] { return run_perf_subscriber(*options); }; });
}

}  // namespace ipcbus::cli
