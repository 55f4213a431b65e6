// SPDX-License-Identifier: Apache-2.0
// ipcbus hz TOPIC: live message rate, bandwidth and the spread of the intervals between
// messages, one line per second.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli_options.hpp"
#include "commands.hpp"
#include "ipcbus/subscriber.hpp"
#include "payload_format.hpp"
#include "wait_for_message.hpp"

namespace ipcbus::cli {
namespace {

constexpr auto kReportInterval = std::chrono::milliseconds(1000);

struct HzOptions {
    std::string domain;
    std::string topic;
    unsigned window_s = 1;
    std::uint64_t count = 0;
    bool json = false;
};

/// The intervals between consecutive messages' publish stamps: count, extremes, and the
/// sums the mean and standard deviation come from. Two of them merge, so a window of
/// seconds is the merge of its seconds.
struct IntervalStats {
    std::uint64_t count = 0;
    double min_ns = 0;
    double max_ns = 0;
    double sum_ns = 0;
    double sum_squares = 0;

    void add(double interval_ns) {
        min_ns = count == 0 ? interval_ns : std::min(min_ns, interval_ns);
        max_ns = count == 0 ? interval_ns : std::max(max_ns, interval_ns);
        ++count;
        sum_ns += interval_ns;
        sum_squares += interval_ns * interval_ns;
    }

    void merge(const IntervalStats& other) {
        if (other.count == 0) return;
        min_ns = count == 0 ? other.min_ns : std::min(min_ns, other.min_ns);
        max_ns = count == 0 ? other.max_ns : std::max(max_ns, other.max_ns);
        count += other.count;
        sum_ns += other.sum_ns;
        sum_squares += other.sum_squares;
    }

    [[nodiscard]] double mean_ns() const { return sum_ns / static_cast<double>(count); }
    [[nodiscard]] double stddev_ns() const {
        const double mean = mean_ns();
        // Population deviation; max() guards against rounding below zero.
        return std::sqrt(std::max(0.0, sum_squares / static_cast<double>(count) - mean * mean));
    }
};

/// Running totals at one moment (the rates are differences between two of them) and the
/// intervals seen since the snapshot before.
struct Snapshot {
    Clock::time_point time;
    std::uint64_t messages = 0;
    std::uint64_t bytes = 0;
    std::uint64_t lost = 0;
    IntervalStats intervals{};
};

/// What one report says.
struct Rates {
    double seconds;
    double messages_per_s;
    double bytes_per_s;
    double lost_per_s;
    IntervalStats intervals;
};

void print_text(const Rates& rates) {
    std::string line = fmt::format(
        "rate {:.1f} msg/s  bandwidth {}/s  lost {:.1f} msg/s  (over {:.1f} s)",
        rates.messages_per_s, human_bytes(rates.bytes_per_s), rates.lost_per_s, rates.seconds);
    const IntervalStats& i = rates.intervals;
    if (i.count > 0) {
        auto shown = [](double ns) { return human_duration(static_cast<std::uint64_t>(ns)); };
        line += fmt::format("  interval min {} mean {} max {} stddev {}", shown(i.min_ns),
                            shown(i.mean_ns()), shown(i.max_ns), shown(i.stddev_ns()));
    }
    std::puts(line.c_str());
}

void print_json(const Rates& rates) {
    nlohmann::ordered_json line{
        {"rate_hz", rates.messages_per_s},    {"bytes_per_s", rates.bytes_per_s},
        {"lost_per_s", rates.lost_per_s},     {"window_s", rates.seconds},
        {"intervals", rates.intervals.count}, {"interval_ns", nullptr}};
    const IntervalStats& i = rates.intervals;
    if (i.count > 0) {
        line["interval_ns"] = {
            {"min", i.min_ns}, {"mean", i.mean_ns()}, {"max", i.max_ns}, {"stddev", i.stddev_ns()}};
    }
    std::puts(line.dump().c_str());
}

/// The last `window` of snapshots, one per report.
class RateWindow {
  public:
    RateWindow(Clock::duration window, const Snapshot& start) : window_(window), history_{start} {}

