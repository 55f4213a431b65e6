// SPDX-License-Identifier: Apache-2.0
// trading_strategy: reads md/ticks by busy-polling (no system call, no sleep: the lowest
// latency, at the price of one core), keeps an average price per symbol, and publishes a
// trade_signal when the price strays far from it (mean reversion).
//
//   trading_strategy [--listeners K] [--threshold PRICE] [--seconds S]
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <string>

#include "example_support.hpp"
#include "ipcbus/ipcbus.hpp"
#include "messages.hpp"

namespace {

struct Options {
    std::size_t listeners = 3;  // execution, notification, logging
    double threshold = 0.08;
    double seconds = 30;
};

/// Exponential moving average of one symbol's mid price, and when it last signalled.
struct SymbolState {
    double average = 0;
    std::uint64_t ticks = 0;
    std::uint64_t quiet_until = 0;  // no new signal for this symbol before that tick
};

class MeanReversion {
  public:
    explicit MeanReversion(double threshold) : threshold_(threshold) {}

    /// A signal if this tick's mid is more than the threshold away from the average.
    std::optional<trading::TradeSignal> on_tick(const trading::Tick& tick, std::uint64_t sequence) {
        SymbolState& state = symbols_[tick.symbol];
        const double mid = (tick.bid + tick.ask) / 2;
        state.average = state.ticks == 0 ? mid : state.average + kAlpha * (mid - state.average);
        ++state.ticks;
        const double gap = mid - state.average;
        if (state.ticks < kWarmUp || state.ticks < state.quiet_until ||
            std::abs(gap) < threshold_) {
            return std::nullopt;
        }
        state.quiet_until = state.ticks + kQuietTicks;
        trading::TradeSignal signal{};
        signal.signal_id = ++signals_;
        signal.tick_sequence = sequence;
        std::memcpy(signal.symbol, tick.symbol, sizeof signal.symbol);
        signal.side = gap < 0 ? trading::Side::buy : trading::Side::sell;  // expect a return
        signal.quantity = 100 * (1 + static_cast<std::uint32_t>(std::abs(gap) / threshold_));
        signal.price = gap < 0 ? tick.ask : tick.bid;
        return signal;
    }

  private:
    static constexpr double kAlpha = 0.05;
    static constexpr std::uint64_t kWarmUp = 20;
    static constexpr std::uint64_t kQuietTicks = 25;
    double threshold_;
    std::map<std::string, SymbolState> symbols_;
    std::uint64_t signals_ = 0;
};

struct Counts {
    std::uint64_t received = 0, torn = 0, signals = 0;
};

// The hot loop: poll for the next tick without ever sleeping, react, publish. Returns at the
// feed's last tick, or when we must stop.
Counts trade(ipcbus::Subscriber<trading::Tick>& ticks,
             ipcbus::Publisher<trading::TradeSignal>& signals, MeanReversion& model,
             example::LatencyStats& latency, const example::RunLimit& limit) {
    Counts counts;
    for (std::uint64_t polls = 0;; ++polls) {
        // Reading the clock costs ~20 ns: once every 4096 polls is plenty.
        if (polls % 4096 == 0 && !limit.keep_going()) return counts;
        auto taken = ticks.take();  // never blocks, never makes a system call
        if (!taken || !taken->has_value()) continue;
        const ipcbus::Sample<trading::Tick>& sample = **taken;
        const trading::Tick tick = *sample;  // copy, then check: overwrite mode may reuse
        if (sample.overwritten()) {          // the slot under a reader this far behind
            ++counts.torn;
            continue;
        }
        if (tick.last) return counts;
        latency.add_since(sample.info().timestamp_ns);
        ++counts.received;
        const auto signal = model.on_tick(tick, sample.sequence());
        if (!signal) continue;
        if (!example::send_or_stop(signals, *signal, limit)) return counts;
        if (++counts.signals % 50 == 1) {
            example::say("signal #{}: {} {} x{} @ {:.2f} (tick seq={})", signal->signal_id,
                         trading::to_string(signal->side), signal->symbol, signal->quantity,
                         signal->price, signal->tick_sequence);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    CLI::App app{"Busy-polls md/ticks and publishes trade_signal (reliable mode)."};
    app.add_option("--listeners", options.listeners, "Wait for K trade_signal subscribers first");
    app.add_option("--threshold", options.threshold, "Distance from the average that signals");
    app.add_option("--seconds", options.seconds, "Stop after S seconds at most");
    CLI11_PARSE(app, argc, argv);
    example::init("strategy");
    const example::RunLimit limit(options.seconds);

    const auto node = example::need(ipcbus::Node::create());
    // The signal listeners first: only once they are all attached do we ask for ticks (and
    // so let the feed start), so none of them misses a signal.
    auto signals = example::need(ipcbus::Publisher<trading::TradeSignal>::create(
        node, trading::kSignalsTopic, trading::reliable_options()));
    signals.set_block_timeout(example::kStopCheckInterval);
    if (!example::wait_for_subscribers(signals, options.listeners, limit)) {
        example::fail("the signal listeners did not come");
    }
    auto ticks = example::need(ipcbus::Subscriber<trading::Tick>::create(node, trading::kTicksTopic,
                                                                         trading::ticks_options()));
    example::say("{} listener(s) on {}; busy-polling {}", options.listeners, trading::kSignalsTopic,
                 trading::kTicksTopic);

    MeanReversion model(options.threshold);
    example::LatencyStats latency(1 << 20);
    const Counts counts = trade(ticks, signals, model, latency, limit);
    trading::TradeSignal end{};
    end.last = true;
    example::send_or_stop(signals, end, limit);
    example::say_summary(fmt::format("received={} lost={} torn={} signals={}", counts.received,
                                     ticks.lost(), counts.torn, counts.signals),
                         latency);
    return 0;
}
