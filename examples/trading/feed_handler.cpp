// SPDX-License-Identifier: Apache-2.0
// trading_feed_handler: publishes market-data ticks on md/ticks, zero-copy (loan, fill in
// place, publish), at a fixed rate, then a final tick marked `last`.
//
//   trading_feed_handler [--count N] [--rate HZ] [--subscribers K] [--seconds S]
#include <CLI/CLI.hpp>

#include <array>
#include <chrono>
#include <random>
#include <thread>

#include "example_support.hpp"
#include "ipcbus/ipcbus.hpp"
#include "messages.hpp"

namespace {

struct Options {
    std::uint64_t count = 20'000;
    double rate_hz = 10'000;
    std::size_t subscribers = 1;
    double seconds = 30;
};

/// A random walk per symbol: enough movement for the strategy to react to.
class PriceModel {
  public:
    struct Quote {
        const char* symbol;
        double mid;
    };

    Quote next() {
        Instrument& instrument = instruments_[index_++ % instruments_.size()];
        instrument.mid += step_(rng_);
        return {instrument.symbol, instrument.mid};
    }

  private:
    struct Instrument {
        const char* symbol;
        double mid;
    };
    std::array<Instrument, 4> instruments_{
        {{"ACME", 100.0}, {"GLOBX", 42.0}, {"INITECH", 250.0}, {"UMBRL", 17.5}}};
    std::size_t index_ = 0;
    std::mt19937_64 rng_{20240601};  // fixed seed: the same session every run
    std::uniform_real_distribution<double> step_{-0.03, 0.03};
};

void fill(trading::Tick& tick, const PriceModel::Quote& quote, bool last) {
    example::copy_name(tick.symbol, quote.symbol);
    tick.bid = quote.mid - 0.01;
    tick.ask = quote.mid + 0.01;
    tick.bid_size = 100 + static_cast<std::uint32_t>(quote.mid) % 7 * 100;
    tick.ask_size = 300;
    tick.exchange_time_ns = example::now_ns();
    tick.last = last;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    CLI::App app{"Publishes market-data ticks on md/ticks (overwrite mode, zero-copy)."};
    app.add_option("--count", options.count, "Ticks to publish");
    app.add_option("--rate", options.rate_hz, "Ticks per second")->check(CLI::PositiveNumber);
    app.add_option("--subscribers", options.subscribers, "Wait for K subscribers first");
    app.add_option("--seconds", options.seconds, "Stop after S seconds at most");
    CLI11_PARSE(app, argc, argv);
    example::init("feed-handler");
    const example::RunLimit limit(options.seconds);

    const auto node = example::need(ipcbus::Node::create());
    auto publisher = example::need(ipcbus::Publisher<trading::Tick>::create(
        node, trading::kTicksTopic, trading::ticks_options()));
    if (!example::wait_for_subscribers(publisher, options.subscribers, limit)) {
        example::fail("no subscriber came");
    }
    example::say("{} subscriber(s) on {}; publishing {} ticks at {:.0f} Hz", options.subscribers,
                 trading::kTicksTopic, options.count, options.rate_hz);

    PriceModel prices;
    example::LatencyStats publish_cost(options.count);  // loan + fill + publish
    const auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(1.0 / options.rate_hz));
    auto next = std::chrono::steady_clock::now();
    std::uint64_t published = 0;
    for (; published < options.count && limit.keep_going(); ++published) {
        const std::uint64_t start = example::now_ns();
        auto loan = publisher.loan();  // a private buffer: the tick is built in place
        if (!loan) example::fail(std::string(ipcbus::to_string(loan.error())));
        const PriceModel::Quote quote = prices.next();
        fill(**loan, quote, false);
        auto sequence = publisher.publish(std::move(*loan));
        if (!sequence) example::fail(std::string(ipcbus::to_string(sequence.error())));
        publish_cost.add_since(start);
        if (published % (options.count / 4 + 1) == 0) {
            example::say("tick seq={} {} mid={:.2f}", *sequence, quote.symbol, quote.mid);
        }
        next += period;
        std::this_thread::sleep_until(next);
    }
    trading::Tick end{};
    fill(end, {"", 0.0}, true);
    if (!publisher.send(end)) example::fail("could not publish the end of the feed");
    example::say("publish cost (loan + fill + publish): {}", publish_cost.describe());
    example::say_summary(fmt::format("published={}", published));
    return 0;
}
