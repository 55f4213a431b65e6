// SPDX-License-Identifier: Apache-2.0
// Names of the error enums, for messages and logs, and what Expected does when asked for
// a value it does not hold.
#include <cstdio>
#include <cstdlib>
#include <ostream>

#include "ipcbus/loan.hpp"
#include "ipcbus/result.hpp"
#include "ipcbus/subscriber.hpp"
#include "ipcbus/topic.hpp"
#include "ipcbus/version.hpp"

namespace ipcbus {

std::string_view version() noexcept {
    return IPCBUS_VERSION_STRING;  // the project version, set by libipcbus/CMakeLists.txt
}

std::string_view to_string(ErrorCode code) noexcept {
    switch (code) {
        case ErrorCode::invalid_name:
            return "invalid_name";
        case ErrorCode::invalid_argument:
            return "invalid_argument";
        case ErrorCode::type_mismatch:
            return "type_mismatch";
        case ErrorCode::parameter_mismatch:
            return "parameter_mismatch";
        case ErrorCode::not_a_segment:
            return "not_a_segment";
        case ErrorCode::version_mismatch:
            return "version_mismatch";
        case ErrorCode::corrupt_segment:
            return "corrupt_segment";
        case ErrorCode::resource_exhausted:
            return "resource_exhausted";
        case ErrorCode::permission_denied:
            return "permission_denied";
        case ErrorCode::timeout:
            return "timeout";
        case ErrorCode::system_error:
            return "system_error";
        case ErrorCode::not_found:
            return "not_found";
        case ErrorCode::daemon_unreachable:
            return "daemon_unreachable";
    }
    return "unknown";
}

std::string_view to_string(LoanError error) noexcept {
    switch (error) {
        case LoanError::payload_too_large:
            return "payload_too_large";
        case LoanError::too_many_loans:
            return "too_many_loans";
        case LoanError::would_block:
            return "would_block";
        case LoanError::expired:
            return "expired";
        case LoanError::invalid_loan:
            return "invalid_loan";
    }
    return "unknown";
}

std::string_view to_string(ReceiveError error) noexcept {
    switch (error) {
        case ReceiveError::corrupt_slot:
            return "corrupt_slot";
        case ReceiveError::size_mismatch:
            return "size_mismatch";
        case ReceiveError::buffer_too_small:
            return "buffer_too_small";
        case ReceiveError::too_many_samples:
            return "too_many_samples";
        case ReceiveError::timed_out:
            return "timed_out";
        case ReceiveError::wait_failed:
            return "wait_failed";
        case ReceiveError::incompatible_topic:
            return "incompatible_topic";
    }
    return "unknown";
}

std::string_view to_string(DeliveryMode mode) noexcept {
    switch (mode) {
        case DeliveryMode::overwrite:
            return "overwrite";
        case DeliveryMode::reliable:
            return "reliable";
    }
    return "unknown";
}

std::ostream& operator<<(std::ostream& out, ErrorCode code) {
    return out << to_string(code);
}

std::ostream& operator<<(std::ostream& out, const Error& error) {
    return out << to_string(error.code) << ": " << error.message;
}

std::ostream& operator<<(std::ostream& out, LoanError error) {
    return out << to_string(error);
}

std::ostream& operator<<(std::ostream& out, ReceiveError error) {
    return out << to_string(error);
}

namespace detail {

void abort_on_error(const char* what, std::string_view text) noexcept {
    // stdio, not iostream: safe however early or late in the program this runs.
    std::fprintf(stderr, "ipcbus: %s: %.*s\n", what, static_cast<int>(text.size()), text.data());
    std::fflush(stderr);
    std::abort();
}

}  // namespace detail

}  // namespace ipcbus
