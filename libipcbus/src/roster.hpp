// SPDX-License-Identifier: Apache-2.0
// The daemon's operations on a topic's roster and publisher table: claiming and
// activating entries, freeing them, and handing a dead group member's unfinished messages
// to its group. In the library (not the daemon) so that unit tests run the very code the
// daemon runs, over heap memory. Only the daemon writes the roster and the tables.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "segment_format.hpp"

namespace ipcbus::detail {

/// Claims a free roster entry for a reader, member or group (state claiming: ignored by
/// publishers until activated). nullopt if the roster is full.
std::optional<std::uint32_t> claim_roster_entry(const SegmentView& view, std::int32_t pid,
                                                layout::RosterKind kind,
                                                std::uint32_t group) noexcept;

/// Makes a claimed entry count, and decides where it starts: `history` messages back
/// (at most history_depth in reliable mode, the ring in overwrite mode); a member at its
/// group's cursor. Writes the start into the entry's own segment (`row` for readers and
/// members, `group` for a group) and returns it. `member_of`: a member's group.
std::uint64_t activate_roster_entry(const SegmentView& view, std::uint32_t index,
                                    layout::ReaderRow* row, layout::GroupState* group,
                                    const layout::GroupState* member_of,
                                    std::uint32_t history) noexcept;

/// Frees an entry; wakes publishers that may wait on `space_futex` (its segment's word).
void release_roster_entry(const SegmentView& view, std::uint32_t index,
                          std::atomic<std::uint32_t>* space_futex) noexcept;

/// What became of a dead (or closed) member's in-flight marks.
struct OrphanCount {
    std::uint32_t redelivered = 0;  // into the orphan table
    std::uint32_t dropped = 0;      // not taken by it after all (another member has them)
    std::uint32_t lost = 0;         // the orphan table was full
};

/// Hands member `index`'s unfinished messages (`row`) to its group (`group`, whose other
/// members' rows are `others`), resolving each mark exactly where it can (see the comment
/// in roster.cpp), and clears the marks. Wakes the topic's sleeping readers if any went
/// into the table.
OrphanCount orphan_member_marks(const SegmentView& view, std::uint32_t index,
                                layout::ReaderRow& row, layout::GroupState& group,
                                std::span<const layout::ReaderRow* const> others) noexcept;

/// Readers and group members whose roster entries are active (groups themselves are not
/// counted): the subscribers a publisher is matched with. A snapshot.
std::size_t count_active_readers(const SegmentView& view) noexcept;
/// Publishers whose table entries are active: the publishers a subscriber is matched with.
/// A snapshot.
std::size_t count_active_publishers(const SegmentView& view) noexcept;

/// Claims a free publisher-table entry for publisher `id`. nullopt if the table is full.
std::optional<std::uint32_t> claim_publisher_entry(const SegmentView& view, std::int32_t pid,
                                                   std::uint32_t id) noexcept;

}  // namespace ipcbus::detail
