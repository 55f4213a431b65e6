// SPDX-License-Identifier: Apache-2.0
// ipcbus pub TOPIC [TEXT]: publishes raw-bytes messages, TEXT repeated or one per line of
// standard input.
#include <fmt/format.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cli_options.hpp"
#include "commands.hpp"
#include "ipcbus/publisher.hpp"
#include "line_reader.hpp"
#include "payload_format.hpp"

namespace ipcbus::cli {
namespace {

constexpr std::uint64_t kDefaultSlotSize = 4096;
// A reliable topic holds a send back while its slowest reader still needs the whole ring:
// the send sleeps until a slot frees, at most this long before it looks at the stop flag.
constexpr auto kFullRingWaitSlice = std::chrono::milliseconds(100);
constexpr auto kSubscriberWaitSlice = std::chrono::milliseconds(50);
// More than any topic has readers: a bound that turns "--wait-subscribers -1" into an error.
constexpr std::uint64_t max_subscribers_waited_for = 1'000'000;

struct PubOptions {
    std::string domain;
    std::string topic;
    std::string text;
    bool has_text = false;
    std::uint64_t count = 1;
    double rate_hz = 0;
    std::uint64_t size = 0;  // 0: not given
    std::size_t wait_subscribers = 0;
    bool reliable = false;
    double timeout_s = 0;  // 0: no limit
    bool quiet = false;
    bool json = false;
};

/// The end of a wait --timeout bounds: time_point::max() without one.
Clock::time_point deadline_after(double timeout_s) {
    if (timeout_s <= 0) return Clock::time_point::max();
    return Clock::now() +
           std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
}

std::string seconds_text(double seconds) {
    return fmt::format("{:g} s", seconds);
}

/// Spaces sends 1/rate apart (no pacing for rate 0). The schedule is absolute, so the time
/// a send takes or a sleep overshoots does not slow the rate down; but after a long pause
/// (standard input was idle) it starts afresh instead of sending a burst to catch up.
class Pacer {
  public:
    explicit Pacer(double rate_hz)
        : paced_(rate_hz > 0),
          interval_(paced_ ? std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(1.0 / rate_hz))
                           : Clock::duration::zero()),
          next_(Clock::now()) {}

    /// Waits for the next send's turn; false if a stop was requested meanwhile.
    bool wait_turn() {
        if (!paced_) return !stop_requested();
        if (!sleep_until_or_stop(next_)) return false;
        const auto now = Clock::now();
        next_ = (now > next_ + interval_ ? now : next_) + interval_;
        return true;
    }

  private:
    bool paced_;
    Clock::duration interval_;
    Clock::time_point next_;
};

// A topic this creates gets slots of --size bytes (4096 without it), in reliable mode with
// --reliable. An existing topic is used with the slot size it has (the messages just have
// to fit), but --reliable insists on its mode: a publisher that must not lose messages is
// not quietly given an overwrite topic.
RawPublisher open_publisher(const Node& node, const PubOptions& options) {
    TopicOptions wanted;
    if (options.reliable) wanted.mode = DeliveryMode::reliable;
    TopicOptions existing = wanted;
    wanted.slot_size = options.size != 0 ? options.size : kDefaultSlotSize;
    auto publisher = RawPublisher::create(node, options.topic, wanted);
    if (!publisher && publisher.error().code == ErrorCode::parameter_mismatch) {
        publisher = RawPublisher::create(node, options.topic, existing);
    }
    RawPublisher opened = unwrap(std::move(publisher));
    opened.set_block_timeout(kFullRingWaitSlice);
    return opened;
}

std::vector<std::byte> make_message(std::string_view text, std::uint64_t padded_size) {
    const auto bytes = as_bytes(text);
    std::vector<std::byte> message(bytes.begin(), bytes.end());
    if (message.size() < padded_size) message.resize(padded_size, std::byte{0});
    return message;
}

// Says once on stderr why a send is taking long: a reliable topic whose ring is full waits
// for its slowest reader, which may be stopped (`ipcbus info -v` names it).
class FullRingNotice {
  public:
    void waiting(std::string_view topic) {
        if (said_) return;
        said_ = true;
        fmt::print(stderr,
                   "waiting: reliable topic '{}' is full, held back by a reader that has not "
                   "taken its messages (ipcbus info -v {} names it)...\n",
                   topic, topic);
        std::fflush(stderr);
    }

