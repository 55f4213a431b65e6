// Naming rules for domains and topics, and the shared-memory object name of a topic.
#pragma once

#include <string>
#include <string_view>

#include "ipcbus/result.hpp"

namespace ipcbus::detail {

/// A domain: 1-32 characters of [A-Za-z0-9_-].
Result<Ok> validate_domain_name(std::string_view domain);

/// A topic: 1-127 characters; levels separated by '/', each level made of [A-Za-z0-9_.-]
/// and neither "." nor ".."; no leading, trailing or doubled '/'. Thus a topic name can
/// never become a path component of its own.
Result<Ok> validate_topic_name(std::string_view topic);

}  // namespace ipcbus::detail
