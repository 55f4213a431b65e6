// SPDX-License-Identifier: Apache-2.0
// The local processes of the bridge tests, one per domain ("host"):
//
//   bridge_peer publish DOMAIN TOPIC     creates TOPIC (reliable, raw, 64-byte slots), says
//                                        "ready", then for each line "send N" on stdin
//                                        publishes N more checksummed messages (counter =
//                                        sequence) and says "sent TOTAL"; ends at EOF.
//   bridge_peer subscribe DOMAIN TOPIC LAST
//                                        creates or joins TOPIC the same way, says "ready",
//                                        receives until the message whose origin sequence is
//                                        LAST, saying "got N" every 1000 messages, then
//                                        "done received R disorder D corrupt C mismatch M":
//                                        D messages not in rising origin order, C failing
//                                        their checksum, M whose counter is not their
//                                        origin sequence.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "ipcbus/ipcbus.hpp"
#include "test_payload.hpp"

namespace {

constexpr std::size_t kSlot = 64;

const ipcbus::TopicOptions kTopic{1024, kSlot, 0, ipcbus::DeliveryMode::reliable};

void say(const std::string& line) {
    std::cout << line << std::endl;  // flushed: the test waits for it
}

int fail(const std::string& why) {
    std::cerr << "bridge_peer: " << why << "\n";
    return 1;
}

int publish(const ipcbus::Node& node, const std::string& topic) {
    auto pub = ipcbus::RawPublisher::create(node, topic, kTopic);
    if (!pub) return fail(pub.error().message);
    say("ready");
    std::uint64_t sent = 0;
    std::string command;
    std::uint64_t count = 0;
    while (std::cin >> command >> count) {
        for (std::uint64_t i = 0; i < count; ++i, ++sent) {
            auto loan = pub->loan(kSlot);
            if (!loan) return fail(std::string(ipcbus::to_string(loan.error())));
            ipcbus::test::write_payload(loan->data(), 1, sent);
            if (auto published = pub->publish(std::move(*loan)); !published) {
                return fail(std::string(ipcbus::to_string(published.error())));
            }
        }
        say("sent " + std::to_string(sent));
    }
    return 0;
}

int subscribe(const ipcbus::Node& node, const std::string& topic, std::uint64_t last) {
    auto sub = ipcbus::RawSubscriber::create(node, topic, kTopic, ipcbus::raw_bytes_type);
    if (!sub) return fail(sub.error().message);
    say("ready");
    std::uint64_t received = 0, disorder = 0, corrupt = 0, mismatch = 0;
    std::uint64_t previous = 0;
    for (;;) {
        auto sample = sub->receive(std::chrono::seconds(60));
        if (!sample) return fail("receive: " + std::string(ipcbus::to_string(sample.error())));
        const std::uint64_t origin = sample->info().origin_sequence;
        ipcbus::test::PayloadHeader header{};
        if (!ipcbus::test::check_payload(sample->data(), header)) {
            ++corrupt;
        } else if (header.counter != origin) {
            ++mismatch;
        }
        if (received > 0 && origin <= previous) ++disorder;
        previous = origin;
        if (++received % 1000 == 0) say("got " + std::to_string(received));
        if (origin == last) break;
    }
    say("done received " + std::to_string(received) + " disorder " + std::to_string(disorder) +
        " corrupt " + std::to_string(corrupt) + " mismatch " + std::to_string(mismatch));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() < 3) return fail("usage: publish|subscribe DOMAIN TOPIC [LAST]");
    auto node = ipcbus::Node::create({args[1]});
    if (!node) return fail(node.error().message);
    if (args[0] == "publish") return publish(*node, args[2]);
    if (args[0] == "subscribe" && args.size() == 4) {
        return subscribe(*node, args[2], std::stoull(args[3]));
    }
    return fail("unknown role " + args[0]);
}