  private:
    bool said_ = false;
};

// Sends one message and returns its sequence; std::nullopt if a stop was requested while a
// full reliable ring held it up (each send waits for a free slot up to the block timeout,
// then we look at the flag and the deadline).
std::optional<std::uint64_t> send_message(RawPublisher& publisher,
                                          std::span<const std::byte> message,
                                          const PubOptions& options) {
    if (message.size() > publisher.max_payload_size()) {
        throw CliError(fmt::format("topic '{}': a message of {} bytes does not fit its slots of {}",
                                   publisher.topic(), message.size(),
                                   publisher.max_payload_size()));
    }
    const auto deadline = deadline_after(options.timeout_s);
    FullRingNotice notice;
    for (;;) {
        auto sent = publisher.send(message);
        if (sent) return *sent;
        if (sent.error() != LoanError::would_block) {
            throw CliError(fmt::format("topic '{}': send failed: {}", publisher.topic(),
                                       to_string(sent.error())));
        }
        if (stop_requested()) return std::nullopt;
        if (Clock::now() >= deadline) {
            throw CliError(fmt::format(
                "topic '{}': timed out after {}: the reliable ring is full and a reader does not "
                "take its messages (ipcbus info -v {} names it); the message was not sent",
                publisher.topic(), seconds_text(options.timeout_s), publisher.topic()));
        }
        notice.waiting(publisher.topic());
    }
}

// `published 8 bytes to chat/hello (seq 0, 0 subscribers)`: a message sent with nobody
// attached is gone, and the count says so.
void confirm(const RawPublisher& publisher, std::size_t size, std::uint64_t sequence,
             const PubOptions& options) {
    if (options.quiet) return;
    const std::size_t subscribers = publisher.subscriber_count();
    if (options.json) {
        const nlohmann::ordered_json line{{"topic", publisher.topic()},
                                          {"seq", sequence},
                                          {"size", size},
                                          {"subscribers", subscribers}};
        std::puts(line.dump().c_str());
    } else {
        fmt::print("published {} byte{} to {} (seq {}, {} subscriber{})\n", size,
                   size == 1 ? "" : "s", publisher.topic(), sequence, subscribers,
                   subscribers == 1 ? "" : "s");
    }
    std::fflush(stdout);
}

bool publish_one(RawPublisher& publisher, std::span<const std::byte> message,
                 const PubOptions& options) {
    const auto sequence = send_message(publisher, message, options);
    if (!sequence) return false;
    confirm(publisher, message.size(), *sequence, options);
    return true;
}

void publish_text(RawPublisher& publisher, const PubOptions& options) {
    const auto message = make_message(options.text, options.size);
    Pacer pacer(options.rate_hz);
    for (std::uint64_t i = 0; i < options.count; ++i) {
        if (!pacer.wait_turn() || !publish_one(publisher, message, options)) return;
    }
}

void publish_lines(RawPublisher& publisher, const PubOptions& options) {
    LineReader input(STDIN_FILENO);
    Pacer pacer(options.rate_hz);
    while (auto line = input.next()) {
        if (!pacer.wait_turn() ||
            !publish_one(publisher, make_message(*line, options.size), options)) {
            return;
        }
    }
}

// Waits until `wanted` subscribers are attached, saying so once on stderr; false if a stop
// was requested first, a CliError when --timeout passes.
bool wait_for_subscribers(const RawPublisher& publisher, const PubOptions& options) {
    const std::size_t wanted = options.wait_subscribers;
    if (publisher.subscriber_count() >= wanted) return true;
    fmt::print(stderr, "waiting for {} subscriber{} on '{}' ({} attached)...\n", wanted,
               wanted == 1 ? "" : "s", publisher.topic(), publisher.subscriber_count());
    std::fflush(stderr);
    const auto deadline = deadline_after(options.timeout_s);
    // The library's wait, in slices, so that Ctrl-C and --timeout are looked at between.
    while (!publisher.wait_for_subscribers(wanted, kSubscriberWaitSlice)) {
        if (stop_requested()) return false;
        if (Clock::now() >= deadline) {
            throw CliError(
                fmt::format("topic '{}': timed out after {} waiting for {} subscriber{} "
                            "({} attached); nothing was sent",
                            publisher.topic(), seconds_text(options.timeout_s), wanted,
                            wanted == 1 ? "" : "s", publisher.subscriber_count()));
        }
    }
    return true;
}

int run_pub(const PubOptions& options) {
    const Node node = connect(options.domain);
    RawPublisher publisher = open_publisher(node, options);
    if (!wait_for_subscribers(publisher, options)) return 0;  // stopped while waiting
    options.has_text ? publish_text(publisher, options) : publish_lines(publisher, options);
    return 0;
}

}  // namespace

