// SPDX-License-Identifier: Apache-2.0
// ipcbus echo TOPIC|PATTERN: prints each message as it arrives, of one topic or of every
// topic matching a pattern (including topics created later).
#include <fmt/format.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>

#include "cli_options.hpp"
#include "commands.hpp"
#include "ipcbus/subscriber.hpp"
#include "ipcbus/waitset.hpp"
#include "ipcbus/watcher.hpp"
#include "payload_format.hpp"
#include "wait_for_message.hpp"

namespace ipcbus::cli {
namespace {

// Plain output is for people: a binary payload shows its first bytes only, unless --hex
// or --max-bytes asks for more.
constexpr std::size_t kHexBytesShown = 32;
constexpr std::size_t kDefaultMaxBytes = 4096;
// How long one wait lasts before the stop flag and the watcher are looked at again.
constexpr auto kWaitSlice = std::chrono::milliseconds(100);

enum class PayloadMode { automatic, text, hex, raw, none };

struct EchoOptions {
    std::string domain;
    std::string topic;  // a name, or a pattern with '*' / '**'
    std::uint64_t count = 0;
    bool json = false;
    std::string group;
    std::uint32_t history = 0;
    bool reliable = false;
    PayloadMode payload = PayloadMode::automatic;
    std::optional<std::uint64_t> max_bytes;  // 0: no limit

