// SPDX-License-Identifier: Apache-2.0
// ipcbus hz TOPIC: live message rate and bandwidth, one line per second.
#include <fmt/format.h>

#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <string>

#include "cli_options.hpp"
#include "commands.hpp"
#include "ipcbus/subscriber.hpp"
#include "wait_for_message.hpp"

namespace ipcbus::cli {
namespace {

constexpr auto kReportInterval = std::chrono::milliseconds(1000);

struct HzOptions {
    std::string domain;
    std::string topic;
    unsigned window_s = 1;
    std::uint64_t count = 0;
};

/// Running totals at one moment; the rates are differences between two of them.
struct Snapshot {
    Clock::time_point time;
    std::uint64_t messages = 0;
    std::uint64_t bytes = 0;
    std::uint64_t lost = 0;
};

/// The last `window` of snapshots, one per report.
class RateWindow {
  public:
    RateWindow(Clock::duration window, const Snapshot& start) : window_(window), history_{start} {}

    /// Records `now` and prints the rates between it and the oldest snapshot still in the
    /// window (fewer seconds than the window at first).
    void report(const Snapshot& now) {
        history_.push_back(now);
        // Half a report interval of slack: reports come a little more or less than a
        // second apart, and a window of S seconds should span S of them.
        while (history_.size() > 2 &&
               now.time - history_[1].time >= window_ - kReportInterval / 2) {
            history_.pop_front();
        }
        print_rates(history_.front(), now);
    }

  private:
    static void print_rates(const Snapshot& from, const Snapshot& to) {
        const double seconds = std::chrono::duration<double>(to.time - from.time).count();
        fmt::print("rate {:.1f} msg/s  bandwidth {}/s  lost {:.1f} msg/s  (over {:.1f} s)\n",
                   static_cast<double>(to.messages - from.messages) / seconds,
                   human_bytes(static_cast<double>(to.bytes - from.bytes) / seconds),
                   static_cast<double>(to.lost - from.lost) / seconds, seconds);
        std::fflush(stdout);
    }

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
    for (std::uint64_t reports = 0; options.count == 0 || reports < options.count;) {
        if (const auto info = wait_for_message(subscriber, buffer.bytes(), next_report)) {
            ++totals.messages;
            totals.bytes += info->size;
        }
        if (stop_requested()) break;
        // Checked after every message too: a busy topic never lets the wait time out.
        if (Clock::now() < next_report) continue;
        totals.time = Clock::now();
        totals.lost = subscriber.lost();
        window.report(totals);
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
        "Runs until Ctrl-C, or for --count lines.");
    command->add_option("topic", options->topic, "Topic name")->required()->transform(topic_name());
    add_domain_option(*command, options->domain);
    command
        ->add_option("--window", options->window_s, "Average over the last S seconds (default 1)")
        ->type_name("S")
        ->check(CLI::Range(1U, 3600U).description(""));
    command->add_option("--count", options->count, "Exit after N lines (default 0: until Ctrl-C)")
        ->type_name("N");
    command->callback([options, &action] { action = [options] { return run_hz(*options); }; });
}

}  // namespace ipcbus::cli