    /// Records `now` and returns the rates between it and the oldest snapshot still in the
    /// window (fewer seconds than the window at first).
    Rates report(const Snapshot& now) {
        history_.push_back(now);
        // Half a report interval of slack: reports come a little more or less than a
        // second apart, and a window of S seconds should span S of them.
        while (history_.size() > 2 &&
               now.time - history_[1].time >= window_ - kReportInterval / 2) {
            history_.pop_front();
        }
        const Snapshot& from = history_.front();
        const double seconds = std::chrono::duration<double>(now.time - from.time).count();
        Rates rates{seconds,
                    static_cast<double>(now.messages - from.messages) / seconds,
                    static_cast<double>(now.bytes - from.bytes) / seconds,
                    static_cast<double>(now.lost - from.lost) / seconds,
                    {}};
        // The oldest snapshot's intervals came before the window began.
        for (std::size_t k = 1; k < history_.size(); ++k)
            rates.intervals.merge(history_[k].intervals);
        return rates;
    }

  private:
    Clock::duration window_;
    std::deque<Snapshot> history_;
};

int run_hz(const HzOptions& options) {
    const Node node = connect(options.domain);
    RawSubscriber subscriber = unwrap(RawSubscriber::create(node, options.topic));
    if (!wait_until_attached(subscriber)) return 0;  // stopped while waiting
    ReceiveBuffer buffer(subscriber.max_payload_size());
    Snapshot totals{Clock::now()};
    RateWindow window(std::chrono::seconds(options.window_s), totals);
    auto next_report = totals.time + kReportInterval;
    std::optional<std::uint64_t> last_stamp;
    for (std::uint64_t reports = 0; options.count == 0 || reports < options.count;) {
        if (const auto info = wait_for_message(subscriber, buffer.bytes(), next_report)) {
            ++totals.messages;
            totals.bytes += info->size;
            // Publish stamps, not arrival times: a reader woken once for a burst would see
            // intervals of nothing. A stamp older than the last (two publishers) adds none.
            if (last_stamp && info->timestamp_ns >= *last_stamp) {
                totals.intervals.add(static_cast<double>(info->timestamp_ns - *last_stamp));
            }
            last_stamp = info->timestamp_ns;
        }
        if (stop_requested()) break;
        // Checked after every message too: a busy topic never lets the wait time out.
        if (Clock::now() < next_report) continue;
        totals.time = Clock::now();
        totals.lost = subscriber.lost();
        const Rates rates = window.report(totals);
        options.json ? print_json(rates) : print_text(rates);
        std::fflush(stdout);
        totals.intervals = {};
        ++reports;
        next_report += kReportInterval;
    }
    return 0;
}

}  // namespace

void add_hz_command(CLI::App& app, CommandAction& action) {
    auto options = std::make_shared<HzOptions>();
    CLI::App* command =
        app.add_subcommand("hz", "Print a topic's message rate and bandwidth every second");
    command->footer(
        "Counts what this subscriber receives; 'lost' is what it missed because it was overrun.\n"
        "'interval' is the spread of the gaps between consecutive messages' publish times\n"
        "(min, mean, max, standard deviation) over the window: the jitter of the publisher.\n"
        "Runs until Ctrl-C, or for --count lines. Never creates the topic: it waits for it.");
    command->add_option("topic", options->topic, "Topic name")->required()->transform(topic_name());
    add_domain_option(*command, options->domain);
    command
        ->add_option("--window", options->window_s, "Average over the last S seconds (default 1)")
        ->type_name("S")
        ->check(whole_number(1, 3600));
    command->add_option("--count", options->count, "Exit after N lines (default 0: until Ctrl-C)")
        ->type_name("N")
        ->check(whole_number(0));
    command->add_flag("--json", options->json,
                      "One JSON object per line: rate_hz, bytes_per_s, lost_per_s, window_s, "
                      "intervals (how many), interval_ns: null or {min, mean, max, stddev}");
    command->callback([options, &action] { action = [options] { return run_hz(*options); }; });
}

}  // namespace ipcbus::cli
