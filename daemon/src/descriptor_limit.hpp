// SPDX-License-Identifier: Apache-2.0
// The daemon sets its own descriptor limit: it holds a few descriptors per topic (the
// segment, its read-only twin, each reader's segment) and one per client, so the limit it
// inherits (ulimit -n 1024 stopped it at 338 topics, though max_topics said 1024) must be
// raised to what its configured limits need, or the configuration refused up front.
#pragma once

#include <cstdint>
#include <string>

#include "ipcbusd/access_policy.hpp"

namespace ipcbusd {

/// Descriptors a daemon with these limits may need at most (an estimate with margin).
std::uint64_t descriptors_needed(const Limits& limits) noexcept;

/// Raises RLIMIT_NOFILE (soft, and hard where permitted) to descriptors_needed(limits).
/// Returns an error sentence naming the limit and the fix, or an empty string.
std::string raise_descriptor_limit(const Limits& limits);

}  // namespace ipcbusd
