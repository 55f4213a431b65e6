// SPDX-License-Identifier: Apache-2.0
// The other process of the clock tests (tests/integration/test_clock.cpp): answers
// "clock DOMAIN TOPIC file=PATH rounds=N". PATH is a file both processes map shared; for
// each round the test writes 2i+1 into its first word, this peer takes Node::now() at
// once, stores it at word i+1 and writes 2i+2 back. So each timestamp of ours was taken
// between two timestamps of the test's, and the test can check that the two processes'
// clocks agree to within that window. Prints "ready", then "done".
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <iostream>

#include "ipcbus/node.hpp"
#include "peer_args.hpp"

namespace {

using ipcbus::test::peer_fail;
using ipcbus::test::PeerArgs;

int answer_clock(const ipcbus::Node& node, const std::string&, const PeerArgs& args) {
    const auto rounds = static_cast<std::uint64_t>(args.number("rounds", 1000));
    const int fd = ::open(args.text("file", "").c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return peer_fail("cannot open the shared file");
    const std::size_t bytes = (rounds + 1) * sizeof(std::uint64_t);
    void* memory = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (memory == MAP_FAILED) return peer_fail("cannot map the shared file");
    auto* words = static_cast<std::uint64_t*>(memory);
    std::atomic_ref<std::uint64_t> turn(words[0]);
    std::cout << "ready" << std::endl;
    for (std::uint64_t i = 0; i < rounds; ++i) {
        // Acquire/release: a plain handshake; the timestamps are the data it carries.
        while (turn.load(std::memory_order_acquire) != 2 * i + 1) {
        }
        const std::uint64_t now = node.now();
        std::atomic_ref<std::uint64_t>(words[i + 1]).store(now, std::memory_order_relaxed);
        turn.store(2 * i + 2, std::memory_order_release);
    }
    ::munmap(memory, bytes);
    std::cout << "done" << std::endl;
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return ipcbus::test::run_peer(argc, argv, {{"clock", &answer_clock}});
}
