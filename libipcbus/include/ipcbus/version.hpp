// SPDX-License-Identifier: Apache-2.0
// The library's version, as built.
#pragma once

#include <string_view>

namespace ipcbus {

/// "0.1.0": the version of the library this program runs with (which, for the shared
/// library, may be newer than the headers it was compiled against). Thread-safe.
std::string_view version() noexcept;

}  // namespace ipcbus
