// SPDX-License-Identifier: Apache-2.0
// How topics map to NATS subjects: topic "a/b.c" of bus NAME travels on the subject
// "ipcbus.NAME.a.b%2Ec". Levels become tokens; a character NATS does not allow inside a
// token ('.', the only one a topic level may hold besides [A-Za-z0-9_-]) is written %XX,
// and '%' never occurs in a topic, so the mapping is reversible.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ipcbus/result.hpp"

namespace ipcbus::bridge {

/// The subject that carries `topic` (a valid topic name) on bus `nats_domain`.
std::string subject_for(std::string_view nats_domain, std::string_view topic);

/// The topic a subject carries; an error (invalid_name) for a subject of another bus, a
/// bad escape or a name that is not a valid topic. Anyone can publish on NATS: the
/// subject is untrusted input.
Result<std::string> topic_for(std::string_view nats_domain, std::string_view subject);

/// The NATS subscriptions that cover a topic pattern ('*' one level, '**' any depth). They
/// may cover more than the pattern (NATS '>' only ends a subject), so the importer also
/// checks each topic against the pattern.
std::vector<std::string> subscriptions_for(std::string_view nats_domain, std::string_view pattern);

/// The subscriptions for several patterns, without any that another one covers: NATS
/// delivers a message once per matching subscription, and overlapping patterns must not
/// import it twice. (Partial overlaps remain; the importer drops their repeats.)
std::vector<std::string> subscriptions_for(std::string_view nats_domain,
                                           const std::vector<std::string>& patterns);

/// Whether every subject that NATS subscription `narrow` matches also matches `wide`.
bool covers(std::string_view wide, std::string_view narrow) noexcept;

}  // namespace ipcbus::bridge
