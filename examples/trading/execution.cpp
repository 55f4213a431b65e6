// SPDX-License-Identifier: Apache-2.0
// trading_execution: turns every trade_signal into an order on orders/new, which the risk
// workers (consumer group "risk") share out among themselves.
//
//   trading_execution [--risk-workers K] [--seconds S]
#include <CLI/CLI.hpp>

#include <cstring>

#include "example_support.hpp"
#include "ipcbus/ipcbus.hpp"
#include "messages.hpp"

namespace {

struct Options {
    std::size_t risk_workers = 2;
    double seconds = 30;
};

trading::Order order_for(const trading::TradeSignal& signal, std::uint64_t order_id) {
    trading::Order order{};
    order.order_id = order_id;
    order.signal_id = signal.signal_id;
    std::memcpy(order.symbol, signal.symbol, sizeof order.symbol);
    order.side = signal.side;
    order.quantity = signal.quantity;
    // A limit one cent through the signal's price, so the order is likely to fill.
    order.limit_price = signal.price + (signal.side == trading::Side::buy ? 0.01 : -0.01);
    return order;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    CLI::App app{"Receives trade_signal, publishes orders/new (reliable) to the risk group."};
    app.add_option("--risk-workers", options.risk_workers,
                   "Members of the risk group to wait for (each gets an end marker)");
    app.add_option("--seconds", options.seconds, "Stop after S seconds at most");
    CLI11_PARSE(app, argc, argv);
    example::init("execution");
    const example::RunLimit limit(options.seconds);

    const auto node = example::need(ipcbus::Node::create());
    // The risk workers first, then the signals: the strategy waits for us to attach before
    // it lets the feed start, so by then every order has a worker to go to.
    auto orders = example::need(ipcbus::Publisher<trading::Order>::create(
        node, trading::kOrdersTopic, trading::reliable_options()));
    orders.set_block_timeout(example::kStopCheckInterval);
    if (!example::wait_for_subscribers(orders, options.risk_workers, limit)) {
        example::fail("the risk workers did not come");
    }
    auto signals = example::need(ipcbus::Subscriber<trading::TradeSignal>::create(
        node, trading::kSignalsTopic, trading::reliable_options()));
    example::say("{} risk worker(s) on {}; waiting for signals", options.risk_workers,
                 trading::kOrdersTopic);

    example::LatencyStats latency;
    std::uint64_t received = 0;
    while (auto sample = example::receive_or_stop(signals, limit)) {
        const trading::TradeSignal& signal = **sample;  // read in place, released next turn
        if (signal.last) break;
        latency.add_since(sample->info().timestamp_ns);
        ++received;
        if (!example::send_or_stop(orders, order_for(signal, received), limit)) break;
        if (received % 50 == 1) {
            example::say("order #{} for signal #{}: {} {} x{} limit {:.2f}", received,
                         signal.signal_id, trading::to_string(signal.side), signal.symbol,
                         signal.quantity, signal.price);
        }
    }
    // A consumer group hands each message to one member: one end marker per member.
    trading::Order end{};
    end.last = true;
    for (std::size_t i = 0; i < options.risk_workers; ++i)
        example::send_or_stop(orders, end, limit);
    example::say_summary(
        fmt::format("received={} lost={} orders={}", received, signals.lost(), received), latency);
    return 0;
}
