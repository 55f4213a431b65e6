// SPDX-License-Identifier: Apache-2.0
// An asymmetric memory fence between processes (membarrier(2), Linux 4.16+): publishers,
// on the hot path, only keep the compiler from reordering their commit and their check
// for sleeping readers; a reader about to sleep pays instead, with one system call that
// runs a full memory barrier on every CPU currently running a registered process. Thus
// either the publisher sees the reader waiting, or the reader sees the message.
#pragma once

namespace ipcbus::detail {

/// Registers this process (once; thread-safe) so that heavy_fence() elsewhere orders its
/// memory accesses. False if the kernel refuses: its publishers must then commit with a
/// full fence of their own.
bool register_for_heavy_fence() noexcept;

/// A full barrier on every CPU running a registered process. False if unavailable: the
/// caller must then not rely on it (wait.cpp sleeps in short slices instead).
bool heavy_fence() noexcept;

}  // namespace ipcbus::detail
