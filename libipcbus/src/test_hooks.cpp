// SPDX-License-Identifier: Apache-2.0
// The test hooks of ipcbus_test_hooked (see test_hooks.hpp). Never in the library that
// applications link.
#include "test_hooks.hpp"

#include <atomic>

namespace {

std::atomic<void (*)(int)> g_hook{nullptr};
std::atomic<std::uint64_t> g_counts[static_cast<int>(ipcbus::detail::HookPoint::count)]{};

}  // namespace

namespace ipcbus::detail {

void test_hook(HookPoint point) noexcept {
    const int p = static_cast<int>(point);
    // Relaxed: counters and a function pointer set once by the test before it publishes.
    g_counts[p].fetch_add(1, std::memory_order_relaxed);
    if (auto* hook = g_hook.load(std::memory_order_relaxed)) hook(p);
}

}  // namespace ipcbus::detail

extern "C" void ipcbus_test_set_hook(void (*hook)(int point)) {
    g_hook.store(hook, std::memory_order_relaxed);
}

extern "C" std::uint64_t ipcbus_test_hook_count(int point) {
    if (point < 0 || point >= static_cast<int>(ipcbus::detail::HookPoint::count)) return 0;
    return g_counts[point].load(std::memory_order_relaxed);
}
