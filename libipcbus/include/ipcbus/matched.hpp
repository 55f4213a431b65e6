// SPDX-License-Identifier: Apache-2.0
// Matched and unmatched events (ROS 2's publication/subscription matched status): a
// publisher learns when subscribers of its topic arrive or go away, a subscriber when
// publishers do, in any process, also when one is killed.
#pragma once

#include <cstddef>
#include <functional>

namespace ipcbus {

/// Who a publisher or subscriber is matched with: for a publisher the topic's subscribers
/// (each consumer-group member counts), for a subscriber the topic's publishers; in any
/// process, this one included. The changes count from the last time the status was read
/// (matched_status() or a callback); a publisher or subscriber that finds peers already
/// there when it is created sees them as a change.
struct MatchedStatus {
    std::size_t current = 0;            // matched now
    std::ptrdiff_t current_change = 0;  // how `current` moved: + arrivals, - departures
    std::size_t total = 0;              // ever matched (departures do not lower it)
    std::size_t total_change = 0;       // arrivals
};

/// Called when the status changed, on a thread of the library (the one that talks to the
/// daemon), one call at a time per publisher or subscriber. It may call the library (take,
/// publish, create other publishers) but must not destroy the publisher or subscriber it
/// belongs to, or the Node; it should return quickly, as the daemon's other events for
/// this process wait behind it. What it uses must outlive the publisher or subscriber
/// (destroying that waits for a call in progress, and no call comes after). Must not throw.
using MatchedCallback = std::function<void(const MatchedStatus&)>;

}  // namespace ipcbus
