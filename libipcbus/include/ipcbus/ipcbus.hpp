// SPDX-License-Identifier: Apache-2.0
// Umbrella header: everything a user of ipcbus needs.
#pragma once

#include "ipcbus/loan.hpp"        // IWYU pragma: export
#include "ipcbus/matched.hpp"     // IWYU pragma: export
#include "ipcbus/node.hpp"        // IWYU pragma: export
#include "ipcbus/publisher.hpp"   // IWYU pragma: export
#include "ipcbus/result.hpp"      // IWYU pragma: export
#include "ipcbus/sample.hpp"      // IWYU pragma: export
#include "ipcbus/subscriber.hpp"  // IWYU pragma: export
#include "ipcbus/topic.hpp"       // IWYU pragma: export
#include "ipcbus/type_info.hpp"   // IWYU pragma: export
#include "ipcbus/version.hpp"     // IWYU pragma: export
#include "ipcbus/waitset.hpp"     // IWYU pragma: export
#include "ipcbus/watcher.hpp"     // IWYU pragma: export
