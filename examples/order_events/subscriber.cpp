// SPDX-License-Identifier: Apache-2.0
// order_events_subscriber: one of the services that each see every order_created event
// (plain subscribers, blocking receive): email, inventory, billing or analytics.
//
//   order_events_subscriber --service email|inventory|billing|analytics [--seconds S]
#include <CLI/CLI.hpp>

#include <map>
#include <string>

#include "example_support.hpp"
#include "ipcbus/ipcbus.hpp"
#include "messages.hpp"

namespace {

using order_events::OrderCreated;

/// What a service does with each order, and what it reports at the end.
struct Service {
    std::string name;
    std::uint64_t units = 0;
    std::uint64_t cents = 0;
    std::map<std::string, std::uint64_t> per_sku;

    // Returns a line worth printing for this order, or an empty string.
    std::string handle(const OrderCreated& order, std::uint64_t nth) {
        units += order.quantity;
        cents += order.amount_cents;
        per_sku[order.sku] += order.quantity;
        if (nth % 20 != 1) return {};
        if (name == "email") {
            return fmt::format("order {}: confirmation mailed to customer {}", order.order_id,
                               order.customer_id);
        }
        if (name == "inventory") {
            return fmt::format("order {}: reserved {} x {}", order.order_id, order.quantity,
                               order.sku);
        }
        if (name == "billing") {
            return fmt::format("order {}: invoiced {:.2f} EUR", order.order_id,
                               static_cast<double>(order.amount_cents) / 100);
        }
        return fmt::format("order {}: basket of {} unit(s)", order.order_id, order.quantity);
    }

    [[nodiscard]] std::string report(std::uint64_t orders) const {
        if (name == "email") return fmt::format("{} confirmation(s) mailed", orders);
        if (name == "inventory") {
            return fmt::format("{} unit(s) reserved over {} SKU(s)", units, per_sku.size());
        }
        if (name == "billing") {
            return fmt::format("{:.2f} EUR invoiced", static_cast<double>(cents) / 100);
        }
        return fmt::format(
            "average basket {:.2f} EUR",
            orders == 0 ? 0.0 : static_cast<double>(cents) / 100 / static_cast<double>(orders));
    }
};

}  // namespace

int main(int argc, char** argv) {
    Service service;
    double seconds = 30;
    CLI::App app{"Receives every order_created event (blocking receive)."};
    app.add_option("--service", service.name, "email, inventory, billing or analytics")
        ->required()
        ->check(CLI::IsMember({"email", "inventory", "billing", "analytics"}));
    app.add_option("--seconds", seconds, "Stop after S seconds at most");
    CLI11_PARSE(app, argc, argv);
    example::init(service.name);
    const example::RunLimit limit(seconds);

    const auto node = example::need(ipcbus::Node::create());
    auto orders = example::need(ipcbus::Subscriber<OrderCreated>::create(
        node, order_events::kOrdersTopic, order_events::reliable_options()));
    example::say("waiting for orders on {}", order_events::kOrdersTopic);

    example::LatencyStats latency;
    std::uint64_t received = 0;
    while (auto sample = example::receive_or_stop(orders, limit)) {
        if ((*sample)->last) break;
        latency.add_since(sample->info().timestamp_ns);
        const std::string line = service.handle(**sample, ++received);
        if (!line.empty()) example::say("{}", line);
    }
    example::say("{}", service.report(received));
    example::say_summary(fmt::format("received={} lost={}", received, orders.lost()), latency);
    return 0;
}
