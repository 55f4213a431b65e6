// SPDX-License-Identifier: Apache-2.0
// ipcbus info TOPIC: one topic in detail, with each reader's position and losses.
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_options.hpp"
#include "commands.hpp"
#include "topic_report.hpp"

namespace ipcbus::cli {
namespace {

struct InfoOptions {
    std::string domain;
    std::string topic;
    bool json = false;
};

void print_json(const TopicInfo& topic) {
    auto out = topic_summary_json(topic);
    out["creator_pid"] = topic.creator_pid;
    auto readers = nlohmann::ordered_json::array();
    for (const ReaderInfo& reader : topic.readers) {
        readers.push_back({{"pid", reader.pid},
                           {"next_sequence", reader.next_sequence},
                           {"lag", reader_lag(topic, reader)},
                           {"lost", reader.lost},
                           {"skipped", reader.skipped},
                           {"group", reader.group}});
    }
    out["readers"] = std::move(readers);
    auto groups = nlohmann::ordered_json::array();
    for (const GroupInfo& group : topic.groups) {
        groups.push_back({{"name", group.name},
                          {"members", group.members},
                          {"next_sequence", group.next_sequence},
                          {"lag", group_lag(topic, group)},
                          {"lost", group.lost}});
    }
    out["groups"] = std::move(groups);
    std::puts(out.dump().c_str());
}

void print_readers(const TopicInfo& topic) {
    fmt::print("readers      {}\n", topic.readers.size());
    if (topic.readers.empty()) return;
    constexpr const char* kRow = "  {:>8} {:>12} {:>12} {:>12}  {}\n";
    fmt::print(kRow, "PID", "LAG", "LOST", "SKIPPED", "GROUP");
    for (const ReaderInfo& reader : topic.readers) {
        fmt::print(kRow, reader.pid, reader_lag(topic, reader), reader.lost, reader.skipped,
                   reader.group.empty() ? "-" : reader.group);
    }
}

void print_groups(const TopicInfo& topic) {
    fmt::print("groups       {}\n", topic.groups.size());
    if (topic.groups.empty()) return;
    constexpr const char* kRow = "  {:<24} {:>8} {:>14} {:>12} {:>12}\n";
    fmt::print(kRow, "NAME", "MEMBERS", "NEXT SEQUENCE", "LAG", "LOST");
    for (const GroupInfo& group : topic.groups) {
        fmt::print(kRow, group.name, group.members, group.next_sequence, group_lag(topic, group),
                   group.lost);
    }
}

void print_text(const TopicInfo& topic) {
    fmt::print("topic        {}\n", topic.name);
    fmt::print("type         {}\n", topic.type_name);
    fmt::print("slot size    {} bytes\n", topic.slot_size);
    fmt::print("capacity     {} slots\n", topic.capacity);
    fmt::print("mode         {}\n", topic.mode);
    fmt::print("created by   pid {}\n", topic.creator_pid);
    fmt::print("publishers   {}\n", topic.publishers);
    fmt::print("published    {} messages\n", topic.published);
    if (topic.bridges.empty()) fmt::print("bridged      no\n");
    for (const BridgeInfo& bridge : topic.bridges) {
        fmt::print("bridged      {} {} {} (ipcbus-bridge pid {})\n", bridge.direction,
                   bridge.direction == "export" ? "to" : "from", bridge.remote, bridge.pid);
    }
    print_readers(topic);
    print_groups(topic);
}

int run_info(const InfoOptions& options) {
    const Node node = connect(options.domain);
    const auto topics = unwrap(node.list_topics());
    const TopicInfo* topic = find_topic(topics, options.topic);
    if (topic == nullptr) throw CliError("no such topic '" + options.topic + "'");
    options.json ? print_json(*topic) : print_text(*topic);
    return 0;
}

}  // namespace

void add_info_command(CLI::App& app, CommandAction& action) {
    auto options = std::make_shared<InfoOptions>();
    CLI::App* command = app.add_subcommand("info", "Show one topic in detail, with its readers");
    command->footer(
        "For each reader: its pid, lag (messages published that it has not read yet), lost\n"
        "(missed because it was overrun), skipped (abandoned by their publisher) and consumer\n"
        "group. For each consumer group: its members, the next sequence it hands out, its lag\n"
        "and the messages overrun before any member took them.");
    command->add_option("topic", options->topic, "Topic name")->required()->transform(topic_name());
    add_domain_option(*command, options->domain);
    command->add_flag(
        "--json", options->json,
        "One JSON object: the fields of `topics --json` but rate_hz, creator_pid, "
        "readers: [{pid, next_sequence, lag, lost, skipped, group}] and groups: [{name, "
        "members, next_sequence, lag, lost}]");
    command->callback([options, &action] { action = [options] { return run_info(*options); }; });
}

}  // namespace ipcbus::cli
