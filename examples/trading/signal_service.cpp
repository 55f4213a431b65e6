// SPDX-License-Identifier: Apache-2.0
// trading_signal_service: a plain subscriber of trade_signal that sleeps until a signal
// comes (blocking receive: no CPU while idle) and sees every one of them. Two services
// run it: `notification` alerts on large signals, `logging` keeps a per-symbol record.
//
//   trading_signal_service --service notification|logging [--seconds S]
#include <CLI/CLI.hpp>

#include <map>
#include <string>

#include "example_support.hpp"
#include "ipcbus/ipcbus.hpp"
#include "messages.hpp"

namespace {

constexpr std::uint32_t kLargeQuantity = 300;

// notification: only the large signals are worth a person's attention.
void notify(const trading::TradeSignal& signal, std::uint64_t& alerts) {
    if (signal.quantity < kLargeQuantity) return;
    if (++alerts % 10 == 1) {
        example::say("ALERT #{}: large {} {} x{} @ {:.2f}", alerts, trading::to_string(signal.side),
                     signal.symbol, signal.quantity, signal.price);
    }
}

// logging: net position the signals would build, per symbol.
void record(const trading::TradeSignal& signal, std::map<std::string, std::int64_t>& position) {
    position[signal.symbol] += static_cast<std::int64_t>(signal.side) * signal.quantity;
}

}  // namespace

int main(int argc, char** argv) {
    std::string service;
    double seconds = 30;
    CLI::App app{"Receives every trade_signal (blocking receive)."};
    app.add_option("--service", service, "notification or logging")
        ->required()
        ->check(CLI::IsMember({"notification", "logging"}));
    app.add_option("--seconds", seconds, "Stop after S seconds at most");
    CLI11_PARSE(app, argc, argv);
    example::init(service);
    const example::RunLimit limit(seconds);

    const auto node = example::need(ipcbus::Node::create());
    auto signals = example::need(ipcbus::Subscriber<trading::TradeSignal>::create(
        node, trading::kSignalsTopic, trading::reliable_options()));
    example::say("waiting for signals on {}", trading::kSignalsTopic);

    example::LatencyStats latency;
    std::uint64_t received = 0, alerts = 0;
    std::map<std::string, std::int64_t> position;
    while (auto sample = example::receive_or_stop(signals, limit)) {
        if ((*sample)->last) break;
        latency.add_since(sample->info().timestamp_ns);
        ++received;
        service == "notification" ? notify(**sample, alerts) : record(**sample, position);
    }
    if (service == "logging") {
        for (const auto& [symbol, net] : position)
            example::say("net position {}: {:+}", symbol, net);
    } else {
        example::say("{} alert(s) for signals of {}+ shares", alerts, kLargeQuantity);
    }
    example::say_summary(fmt::format("received={} lost={}", received, signals.lost()), latency);
    return 0;
}