void add_pub_command(CLI::App& app, CommandAction& action) {
    auto options = std::make_shared<PubOptions>();
    CLI::App* command = app.add_subcommand("pub", "Publish raw-bytes messages");
    command->footer(
        "With TEXT: sends it --count times. Without: sends each line of standard input (without\n"
        "its newline) as one message, in order, until end of input. Creates the topic if it does\n"
        "not exist. Subscribers see only what is sent after they attach (or --history back):\n"
        "--wait-subscribers lets a script start them and the publisher together.\n"
        "Prints 'published N bytes to TOPIC (seq S, K subscribers)' for each message (-q: "
        "nothing):\n"
        "a message sent while no subscriber is attached is gone.");
    command->add_option("topic", options->topic, "Topic name")->required()->transform(topic_name());
    CLI::Option* text = command->add_option("text", options->text, "Message to send");
    add_domain_option(*command, options->domain);
    command->add_option("--count", options->count, "How many times to send TEXT (default 1)")
        ->type_name("N")
        ->check(whole_number(1))
        ->needs(text);
    command
        ->add_option("--rate", options->rate_hz,
                     "Messages per second (default: as fast as possible)")
        ->type_name("HZ")
        ->check(non_negative_number());
    command
        ->add_option("--size", options->size,
                     "Pad each message with zero bytes to BYTES; a topic this creates gets slots "
                     "of BYTES (default 4096)")
        ->type_name("BYTES")
        ->check(whole_number(1, max_slot_size));
    command
        ->add_option("--wait-subscribers", options->wait_subscribers,
                     "Send nothing until at least K subscribers are attached")
        ->type_name("K")
        ->check(whole_number(0, max_subscribers_waited_for));
    command
        ->add_option("--timeout", options->timeout_s,
                     "Fail (exit 1) if --wait-subscribers, or a send held back by a full "
                     "reliable ring, waits longer than SECONDS (default: no limit)")
        ->type_name("SECONDS")
        ->check(non_negative_number());
    command->add_flag("-q,--quiet", options->quiet, "Print nothing for the messages sent");
    command->add_flag("--json", options->json,
                      "For each message sent, one JSON object: topic, seq, size, subscribers "
                      "(attached when it was sent)");
    command->add_flag("--reliable", options->reliable,
                      "Create the topic in reliable mode (no message overwritten before every "
                      "reader has it; sends wait for slow readers); an existing topic must be "
                      "reliable");
    command->callback([options, text, &action] {
        options->has_text = text->count() > 0;
        action = [options] { return run_pub(*options); };
    });
}

}  // namespace ipcbus::cli
