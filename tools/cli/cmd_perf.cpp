// SPDX-License-Identifier: Apache-2.0
// ipcbus perf: one-way latency across processes. This process publishes messages stamped
// with CLOCK_MONOTONIC on a private topic; subscriber processes it starts (this binary's
// hidden perf-subscriber command) compute receive time minus stamp and report every
// sample back through a pipe; this process prints percentiles of all of them.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.hpp"
#include "ipcbus/publisher.hpp"
#include "perf_protocol.hpp"
#include "subprocess.hpp"

namespace ipcbus::cli {
namespace {

constexpr auto kAttachPollInterval = std::chrono::microseconds(100);

struct PerfOptions {
    std::string domain;
    std::uint64_t size = 64;
    std::uint64_t count = 100'000;
    std::size_t subscribers = 1;
    double rate_hz = 100'000;
    bool json = false;
};

struct PerfResult {
    std::uint64_t p50_ns, p90_ns, p99_ns, p999_ns, max_ns;
    double msgs_per_s;       // measured messages published per second
    std::uint64_t received;  // latency samples, over all subscribers
    std::uint64_t lost;      // over all subscribers
};

std::vector<Subprocess> start_subscribers(const PerfOptions& options, const std::string& topic) {
    const std::vector<std::string> argv{"ipcbus",   std::string(perf::kSubscriberCommand),
                                        "--domain", options.domain,
                                        "--topic",  topic,
                                        "--count",  std::to_string(options.count)};
    std::vector<Subprocess> subscribers;
    for (std::size_t i = 0; i < options.subscribers; ++i) {
        subscribers.emplace_back("/proc/self/exe", argv);
    }
    return subscribers;
}

// False if a stop was requested first.
bool wait_until_attached(const RawPublisher& publisher, std::vector<Subprocess>& subscribers) {
    return poll_until(
        [&] {
            for (auto& subscriber : subscribers) {
                if (const auto code = subscriber.try_wait()) {
                    throw CliError(fmt::format(
                        "a subscriber process exited before it attached (exit code {})", *code));
                }
            }
            return publisher.subscriber_count() >= subscribers.size();
        },
        kAttachPollInterval);
}

void publish_stamped(RawPublisher& publisher, std::size_t size, std::uint64_t index) {
    auto loan = publisher.loan(size);
    if (!loan) {
        throw CliError(
            fmt::format("topic '{}': loan failed: {}", publisher.topic(), to_string(loan.error())));
    }
    const perf::Stamp stamp{monotonic_ns(), index};
    std::memcpy(loan->data().data(), &stamp, sizeof stamp);
    if (auto published = publisher.publish(std::move(*loan)); !published) {
        throw CliError(fmt::format("topic '{}': publish failed: {}", publisher.topic(),
                                   to_string(published.error())));
    }
}

// Publishes the warm-up and measured messages, paced by spinning on the clock (a sleep
// is far coarser than the microseconds between messages), then the end marker. Returns
// the measured messages' publish rate; 0 if a stop was requested.
double publish_all(RawPublisher& publisher, const PerfOptions& options) {
    const std::uint64_t total = perf::kWarmupMessages + options.count;
    const auto interval_ns =
        options.rate_hz > 0 ? static_cast<std::uint64_t>(1e9 / options.rate_hz) : 0;
    std::uint64_t next_ns = monotonic_ns();
    std::uint64_t measured_start_ns = 0;
    for (std::uint64_t i = 0; i < total && !stop_requested(); ++i) {
        std::uint64_t now_ns = monotonic_ns();
        while (now_ns < next_ns) now_ns = monotonic_ns();
        // Late by more than a message (this process was descheduled): start afresh rather
        // than send a burst that would overrun the subscribers.
        next_ns = (now_ns > next_ns + interval_ns ? now_ns : next_ns) + interval_ns;
        if (i == perf::kWarmupMessages) measured_start_ns = now_ns;
        publish_stamped(publisher, options.size, i);
    }
    const std::uint64_t elapsed_ns = monotonic_ns() - measured_start_ns;
    (void)publisher.send({});  // the end marker: every subscriber stops on it
    if (stop_requested()) return 0;
    return static_cast<double>(options.count) * 1e9 / static_cast<double>(elapsed_ns);
}

std::vector<perf::SubscriberReport> collect_reports(std::vector<Subprocess>& subscribers) {
    std::vector<perf::SubscriberReport> reports;
    for (auto& subscriber : subscribers) {
        const auto output = subscriber.read_output();
        if (!output) return {};  // stop requested
        if (const int code = subscriber.wait(); code != 0) {
            throw CliError(fmt::format("a subscriber process failed (exit code {})", code));
        }
        try {
            reports.push_back(perf::report_from_json(*output));
        } catch (const nlohmann::json::exception& error) {
            throw CliError(std::string("a subscriber process sent no valid report: ") +
                           error.what());
        }
    }
    return reports;
}

// Nearest-rank percentile of sorted samples.
std::uint64_t percentile(const std::vector<std::uint64_t>& sorted, double fraction) {
    const auto rank =
        static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
    return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

PerfResult summarize(const std::vector<perf::SubscriberReport>& reports, double msgs_per_s) {
    std::vector<std::uint64_t> latencies;
    std::uint64_t lost = 0;
    for (const auto& report : reports) {
        latencies.insert(latencies.end(), report.latencies_ns.begin(), report.latencies_ns.end());
        lost += report.lost;
    }
    if (latencies.empty()) throw CliError("no measured message reached a subscriber");
    std::sort(latencies.begin(), latencies.end());
    return {percentile(latencies, 0.50),
            percentile(latencies, 0.90),
            percentile(latencies, 0.99),
            percentile(latencies, 0.999),
            latencies.back(),
            msgs_per_s,
            latencies.size(),
            lost};
}

void print_json(const PerfOptions& options, const PerfResult& result) {
    const nlohmann::ordered_json out{{"size", options.size},
                                     {"count", options.count},
                                     {"subscribers", options.subscribers},
                                     {"rate_hz", options.rate_hz},
                                     {"p50_ns", result.p50_ns},
                                     {"p90_ns", result.p90_ns},
                                     {"p99_ns", result.p99_ns},
                                     {"p999_ns", result.p999_ns},
                                     {"max_ns", result.max_ns},
                                     {"msgs_per_s", result.msgs_per_s},
                                     {"received", result.received},
                                     {"lost", result.lost}};
    std::puts(out.dump().c_str());
}

void print_text(const PerfOptions& options, const PerfResult& result) {
    const std::string pacing =
        options.rate_hz > 0 ? fmt::format("paced at {} msg/s", options.rate_hz) : "unpaced";
    fmt::print("{} messages of {} bytes to {} subscriber process(es), {}\n", options.count,
               options.size, options.subscribers, pacing);
    fmt::print("one-way latency (ns): p50 {}  p90 {}  p99 {}  p99.9 {}  max {}\n", result.p50_ns,
               result.p90_ns, result.p99_ns, result.p999_ns, result.max_ns);
    fmt::print("published {:.0f} msg/s; received {} samples, lost {}\n", result.msgs_per_s,
               result.received, result.lost);
}

int run_perf(const PerfOptions& options) {
    const Node node = connect(options.domain);
    TopicOptions topic_options;
    topic_options.slot_size = options.size;
    // One run per process at a time, so the pid makes the topic name unique.
    const std::string topic = fmt::format("ipcbus-perf/{}", ::getpid());
    RawPublisher publisher = unwrap(RawPublisher::create(node, topic, topic_options));
    auto subscribers = start_subscribers(options, topic);
    if (!wait_until_attached(publisher, subscribers)) return 0;
    const double msgs_per_s = publish_all(publisher, options);
    const auto reports = collect_reports(subscribers);
    if (stop_requested()) return 0;
    const PerfResult result = summarize(reports, msgs_per_s);
    options.json ? print_json(options, result) : print_text(options, result);
    return 0;
}

}  // namespace

void add_perf_command(CLI::App& app, CommandAction& action) {
    auto options = std::make_shared<PerfOptions>();
    CLI::App* command = app.add_subcommand("perf", "Measure one-way latency across processes");
    command->footer(
        "Starts --subscribers processes that busy-poll a private topic. The publisher stamps each\n"
        "message with CLOCK_MONOTONIC; each subscriber computes receive time minus stamp. 1000\n"
        "warm-up messages go first, unmeasured. Prints latency percentiles (ns), the publish rate\n"
        "and how many samples were received and lost.");
    add_domain_option(*command, options->domain);
    command->add_option("--size", options->size, "Message size (default 64, at least 16)")
        ->type_name("BYTES")
        ->check(CLI::Range(std::uint64_t{perf::kMinMessageSize}, max_slot_size).description(""));
    command->add_option("--count", options->count, "Measured messages (default 100000)")
        ->type_name("N")
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100'000'000}).description(""));
    command->add_option("--subscribers", options->subscribers, "Subscriber processes (default 1)")
        ->type_name("K")
        ->check(CLI::Range(std::size_t{1}, std::size_t{64}).description(""));
    command
        ->add_option("--rate", options->rate_hz,
                     "Messages per second (default 100000, so subscribers keep up and latency "
                     "has no queueing in it); 0: as fast as possible, and subscribers overrun "
                     "lose messages (reported as lost)")
        ->type_name("HZ")
        ->check(CLI::NonNegativeNumber.description(""));
    command->add_flag("--json", options->json,
                      "One JSON object: size, count, subscribers, rate_hz, p50_ns, p90_ns, "
                      "p99_ns, p999_ns, max_ns, msgs_per_s, received, lost");
    command->callback([options, &action] { action = [options] { return run_perf(*options); }; });
}

}  // namespace ipcbus::cli
