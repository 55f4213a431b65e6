// SPDX-License-Identifier: Apache-2.0
// order_events_service: publishes order_created events (reliable mode) to the services
// that each read all of them and to the pool of fulfilment workers that share them. It
// then collects the workers' reports from fulfilment/done and checks that every order was
// fulfilled exactly once.
//
//   order_events_service [--count N] [--rate HZ] [--services K] [--workers W] [--seconds S]
#include <CLI/CLI.hpp>

#include <chrono>
#include <map>
#include <thread>
#include <vector>

#include "example_support.hpp"
#include "ipcbus/ipcbus.hpp"
#include "messages.hpp"

namespace {

using order_events::OrderCreated;
using order_events::TaskDone;

struct Options {
    std::uint64_t count = 90;
    double rate_hz = 300;
    std::size_t services = 4;  // email, inventory, billing, analytics
    std::size_t workers = 3;
    double seconds = 30;
};

/// Who fulfilled which order, from the workers' reports.
class Ledger {
  public:
    explicit Ledger(std::uint64_t orders) : times_done_(orders + 1, 0) {}

    /// Reads every report waiting (without blocking).
    void drain(ipcbus::Subscriber<TaskDone>& reports) {
        for (;;) {
            auto taken = reports.take_copy();
            if (!taken) continue;  // a damaged message was consumed: go on
            if (!taken->has_value()) return;
            add(**taken);
        }
    }

    void add(const TaskDone& done) {
        if (done.order_id < times_done_.size()) ++times_done_[done.order_id];
        ++per_worker_[done.worker];
        ++reports_;
    }

    [[nodiscard]] std::uint64_t reports() const noexcept { return reports_; }

    /// Prints the check; true if each of orders 1..published was done exactly once. After
    /// a stop (Ctrl-C) the workers may have stopped too: what is missing is then no failure.
    bool check(std::uint64_t published, bool interrupted) const {
        std::uint64_t once = 0, missing = 0, repeated = 0;
        for (std::uint64_t id = 1; id <= published; ++id) {
            once += times_done_[id] == 1 ? 1 : 0;
            missing += times_done_[id] == 0 ? 1 : 0;
            repeated += times_done_[id] > 1 ? 1 : 0;
        }
        std::string shares;
        for (const auto& [worker, n] : per_worker_) {
            shares += fmt::format("{}fulfilment-{}: {}", shares.empty() ? "" : ", ", worker, n);
        }
        const bool ok = once == published && reports_ == published;
        example::say(
            "check: {} orders, {} done exactly once, {} missing, {} done twice or more "
            "({}) -> {}",
            published, once, missing, repeated, shares.empty() ? "no reports" : shares,
            ok            ? "OK"
            : interrupted ? "incomplete (interrupted)"
                          : "FAILED");
        return ok;
    }

  private:
    std::vector<std::uint32_t> times_done_;  // by order id
    std::map<std::uint32_t, std::uint64_t> per_worker_;
    std::uint64_t reports_ = 0;
};

OrderCreated make_order(std::uint64_t id) {
    OrderCreated order{};
    order.order_id = id;
    order.customer_id = 1000 + id * 7 % 101;
    example::copy_name(order.sku, fmt::format("sku-{:04}", id % 12));
    order.quantity = 1 + static_cast<std::uint32_t>(id % 3);
    order.amount_cents = order.quantity * (499 + static_cast<std::uint32_t>(id % 12) * 100);
    return order;
}

// Publishes one order. While the reliable ring is full (a service is slow), reads the
// workers' reports, so that a worker waiting to report is never what holds us up.
bool publish(ipcbus::Publisher<OrderCreated>& orders, const OrderCreated& order,
             ipcbus::Subscriber<TaskDone>& reports, Ledger& ledger,
             const example::RunLimit& limit) {
    for (;;) {
        auto sent = orders.send(order);
        ledger.drain(reports);
        if (sent) return true;
        if (sent.error() != ipcbus::LoanError::would_block) {
            example::fail(std::string(ipcbus::to_string(sent.error())));
        }
        if (!limit.keep_going()) return false;
    }
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    CLI::App app{"Publishes order_created (reliable) and checks each order is fulfilled once."};
    app.add_option("--count", options.count, "Orders to create");
    app.add_option("--rate", options.rate_hz, "Orders per second")->check(CLI::PositiveNumber);
    app.add_option("--services", options.services, "Plain subscribers to wait for");
    app.add_option("--workers", options.workers, "Fulfilment workers to wait for");
    app.add_option("--seconds", options.seconds, "Stop after S seconds at most");
    CLI11_PARSE(app, argc, argv);
    example::init("order-service");
    const example::RunLimit limit(options.seconds);

    const auto node = example::need(ipcbus::Node::create());
    // Subscribe to the reports before any worker can send one.
    auto reports = example::need(ipcbus::Subscriber<TaskDone>::create(
        node, order_events::kDoneTopic, order_events::reliable_options()));
    auto orders = example::need(ipcbus::Publisher<OrderCreated>::create(
        node, order_events::kOrdersTopic, order_events::reliable_options()));
    orders.set_block_timeout(std::chrono::milliseconds(5));  // then read reports, try again
    if (!example::wait_for_subscribers(orders, options.services + options.workers, limit)) {
        example::fail("the services and workers did not come");
    }
    example::say("{} service(s) and {} worker(s) on {}; creating {} orders", options.services,
                 options.workers, order_events::kOrdersTopic, options.count);

    Ledger ledger(options.count);
    const auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(1.0 / options.rate_hz));
    auto next = std::chrono::steady_clock::now();
    std::uint64_t published = 0;
    while (published < options.count && limit.keep_going()) {
        const OrderCreated order = make_order(published + 1);
        if (!publish(orders, order, reports, ledger, limit)) break;
        if (++published % 30 == 1) {
            example::say("order {} created: customer {}, {} x {}, {:.2f} EUR", order.order_id,
                         order.customer_id, order.quantity, order.sku,
                         static_cast<double>(order.amount_cents) / 100);
        }
        next += period;
        std::this_thread::sleep_until(next);
    }
    // The end: one marker per worker (a group hands each message to one member only); the
    // services stop at the first one they see.
    OrderCreated end{};
    end.last = true;
    for (std::size_t i = 0; i < options.workers; ++i) publish(orders, end, reports, ledger, limit);

    // The last orders are still being packed: wait for their reports.
    while (ledger.reports() < published && limit.keep_going()) {
        if (auto report = reports.receive(example::kStopCheckInterval)) ledger.add(**report);
    }
    ledger.drain(reports);
    const bool interrupted = example::stop_requested();
    const bool ok = ledger.check(published, interrupted);
    example::say_summary(fmt::format("published={} fulfilled={}", published, ledger.reports()));
    return ok || interrupted ? 0 : 1;
}
