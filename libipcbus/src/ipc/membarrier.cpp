// SPDX-License-Identifier: Apache-2.0
#include "ipc/membarrier.hpp"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace ipcbus::detail {
namespace {

long membarrier(int command) noexcept {
    return ::syscall(SYS_membarrier, command, 0U, 0);
}

}  // namespace

bool register_for_heavy_fence() noexcept {
    // A function-local static: the system call runs once per process, thread-safely.
    static const bool registered = membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0;
    return registered;
}

bool heavy_fence() noexcept {
    static const bool available = [] {
        const long supported = membarrier(MEMBARRIER_CMD_QUERY);
        return supported > 0 && (supported & MEMBARRIER_CMD_GLOBAL_EXPEDITED) != 0;
    }();
    return available && membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0;
}

}  // namespace ipcbus::detail
