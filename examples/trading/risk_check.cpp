// SPDX-License-Identifier: Apache-2.0
// trading_risk_check: one member of the consumer group "risk" on orders/new. The members
// share the orders (each order goes to exactly one of them); each checks its orders
// against a notional limit.
//
//   trading_risk_check --name NAME [--max-notional USD] [--seconds S]
#include <CLI/CLI.hpp>

#include <string>

#include "example_support.hpp"
#include "ipcbus/ipcbus.hpp"
#include "messages.hpp"

int main(int argc, char** argv) {
    std::string name = "risk";
    double max_notional = 45'000;
    double seconds = 30;
    CLI::App app{"A member of the consumer group 'risk' on orders/new."};
    app.add_option("--name", name, "Label of this worker");
    app.add_option("--max-notional", max_notional, "Largest quantity x price approved");
    app.add_option("--seconds", seconds, "Stop after S seconds at most");
    CLI11_PARSE(app, argc, argv);
    example::init(name);
    const example::RunLimit limit(seconds);

    const auto node = example::need(ipcbus::Node::create());
    ipcbus::ReaderOptions reader;
    reader.group = trading::kRiskGroup;  // same group name: share one cursor, split the work
    auto orders = example::need(ipcbus::Subscriber<trading::Order>::create(
        node, trading::kOrdersTopic, trading::reliable_options(), reader));
    example::say("joined group '{}' on {}", reader.group, trading::kOrdersTopic);

    example::LatencyStats latency;
    std::uint64_t received = 0, rejected = 0;
    while (auto sample = example::receive_or_stop(orders, limit)) {
        const trading::Order& order = **sample;
        if (order.last) break;  // our share of the end markers: the others get theirs
        latency.add_since(sample->info().timestamp_ns);
        ++received;
        const double notional = order.limit_price * order.quantity;
        const bool approved = notional <= max_notional;
        rejected += approved ? 0 : 1;
        if (received % 50 == 1 || (!approved && rejected <= 3)) {
            example::say("order #{} {} {} x{}: notional {:.0f} -> {}", order.order_id,
                         trading::to_string(order.side), order.symbol, order.quantity, notional,
                         approved ? "approved" : "REJECTED");
        }
    }
    example::say_summary(fmt::format("received={} lost={} approved={} rejected={}", received,
                                     orders.lost(), received - rejected, rejected),
                         latency);
    return 0;
}
