// SPDX-License-Identifier: Apache-2.0
// ipcbus echo TOPIC: prints each message as it arrives.
#include <fmt/format.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "commands.hpp"
#include "ipcbus/subscriber.hpp"
#include "payload_format.hpp"
#include "wait_for_message.hpp"

namespace ipcbus::cli {
namespace {

// Plain output is for people: a binary payload shows its first bytes only.
constexpr std::size_t kHexBytesShown = 32;

struct EchoOptions {
    std::string domain;
    std::string topic;
    std::uint64_t count = 0;
    bool json = false;
    std::string group;
    std::uint32_t history = 0;
    bool reliable = false;
};

std::string json_line(const SampleInfo& info, std::span<const std::byte> payload,
                      std::uint64_t lost) {
    nlohmann::ordered_json line{{"seq", info.sequence},
                                {"size", info.size},
                                {"lost", lost},
                                {"timestamp_ns", info.timestamp_ns},
                                {"publisher_id", info.publisher_id},
                                {"origin_seq", info.origin_sequence}};
    // nlohmann::json refuses to write a string that is not UTF-8.
    if (is_valid_utf8(payload)) {
        line["payload"] = std::string(as_text(payload));
    } else {
        line["payload"] = to_base64(payload);
        line["encoding"] = "base64";
    }
    return line.dump();
}

std::string plain_line(const SampleInfo& info, std::span<const std::byte> payload) {
    if (is_printable_text(payload)) return fmt::format("{}: {}", info.sequence, as_text(payload));
    return fmt::format("{}: [{} bytes] {}", info.sequence, info.size,
                       to_hex(payload, kHexBytesShown));
}

// Prints one message, and in plain output a note first when messages were lost before it.
void print_message(const EchoOptions& options, const SampleInfo& info,
                   std::span<const std::byte> payload, std::uint64_t lost_before,
                   std::uint64_t lost_now) {
    if (options.json) {
        std::puts(json_line(info, payload, lost_now).c_str());
    } else {
        if (lost_now > lost_before) fmt::print("(lost {} messages)\n", lost_now - lost_before);
        std::puts(plain_line(info, payload).c_str());
    }
    // Whoever reads our output (a pipe, a test) sees each message as soon as it arrived.
    std::fflush(stdout);
}

RawSubscriber open_subscriber(const Node& node, const EchoOptions& options) {
    TopicOptions topic;
    if (options.reliable) topic.mode = DeliveryMode::reliable;
    ReaderOptions reader;
    reader.group = options.group;
    reader.history = options.history;
    return unwrap(RawSubscriber::create(node, options.topic, topic, any_type, reader));
}

int run_echo(const EchoOptions& options) {
    const Node node = connect(options.domain);
    RawSubscriber subscriber = open_subscriber(node, options);
    if (!wait_until_attached(subscriber)) return 0;  // stopped while waiting
    ReceiveBuffer buffer(subscriber.max_payload_size());
    std::uint64_t lost = 0;
    for (std::uint64_t printed = 0; options.count == 0 || printed < options.count; ++printed) {
        const auto info = wait_for_message(subscriber, buffer.bytes());
        if (!info) break;  // stop requested
        const std::uint64_t lost_now = subscriber.lost();
        print_message(options, *info, buffer.bytes().first(info->size), lost, lost_now);
        lost = lost_now;
    }
    return 0;
}

}  // namespace

void add_echo_command(CLI::App& app, CommandAction& action) {
    auto options = std::make_shared<EchoOptions>();
    CLI::App* command = app.add_subcommand("echo", "Print each message of a topic as it arrives");
    command->footer(
        "Plain output: 'SEQ: PAYLOAD', the payload as text when it is printable, else its size\n"
        "and first bytes in hex; '(lost N messages)' when this reader was overrun. Never creates\n"
        "a topic: started before the publisher, it waits for it. Several echo processes with the "
        "same --group share the\n"
        "messages: each goes to exactly one of them.");
    command->add_option("topic", options->topic, "Topic name")->required();
    add_domain_option(*command, options->domain);
    command
        ->add_option("--count", options->count, "Exit after N messages (default 0: until Ctrl-C)")
        ->type_name("N");
    command->add_flag(
        "--json", options->json,
        "One JSON object per line: seq, size, lost (missed so far), timestamp_ns, "
        "publisher_id, origin_seq (the sequence on the host a bridged message came from; "
        "seq otherwise), payload (base64, with \"encoding\":\"base64\", when not UTF-8)");
    command
        ->add_option("--group", options->group,
                     "Join consumer group NAME: its members share the messages, each message "
                     "to one member")
        ->type_name("NAME");
    command
        ->add_option("--history", options->history,
                     "Start with the last H messages already published (at most the ring's "
                     "capacity)")
        ->type_name("H");
    command->add_flag("--reliable", options->reliable,
                      "The topic must be reliable (checked when it exists)");
    command->callback([options, &action] { action = [options] { return run_echo(*options); }; });
}

}  // namespace ipcbus::cli
