// SPDX-License-Identifier: Apache-2.0
#include "cli_common.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <thread>

namespace ipcbus::cli {
namespace {

// Written by the signal handler: must be lock-free to be async-signal-safe.
std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void on_stop_signal(int signal_number) {
    g_stop_signal.store(signal_number, std::memory_order_relaxed);
}

}  // namespace

namespace {

// Every command's --domain, so that one given before the command name reaches it.
struct DomainBinding {
    CLI::Option* option;
    std::string* domain;
};
std::vector<DomainBinding>& domain_bindings() {
    static std::vector<DomainBinding> bindings;
    return bindings;
}

}  // namespace

void add_domain_option(CLI::App& command, std::string& domain) {
    domain = default_domain();
    CLI::Option* option =
        command
            .add_option("--domain", domain, "Bus domain (default: $IPCBUS_DOMAIN, else 'default')")
            ->type_name("NAME");
    domain_bindings().push_back({option, &domain});
}

void apply_global_domain(const std::string& domain) {
    for (const DomainBinding& binding : domain_bindings()) {
        if (binding.option->count() == 0) *binding.domain = domain;  // the command's own wins
    }
}

Node connect(const std::string& domain) {
    return unwrap(Node::create({domain}));
}

void install_stop_handler() {
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    ::sigemptyset(&action.sa_mask);
    // No SA_RESTART: a blocking call in the main thread returns EINTR and its loop looks
    // at the flag.
    ::sigaction(SIGINT, &action, nullptr);
    ::sigaction(SIGTERM, &action, nullptr);
}

bool stop_requested() noexcept {
    return stop_signal() != 0;
}

int stop_signal() noexcept {
    return g_stop_signal.load(std::memory_order_relaxed);
}

bool sleep_until_or_stop(Clock::time_point until) {
    constexpr auto kSlice = std::chrono::milliseconds(50);
    while (!stop_requested()) {
        const auto now = Clock::now();
        if (now >= until) return true;
        std::this_thread::sleep_for(std::min<Clock::duration>(until - now, kSlice));
    }
    return false;
}

bool poll_until(const std::function<bool()>& condition, std::chrono::microseconds interval) {
    while (!condition()) {
        if (stop_requested()) return false;
        std::this_thread::sleep_for(interval);
    }
    return true;
}

std::uint64_t monotonic_ns() noexcept {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000ULL +
           static_cast<std::uint64_t>(now.tv_nsec);
}

std::string human_bytes(double bytes) {
    static constexpr std::array<const char*, 5> kUnits{"B", "KiB", "MiB", "GiB", "TiB"};
    std::size_t unit = 0;
    while (bytes >= 1024 && unit + 1 < kUnits.size()) {
        bytes /= 1024;
        ++unit;
    }
    if (unit == 0) return fmt::format("{:.0f} B", bytes);
    return fmt::format("{:.1f} {}", bytes, kUnits[unit]);
}

}  // namespace ipcbus::cli
