// SPDX-License-Identifier: Apache-2.0
// The outside consumer of an installed ipcbus: `consumer sub TOPIC N` attaches a reliable
// subscriber, prints "ready", and prints "received N" once N messages arrived intact;
// `consumer pub TOPIC N` publishes N sequence numbers to it. Only the public API.
#include <ipcbus/ipcbus.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

ipcbus::TopicOptions options() {
    ipcbus::TopicOptions o;
    o.mode = ipcbus::DeliveryMode::reliable;
    o.capacity = 64;
    return o;
}

int subscribe(const ipcbus::Node& node, const std::string& topic, std::uint64_t count) {
    auto sub = ipcbus::Subscriber<std::uint64_t>::create(node, topic, options());
    if (!sub) {
        std::fprintf(stderr, "consumer: %s\n", sub.error().message.c_str());
        return 1;
    }
    std::printf("ready\n");
    std::fflush(stdout);
    for (std::uint64_t k = 0; k < count; ++k) {
        auto got = sub->receive(std::chrono::seconds(30));
        if (!got) {
            std::fprintf(stderr, "consumer: receive %llu: %s\n", static_cast<unsigned long long>(k),
                         std::string(ipcbus::to_string(got.error())).c_str());
            return 1;
        }
        if (**got != k) {
            std::fprintf(stderr, "consumer: message %llu carries %llu\n",
                         static_cast<unsigned long long>(k),
                         static_cast<unsigned long long>(**got));
            return 1;
        }
    }
    std::printf("received %llu\n", static_cast<unsigned long long>(count));
    return 0;
}

int publish(const ipcbus::Node& node, const std::string& topic, std::uint64_t count) {
    auto pub = ipcbus::Publisher<std::uint64_t>::create(node, topic, options());
    if (!pub) {
        std::fprintf(stderr, "consumer: %s\n", pub.error().message.c_str());
        return 1;
    }
    for (std::uint64_t k = 0; k < count; ++k) {
        auto loan = pub->loan();
        if (!loan) return 1;
        **loan = k;
        if (auto published = pub->publish(std::move(*loan)); !published) {
            std::fprintf(stderr, "consumer: publish: %s\n",
                         std::string(ipcbus::to_string(published.error())).c_str());
            return 1;
        }
    }
    std::printf("published %llu\n", static_cast<unsigned long long>(count));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: consumer pub|sub TOPIC COUNT\n");
        return 2;
    }
    const std::string role = argv[1];
    const std::uint64_t count = std::strtoull(argv[3], nullptr, 10);
    auto node = ipcbus::Node::create();
    if (!node) {
        std::fprintf(stderr, "consumer: %s\n", node.error().message.c_str());
        return 1;
    }
    return role == "sub" ? subscribe(*node, argv[2], count) : publish(*node, argv[2], count);
}
