// SPDX-License-Identifier: Apache-2.0
// Points inside the hot path where tests stop or kill a process on purpose. The windows
// between them are nanoseconds wide, so random kills would almost never hit them; the
// library built for those tests (ipcbus_test_hooked, compiled with IPCBUS_TEST_HOOKS)
// calls a hook there, which the test peer sets. The library everyone else links has none:
// IPCBUS_HOOK compiles to nothing.
#pragma once

#include <cstdint>

namespace ipcbus::detail {

enum class HookPoint : std::uint8_t {
    after_ticket,       // shared mode: sequence taken, frame not yet marked busy
    after_mark,         // shared mode: frame marked busy, nothing written yet
    before_commit,      // frame written, stamp not yet committed
    group_after_mark,   // consumer group: take marked pending, cursor CAS not yet made
    group_after_cas,    // consumer group: cursor CAS won, mark not yet owned
    orphan_after_mark,  // taking over an orphan: own mark set, entry not yet taken
    orphan_after_take,  // taking over an orphan: entry taken, mark not yet owned
    count,
};

#ifdef IPCBUS_TEST_HOOKS
/// Counts the point and calls the hook the test set (ipcbus_test_set_hook).
void test_hook(HookPoint point) noexcept;
#define IPCBUS_HOOK(point) ::ipcbus::detail::test_hook(::ipcbus::detail::HookPoint::point)
#else
#define IPCBUS_HOOK(point) static_cast<void>(0)
#endif

}  // namespace ipcbus::detail

#ifdef IPCBUS_TEST_HOOKS
extern "C" {
/// Sets the function called at every hook point (null: none).
void ipcbus_test_set_hook(void (*hook)(int point));
/// How often `point` has been reached in this process.
std::uint64_t ipcbus_test_hook_count(int point);
}
#endif