    [[nodiscard]] bool is_pattern() const { return topic.find('*') != std::string::npos; }
    [[nodiscard]] std::size_t byte_limit() const {
        const std::uint64_t limit = max_bytes.value_or(kDefaultMaxBytes);
        return limit == 0 ? SIZE_MAX : static_cast<std::size_t>(limit);
    }
};

/// When and how old a message is, from its CLOCK_MONOTONIC publish stamp.
struct MessageTime {
    std::uint64_t age_ns;
    timespec published_wall;  // CLOCK_REALTIME now minus the age
};

MessageTime time_of(const SampleInfo& info) {
    const std::uint64_t now = monotonic_ns();
    const std::uint64_t age = now > info.timestamp_ns ? now - info.timestamp_ns : 0;
    timespec wall{};
    ::clock_gettime(CLOCK_REALTIME, &wall);
    const std::uint64_t wall_ns =
        static_cast<std::uint64_t>(wall.tv_sec) * 1'000'000'000ULL + wall.tv_nsec - age;
    return {age,
            {static_cast<time_t>(wall_ns / 1'000'000'000ULL),
             static_cast<long>(wall_ns % 1'000'000'000ULL)}};
}

// "2026-12-02T22:01:39.123456Z": when the message was published, in UTC.
std::string iso8601(const timespec& time) {
    tm utc{};
    ::gmtime_r(&time.tv_sec, &utc);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", utc.tm_year + 1900,
                       utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                       time.tv_nsec / 1000);
}

// "22:01:39.123456": the same, local time, for a line a person reads.
std::string clock_time(const timespec& time) {
    tm local{};
    ::localtime_r(&time.tv_sec, &local);
    return fmt::format("{:02}:{:02}:{:02}.{:06}", local.tm_hour, local.tm_min, local.tm_sec,
                       time.tv_nsec / 1000);
}

std::string json_line(std::string_view topic, const SampleInfo& info,
                      std::span<const std::byte> payload, std::uint64_t lost,
                      const EchoOptions& options) {
    const MessageTime time = time_of(info);
    nlohmann::ordered_json line{{"topic", topic},
                                {"seq", info.sequence},
                                {"size", info.size},
                                {"lost", lost},
                                {"time", iso8601(time.published_wall)},
                                {"age_ns", time.age_ns},
                                {"timestamp_ns", info.timestamp_ns},
                                {"publisher_id", info.publisher_id},
                                {"origin_seq", info.origin_sequence}};
    if (options.payload == PayloadMode::none) return line.dump();
    const auto shown = payload.first(std::min(payload.size(), options.byte_limit()));
    if (shown.size() < payload.size()) line["truncated"] = true;
    // nlohmann::json refuses to write a string that is not UTF-8.
    if (options.payload != PayloadMode::hex && is_valid_utf8(shown)) {
        line["payload"] = std::string(as_text(shown));
    } else if (options.payload == PayloadMode::hex) {
        line["payload"] = to_hex(shown, shown.size());
        line["encoding"] = "hex";
    } else {
        line["payload"] = to_base64(shown);
        line["encoding"] = "base64";
    }
    return line.dump();
}

std::string plain_payload(std::span<const std::byte> payload, const EchoOptions& options) {
    const std::size_t limit = options.byte_limit();
    switch (options.payload) {
        case PayloadMode::text:
            return escaped_text(payload, limit);
        case PayloadMode::hex:
            return fmt::format("[{} bytes] {}", payload.size(), to_hex(payload, limit));
        default:
            break;
    }
    if (is_printable_text(payload)) return escaped_text(payload, limit);
    return fmt::format("[{} bytes] {}", payload.size(),
                       to_hex(payload, options.max_bytes ? limit : kHexBytesShown));
}

// "22:01:39.123456 chat/hello #0 age 41.2 us: hi there"
std::string plain_line(std::string_view topic, const SampleInfo& info,
                       std::span<const std::byte> payload, const EchoOptions& options) {
    const MessageTime time = time_of(info);
    std::string line = fmt::format("{} {} #{} age {}", clock_time(time.published_wall), topic,
                                   info.sequence, human_duration(time.age_ns));
    if (options.payload == PayloadMode::none) return line + fmt::format(" [{} bytes]", info.size);
    return line + ": " + plain_payload(payload, options);
}

void write_raw(std::span<const std::byte> payload) {
    const auto* data = reinterpret_cast<const char*>(payload.data());
    std::size_t written = 0;
    while (written < payload.size()) {
        const ssize_t n = ::write(STDOUT_FILENO, data + written, payload.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw CliError("writing to standard output failed");
        written += static_cast<std::size_t>(n);
    }
}

/// One topic being echoed: its subscriber, the buffer messages are copied into, and the
/// losses already reported.
struct EchoedTopic {
    RawSubscriber subscriber;
    ReceiveBuffer buffer;
    std::uint64_t lost_reported = 0;

    explicit EchoedTopic(RawSubscriber opened)
        : subscriber(std::move(opened)), buffer(subscriber.max_payload_size()) {}
};

// Prints one message, and in plain output a note first when messages were lost before it.
void print_message(const EchoOptions& options, EchoedTopic& topic, const SampleInfo& info) {
    const auto payload = topic.buffer.bytes().first(info.size);
    const std::uint64_t lost_now = topic.subscriber.lost();
    const std::string_view name = topic.subscriber.topic();
    if (options.payload == PayloadMode::raw) {
        write_raw(payload);
    } else if (options.json) {
        std::puts(json_line(name, info, payload, lost_now, options).c_str());
    } else {
        if (lost_now > topic.lost_reported) {
            const std::uint64_t lost = lost_now - topic.lost_reported;
            fmt::print("(lost {} message{} on {})\n", lost, lost == 1 ? "" : "s", name);
        }
        std::puts(plain_line(name, info, payload, options).c_str());
    }
    topic.lost_reported = lost_now;
    // Whoever reads our output (a pipe, a test) sees each message as soon as it arrived.
    std::fflush(stdout);
}

Result<RawSubscriber> open_subscriber(const Node& node, const std::string& name,
                                      const EchoOptions& options) {
    TopicOptions topic;
    if (options.reliable) topic.mode = DeliveryMode::reliable;
    ReaderOptions reader;
    reader.group = options.group;
    reader.history = options.history;
    return RawSubscriber::create(node, name, topic, any_type, reader);
}

/// The topics matching a pattern, growing as the watcher reports new ones.
class PatternEcho {
  public:
    PatternEcho(const Node& node, const EchoOptions& options)
        : node_(node),
          options_(options),
          watcher_(unwrap(TopicWatcher::create(node, options.topic))) {}

    /// Prints messages until --count of them or a stop request.
    void run() {
        add_new_topics();
        if (topics_.empty()) {
            fmt::print(stderr, "waiting for topics matching '{}' (none exists yet)...\n",
                       options_.topic);
            std::fflush(stderr);
        }
        while (!stop_requested() && !done()) {
            if (!print_ready()) wait_a_slice();
            add_new_topics();
        }
    }

  private:
    [[nodiscard]] bool done() const { return options_.count != 0 && printed_ >= options_.count; }

    void add_new_topics() { add_topics(unwrap(watcher_.poll())); }

    void add_topics(const std::vector<std::string>& names) {
        for (const std::string& name : names) {
            auto subscriber = open_subscriber(node_, name, options_);
            if (!subscriber) {  // e.g. not reliable under --reliable: say so, echo the rest
                fmt::print(stderr, "ipcbus: skipping '{}': {}\n", name, subscriber.error().message);
                continue;
            }
            topics_.emplace_back(std::move(*subscriber));
            (void)unwrap(wait_set_.attach(topics_.back().subscriber));
        }
    }

    // Takes what every ready topic has; false if none had anything.
    bool print_ready() {
        bool printed_any = false;
        for (EchoedTopic& topic : topics_) {
            while (!done()) {
                auto received = topic.subscriber.take_copy(topic.buffer.bytes());
                // An error (a corrupt slot, counted in lost()) ends this topic's turn too.
                if (!received || !*received) break;
                print_message(options_, topic, **received);
                ++printed_;
                printed_any = true;
            }
        }
        return printed_any;
    }

    void wait_a_slice() {
        if (topics_.empty()) {
            add_topics(unwrap(watcher_.wait(kWaitSlice)));  // wait() takes the news, as poll()
            return;
        }
        (void)wait_set_.wait(kWaitSlice);
    }

    const Node& node_;
    const EchoOptions& options_;
    TopicWatcher watcher_;
    std::deque<EchoedTopic> topics_;  // a deque: the WaitSet holds references into it
    WaitSet wait_set_;
    std::uint64_t printed_ = 0;
};

void echo_one_topic(const Node& node, const EchoOptions& options) {
    EchoedTopic topic(unwrap(open_subscriber(node, options.topic, options)));
    if (!wait_until_attached(topic.subscriber)) return;  // stopped while waiting
    // Sized now: while it waited, the subscriber knew only the slot size it asked for.
    topic.buffer = ReceiveBuffer(topic.subscriber.max_payload_size());
    for (std::uint64_t printed = 0; options.count == 0 || printed < options.count; ++printed) {
        const auto info = wait_for_message(topic.subscriber, topic.buffer.bytes());
        if (!info) break;  // stop requested
        print_message(options, topic, *info);
    }
}

int run_echo(const EchoOptions& options) {
    const Node node = connect(options.domain);
    if (options.is_pattern()) {
        PatternEcho(node, options).run();
    } else {
        echo_one_topic(node, options);
    }
    return 0;
}

void add_payload_options(CLI::App& command, EchoOptions& options) {
    auto mode_flag = [&](const char* name, PayloadMode mode, const char* help) {
        return command.add_flag_callback(
            name, [&options, mode] { options.payload = mode; }, help);
    };
    CLI::Option* text =
        mode_flag("--text", PayloadMode::text, "Payload as text, bytes that are not text as \\xNN");
    CLI::Option* hex = mode_flag("--hex", PayloadMode::hex, "Payload in hex");
    CLI::Option* raw = mode_flag("--raw", PayloadMode::raw,
                                 "Write each payload's bytes to stdout as they are, nothing else "
                                 "(for `> file` or a pipe)");
    CLI::Option* none =
        mode_flag("--no-payload", PayloadMode::none, "Only the line's time, topic, seq and size");
    for (CLI::Option* a : {text, hex, raw, none}) {
        for (CLI::Option* b : {text, hex, raw, none}) {
            if (a != b) a->excludes(b);
        }
    }
    command
        .add_option("--max-bytes", options.max_bytes,
                    "Show at most N bytes of each payload (default 4096; binary in plain output: "
                    "32; 0: all)")
        ->type_name("N")
        ->check(whole_number(0));
}

}  // namespace

void add_echo_command(CLI::App& app, CommandAction& action) {
    auto options = std::make_shared<EchoOptions>();
    CLI::App* command = app.add_subcommand("echo", "Print each message of a topic as it arrives");
    command->footer(
        "Plain output, one line per message: 'HH:MM:SS.ffffff TOPIC #SEQ age AGE: PAYLOAD',\n"
        "the publish time (local, wall clock), the topic, its sequence, how long ago it was\n"
        "published, and the payload as text when it is printable, else its size and first\n"
        "bytes in hex; '(lost N messages on TOPIC)' when this reader was overrun.\n"
        "TOPIC may be a pattern ('md/*': one level, 'md/**': any number): every matching\n"
        "topic is echoed, including those created later. Never creates a topic: started\n"
        "before the publisher, it waits for it. Several echo processes with the same --group\n"
        "share the messages: each goes to exactly one of them.");
    command->add_option("topic", options->topic, "Topic name or pattern")
        ->required()
        ->transform(topic_name());
    add_domain_option(*command, options->domain);
    command
        ->add_option("--count", options->count, "Exit after N messages (default 0: until Ctrl-C)")
        ->type_name("N")
        ->check(whole_number(0));
    CLI::Option* json = command->add_flag(
        "--json", options->json,
        "One JSON object per line: topic, seq, size, lost (missed so far), time (publish time, "
        "UTC, ISO 8601), age_ns, timestamp_ns (publish time, CLOCK_MONOTONIC), publisher_id, "
        "origin_seq (the sequence on the host a bridged message came from; seq otherwise), "
        "payload (at most --max-bytes; base64 with \"encoding\":\"base64\" when not UTF-8, "
        "\"truncated\":true when cut)");
    command
        ->add_option("--group", options->group,
                     "Join consumer group NAME: its members share the messages, each message "
                     "to one member")
        ->type_name("NAME");
    command
        ->add_option("--history", options->history,
                     "Start with the last H messages already published (at most the ring's "
                     "capacity)")
        ->type_name("H")
        ->check(whole_number(0, UINT32_MAX));
    command->add_flag("--reliable", options->reliable,
                      "The topic must be reliable (checked when it exists)");
    add_payload_options(*command, *options);
    command->get_option("--raw")->excludes(json);
    command->callback([options, &action] { action = [options] { return run_echo(*options); }; });
}

}  // namespace ipcbus::cli
