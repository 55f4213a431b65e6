// SPDX-License-Identifier: Apache-2.0
// order_events_worker: one fulfilment worker of a pool. The workers join the consumer group
// "fulfilment" on order_created, so the group hands each order to exactly one of them (a
// work queue on the same stream the other services read in full). Each reports the
// orders it fulfilled on fulfilment/done, and lists them at the end.
//
//   order_events_worker --id N [--work-us US] [--seconds S]
#include <CLI/CLI.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "example_support.hpp"
#include "ipcbus/ipcbus.hpp"
#include "messages.hpp"

namespace {

std::string joined(const std::vector<std::uint64_t>& ids) {
    std::string text;
    for (const std::uint64_t id : ids) text += (text.empty() ? "" : " ") + std::to_string(id);
    return text.empty() ? "none" : text;
}

}  // namespace

int main(int argc, char** argv) {
    std::uint32_t id = 1;
    unsigned work_us = 2000;
    double seconds = 30;
    CLI::App app{"A fulfilment worker: a member of the consumer group 'fulfilment'."};
    app.add_option("--id", id, "Worker number (its label is fulfilment-ID)");
    app.add_option("--work-us", work_us, "Time one order takes to pick and pack");
    app.add_option("--seconds", seconds, "Stop after S seconds at most");
    CLI11_PARSE(app, argc, argv);
    example::init("fulfilment-" + std::to_string(id));
    const example::RunLimit limit(seconds);

    const auto node = example::need(ipcbus::Node::create());
    // Reporting first: the order service counts us among its subscribers only once we
    // subscribe to the orders, and by then our reports have somewhere to go.
    auto done = example::need(ipcbus::Publisher<order_events::TaskDone>::create(
        node, order_events::kDoneTopic, order_events::reliable_options()));
    done.set_block_timeout(example::kStopCheckInterval);
    ipcbus::ReaderOptions reader;
    reader.group = order_events::kFulfilmentGroup;
    auto orders = example::need(ipcbus::Subscriber<order_events::OrderCreated>::create(
        node, order_events::kOrdersTopic, order_events::reliable_options(), reader));
    example::say("joined group '{}' on {}", reader.group, order_events::kOrdersTopic);

    example::LatencyStats latency;
    std::vector<std::uint64_t> fulfilled;
    while (auto sample = example::receive_or_stop(orders, limit)) {
        const order_events::OrderCreated& order = **sample;
        if (order.last) break;  // our end marker; the other workers get theirs
        latency.add_since(sample->info().timestamp_ns);
        // Picking and packing takes a while; meanwhile the group hands the next orders to
        // the other workers. Should we die now, the order goes to another worker.
        std::this_thread::sleep_for(std::chrono::microseconds(work_us));
        if (!example::send_or_stop(done, order_events::TaskDone{order.order_id, id}, limit)) break;
        fulfilled.push_back(order.order_id);
        if (fulfilled.size() % 10 == 1) {
            example::say("order {}: packed {} x {}", order.order_id, order.quantity, order.sku);
        }
    }
    example::say("did {} task(s): orders {}", fulfilled.size(), joined(fulfilled));
    example::say_summary(fmt::format("received={} lost={}", fulfilled.size(), orders.lost()),
                         latency);
    return 0;
}
