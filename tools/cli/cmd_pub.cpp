// SPDX-License-Identifier: Apache-2.0
// ipcbus pub TOPIC [TEXT]: publishes raw-bytes messages, TEXT repeated or one per line of
// standard input.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

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
constexpr auto kSubscriberPollInterval = std::chrono::microseconds(200);

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
};

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

// Sends one message; false if a stop was requested while a full reliable ring held it up
// (each send waits for a free slot up to the block timeout, then we look at the flag).
bool send_message(RawPublisher& publisher, std::span<const std::byte> message) {
    if (message.size() > publisher.max_payload_size()) {
        throw CliError(fmt::format("topic '{}': a message of {} bytes does not fit its slots of {}",
                                   publisher.topic(), message.size(),
                                   publisher.max_payload_size()));
    }
    for (;;) {
        auto sent = publisher.send(message);
        if (sent) return true;
        if (sent.error() != LoanError::would_block) {
            throw CliError(fmt::format("topic '{}': send failed: {}", publisher.topic(),
                                       to_string(sent.error())));
        }
        if (stop_requested()) return false;
    }
}

void publish_text(RawPublisher& publisher, const PubOptions& options) {
    const auto message = make_message(options.text, options.size);
    Pacer pacer(options.rate_hz);
    for (std::uint64_t i = 0; i < options.count; ++i) {
        if (!pacer.wait_turn() || !send_message(publisher, message)) return;
    }
}

void publish_lines(RawPublisher& publisher, const PubOptions& options) {
    LineReader input(STDIN_FILENO);
    Pacer pacer(options.rate_hz);
    while (auto line = input.next()) {
        if (!pacer.wait_turn() || !send_message(publisher, make_message(*line, options.size))) {
            return;
        }
    }
}

int run_pub(const PubOptions& options) {
    const Node node = connect(options.domain);
    RawPublisher publisher = open_publisher(node, options);
    const bool subscribed =
        poll_until([&] { return publisher.subscriber_count() >= options.wait_subscribers; },
                   kSubscriberPollInterval);
    if (!subscribed) return 0;  // stopped while waiting
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
        "--wait-subscribers lets a script start them and the publisher together.");
    command->add_option("topic", options->topic, "Topic name")->required();
    CLI::Option* text = command->add_option("text", options->text, "Message to send");
    add_domain_option(*command, options->domain);
    command->add_option("--count", options->count, "How many times to send TEXT (default 1)")
        ->type_name("N")
        ->needs(text);
    command
        ->add_option("--rate", options->rate_hz,
                     "Messages per second (default: as fast as possible)")
        ->type_name("HZ")
        ->check(CLI::NonNegativeNumber.description(""));
    command
        ->add_option("--size", options->size,
                     "Pad each message with zero bytes to BYTES; a topic this creates gets slots "
                     "of BYTES (default 4096)")
        ->type_name("BYTES")
        ->check(CLI::Range(std::uint64_t{1}, max_slot_size).description(""));
    command
        ->add_option("--wait-subscribers", options->wait_subscribers,
                     "Send nothing until at least K subscribers are attached")
        ->type_name("K");
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
