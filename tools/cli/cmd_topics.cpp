// SPDX-License-Identifier: Apache-2.0
// ipcbus topics [PATTERN]: the domain's topics (those matching PATTERN), with their rates.
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cli_options.hpp"
#include "commands.hpp"
#include "ipcbus/watcher.hpp"
#include "topic_report.hpp"

namespace ipcbus::cli {
namespace {

// The rate is the growth of each topic's `published` count between two listings this far
// apart: long enough to see a slow topic move, short enough not to make people wait.
constexpr auto kRateInterval = std::chrono::milliseconds(200);

struct TopicsOptions {
    std::string domain;
    std::string pattern;  // empty: every topic
    bool json = false;
};

struct TopicRate {
    TopicInfo topic;
    double messages_per_s;
};

double rate_between(const TopicInfo* before, const TopicInfo& after, double seconds) {
    // A topic missing from the first listing was created in between: all its messages
    // were published during the interval.
    const std::uint64_t start = before != nullptr ? before->published : 0;
    return after.published >= start ? static_cast<double>(after.published - start) / seconds : 0.0;
}

// The names matching `pattern`, as the daemon matches them (a watcher's first poll lists
// the matching topics that exist; a later one, those created since).
class PatternFilter {
  public:
    PatternFilter(const Node& node, const std::string& pattern) {
        if (pattern.empty()) return;
        watcher_.emplace(unwrap(TopicWatcher::create(node, pattern)));
        add_news();
    }

    void add_news() {
        if (!watcher_) return;
        for (std::string& name : unwrap(watcher_->poll())) names_.insert(std::move(name));
    }

    [[nodiscard]] bool keeps(const std::string& name) const {
        return !watcher_ || names_.contains(name);
    }

  private:
    std::optional<TopicWatcher> watcher_;
    std::set<std::string> names_;
};

std::vector<TopicRate> list_with_rates(const Node& node, const std::string& pattern) {
    PatternFilter filter(node, pattern);
    const auto first = unwrap(node.list_topics());
    const auto first_time = Clock::now();
    sleep_until_or_stop(first_time + kRateInterval);
    auto second = unwrap(node.list_topics());
    const double seconds = std::chrono::duration<double>(Clock::now() - first_time).count();
    filter.add_news();  // created since the watch started
    std::vector<TopicRate> rates;
    for (auto& topic : second) {
        if (!filter.keeps(topic.name)) continue;
        const double rate = rate_between(find_topic(first, topic.name), topic, seconds);
        rates.push_back({std::move(topic), rate});
    }
    return rates;
}

void print_json(const std::vector<TopicRate>& rates) {
    auto list = nlohmann::ordered_json::array();
    for (const auto& [topic, rate] : rates) {
        auto entry = topic_summary_json(topic);
        entry["rate_hz"] = rate;
        list.push_back(std::move(entry));
    }
    std::puts(list.dump().c_str());
}

void print_table(const std::vector<TopicRate>& rates, const std::string& pattern) {
    if (rates.empty()) {
        std::puts(pattern.empty() ? "no topics"
                                  : fmt::format("no topics match '{}'", pattern).c_str());
        return;
    }
    constexpr const char* kRow = "{:<32} {:<24} {:>10} {:>8} {:<9} {:>4} {:>4} {:>12}  {}\n";
    fmt::print(kRow, "TOPIC", "TYPE", "SLOT", "CAPACITY", "MODE", "PUBS", "SUBS", "RATE (msg/s)",
               "BRIDGED");
    for (const auto& [topic, rate] : rates) {
        fmt::print(kRow, topic.name, topic.type_name, topic.slot_size, topic.capacity, topic.mode,
                   topic.publishers, topic.subscribers, fmt::format("{:.1f}", rate),
                   bridged_summary(topic));
    }
}

int run_topics(const TopicsOptions& options) {
    const Node node = connect(options.domain);
    const auto rates = list_with_rates(node, options.pattern);
    options.json ? print_json(rates) : print_table(rates, options.pattern);
    return 0;
}

}  // namespace

void add_topics_command(CLI::App& app, CommandAction& action) {
    auto options = std::make_shared<TopicsOptions>();
    CLI::App* command = app.add_subcommand("topics", "List the domain's topics");
    command->footer(
        "Columns: name, type, slot size (bytes), capacity (slots), delivery mode, publishers,\n"
        "subscribers, the message rate, measured over 200 ms (the command takes that long), and\n"
        "whether ipcbus-bridge carries the topic to other hosts (export), from them (import),\n"
        "or both.\n"
        "PATTERN: levels separated by '/'; '*' matches one level, '**' any number ('md/**').");
    command->add_option("pattern", options->pattern, "List only the topics matching PATTERN")
        ->transform(topic_name());
    add_domain_option(*command, options->domain);
    command->add_flag(
        "--json", options->json,
        "One JSON array of objects: name, type, slot_size, capacity, mode, "
        "publishers, subscribers, published, bridges [{direction, remote, pid}], rate_hz");
    command->callback([options, &action] { action = [options] { return run_topics(*options); }; });
}

}  // namespace ipcbus::cli
