// SPDX-License-Identifier: Apache-2.0
// ipcbus info TOPIC: one topic in detail, with each reader's position and losses.
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_options.hpp"
#include "commands.hpp"
#include "payload_format.hpp"
#include "process_info.hpp"
#include "topic_report.hpp"

namespace ipcbus::cli {
namespace {

struct InfoOptions {
    std::string domain;
    std::string topic;
    bool json = false;
    bool verbose = false;
};

nlohmann::ordered_json process_json(pid_t pid) {
    const ProcessInfo process = describe_process(pid);
    nlohmann::ordered_json out{{"name", process.name}, {"uid", nullptr}, {"state", process.state}};
    if (process.uid) out["uid"] = *process.uid;
    return out;
}

nlohmann::ordered_json readers_json(const TopicInfo& topic) {
    auto readers = nlohmann::ordered_json::array();
    for (const ReaderInfo& reader : topic.readers) {
        nlohmann::ordered_json entry{{"pid", reader.pid},
                                     {"next_sequence", reader.next_sequence},
                                     {"lag", reader_lag(topic, reader)},
                                     {"lost", reader.lost},
                                     {"skipped", reader.skipped},
                                     {"group", reader.group},
                                     {"received", reader.received},
                                     {"held", reader.held},
                                     {"asleep", reader.asleep},
                                     {"released", reader.released}};
        entry.update(process_json(reader.pid));
        readers.push_back(std::move(entry));
    }
    return readers;
}

nlohmann::ordered_json publishers_json(const TopicInfo& topic, std::uint64_t now_ns) {
    auto publishers = nlohmann::ordered_json::array();
    for (const PublisherInfo& publisher : topic.publisher_details) {
        const std::uint64_t since = publisher.blocked_since_ns;
        nlohmann::ordered_json entry{
            {"pid", publisher.pid},
            {"id", publisher.id},
            {"published", publisher.published},
            {"loans", publisher.loans},
            {"blocked_ns", since == 0 || now_ns < since ? 0 : now_ns - since}};
        entry.update(process_json(publisher.pid));
        publishers.push_back(std::move(entry));
    }
    return publishers;
}

nlohmann::ordered_json groups_json(const TopicInfo& topic) {
    auto groups = nlohmann::ordered_json::array();
    for (const GroupInfo& group : topic.groups) {
        groups.push_back({{"name", group.name},
                          {"members", group.members},
                          {"next_sequence", group.next_sequence},
                          {"lag", group_lag(topic, group)},
                          {"lost", group.lost}});
    }
    return groups;
}

nlohmann::ordered_json holding_back_json(const TopicInfo& topic, std::uint64_t now_ns) {
    const auto held = holding_back(topic, now_ns);
    if (!held) return nullptr;
    nlohmann::ordered_json out{{"publisher_pid", held->publisher->pid},
                               {"blocked_ns", held->blocked_ns},
                               {"reader_pid", nullptr}};
    if (held->reader != nullptr) {
        const ProcessInfo reader = describe_process(held->reader->pid);
        out["reader_pid"] = held->reader->pid;
        out["reader_name"] = reader.name;
        out["reader_state"] = reader.state;
        out["reader_released"] = held->reader->released;
    }
    return out;
}

void print_json(const TopicInfo& topic) {
    const std::uint64_t now = monotonic_ns();
    auto out = topic_summary_json(topic);
    out["creator_pid"] = topic.creator_pid;
    out["history_depth"] = topic.history_depth;
    out["pooled"] = topic.pooled;
    out["publisher_details"] = publishers_json(topic, now);
    out["readers"] = readers_json(topic);
    out["groups"] = groups_json(topic);
    out["holding_back"] = holding_back_json(topic, now);
    std::puts(out.dump().c_str());
}

// "pid 4242 (strategy, stopped)"
std::string process_words(pid_t pid) {
    const ProcessInfo process = describe_process(pid);
    return fmt::format("pid {} ({}, {})", pid, process.name, process.state);
}

std::string uid_text(const ProcessInfo& process) {
    return process.uid ? std::to_string(*process.uid) : "?";
}

void print_publishers(const TopicInfo& topic, std::uint64_t now_ns) {
    fmt::print("publishers   {}\n", topic.publishers);
    if (topic.publisher_details.empty()) return;
    constexpr const char* kRow = "  {:>8} {:<16} {:>6} {:>12} {:>6}  {}\n";
    fmt::print(kRow, "PID", "NAME", "UID", "PUBLISHED", "LOANS", "BLOCKED");
    for (const PublisherInfo& publisher : topic.publisher_details) {
        const std::uint64_t since = publisher.blocked_since_ns;
        const ProcessInfo process = describe_process(publisher.pid);
        fmt::print(kRow, publisher.pid, process.name, uid_text(process), publisher.published,
                   publisher.loans,
                   since == 0 ? "-" : "for " + human_duration(now_ns > since ? now_ns - since : 0));
    }
}

void print_readers(const TopicInfo& topic, bool verbose) {
    fmt::print("readers      {}\n", topic.readers.size());
    if (topic.readers.empty()) return;
    if (!verbose) {
        constexpr const char* kRow = "  {:>8} {:>12} {:>12} {:>12}  {}\n";
        fmt::print(kRow, "PID", "LAG", "LOST", "SKIPPED", "GROUP");
        for (const ReaderInfo& reader : topic.readers) {
            fmt::print(kRow, reader.pid, reader_lag(topic, reader), reader.lost, reader.skipped,
                       reader.group.empty() ? "-" : reader.group);
        }
        return;
    }
    constexpr const char* kRow = "  {:>8} {:<16} {:>6} {:<9} {:>10} {:>10} {:>8} {:>5} {:>6}  {}\n";
    fmt::print(kRow, "PID", "NAME", "UID", "STATE", "LAG", "LOST", "SKIPPED", "HELD", "WAITS",
               "GROUP");
    for (const ReaderInfo& reader : topic.readers) {
        const ProcessInfo process = describe_process(reader.pid);
        fmt::print(kRow, reader.pid, process.name, uid_text(process), process.state,
                   reader_lag(topic, reader), reader.lost, reader.skipped, reader.held,
                   reader.asleep ? "asleep" : "busy", reader.group.empty() ? "-" : reader.group);
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

// "held back    publisher pid 17 (pub, sleeping) waits for space for 2.1 s: the ring is
// full, held by reader pid 4242 (strategy, stopped) at sequence 12"
void print_holding_back(const TopicInfo& topic, std::uint64_t now_ns) {
    const auto held = holding_back(topic, now_ns);
    if (!held) {
        fmt::print("held back    no\n");
        return;
    }
    std::string line =
        fmt::format("held back    publisher {} waits for space for {}: the ring is full",
                    process_words(held->publisher->pid), human_duration(held->blocked_ns));
    if (held->reader != nullptr) {
        line += fmt::format(", held by reader {} at sequence {}", process_words(held->reader->pid),
                            held->reader->released);
    }
    fmt::print("{}\n", line);
}

void print_text(const TopicInfo& topic, bool verbose) {
    const std::uint64_t now = monotonic_ns();
    fmt::print("topic        {}\n", topic.name);
    fmt::print("type         {}\n", topic.type_name);
    fmt::print("slot size    {} bytes\n", topic.slot_size);
    fmt::print("capacity     {} slots\n", topic.capacity);
    fmt::print("mode         {}\n", topic.mode);
    fmt::print("created by   {}\n", process_words(topic.creator_pid));
    fmt::print("published    {} messages\n", topic.published);
    if (topic.bridges.empty()) fmt::print("bridged      no\n");
    for (const BridgeInfo& bridge : topic.bridges) {
        fmt::print("bridged      {} {} {} (ipcbus-bridge pid {})\n", bridge.direction,
                   bridge.direction == "export" ? "to" : "from", bridge.remote, bridge.pid);
    }
    print_holding_back(topic, now);
    if (verbose) {
        print_publishers(topic, now);
    } else {
        fmt::print("publishers   {}\n", topic.publishers);
    }
    print_readers(topic, verbose);
    print_groups(topic);
}

int run_info(const InfoOptions& options) {
    (void)unwrap(ipcbus::check_topic_name(options.topic));  // "invalid name", not "no such topic"
    const Node node = connect(options.domain);
    const auto topics = unwrap(node.list_topics());
    const TopicInfo* topic = find_topic(topics, options.topic);
    if (topic == nullptr) throw CliError("no such topic '" + options.topic + "'");
    options.json ? print_json(*topic) : print_text(*topic, options.verbose);
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
        "and the messages overrun before any member took them. 'held back' names the publisher\n"
        "waiting for space in a full reliable ring and the reader holding it (the one furthest\n"
        "behind), with its process name and state ('stopped': someone sent it SIGSTOP).\n"
        "-v adds each publisher (pid, name, uid, messages, loans, blocked for how long) and,\n"
        "for each reader, its name, uid, state, samples held and whether it sleeps or polls.\n"
        "Pids are those of the daemon's pid namespace.");
    command->add_option("topic", options->topic, "Topic name")->required()->transform(topic_name());
    add_domain_option(*command, options->domain);
    command->add_flag("-v,--verbose", options->verbose,
                      "Publishers and readers in full: process names, uids, states, held samples");
    command->add_flag(
        "--json", options->json,
        "One JSON object (always in full): the fields of `topics --json` but rate_hz, "
        "creator_pid, history_depth, pooled, publisher_details: [{pid, id, published, loans, "
        "blocked_ns, name, uid, state}], readers: [{pid, next_sequence, lag, lost, skipped, group, "
        "received, held, asleep, released, name, uid, state}], groups: [{name, members, "
        "next_sequence, lag, lost}], holding_back: null or {publisher_pid, blocked_ns, reader_pid, "
        "reader_name, reader_state, reader_released}");
    command->callback([options, &action] { action = [options] { return run_info(*options); }; });
}

}  // namespace ipcbus::cli
