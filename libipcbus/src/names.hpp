// SPDX-License-Identifier: Apache-2.0
// Naming rules for domains and topics, and the shared-memory object name of a topic.
#pragma once

#include <string>
#include <string_view>

#include "ipcbus/result.hpp"

namespace ipcbus::detail {

/// A character allowed in one level of a topic name: [A-Za-z0-9_.-].
bool is_topic_level_char(char c) noexcept;

/// `text` (at most its first 160 bytes) with control and non-ASCII bytes written as \xNN,
/// so that an error message naming hostile input stays one readable line.
std::string printable(std::string_view text);

/// A domain: 1-32 characters of [A-Za-z0-9_-].
Result<Ok> validate_domain_name(std::string_view domain);

/// A topic: 1-127 characters; levels separated by '/', each level made of [A-Za-z0-9_.-]
/// and neither "." nor ".."; no leading, trailing or doubled '/'. Thus a topic name can
/// never become a path component of its own.
Result<Ok> validate_topic_name(std::string_view topic);

/// A consumer group: 1-64 characters of [A-Za-z0-9_.-].
Result<Ok> validate_group_name(std::string_view group);

}  // namespace ipcbus::detail
