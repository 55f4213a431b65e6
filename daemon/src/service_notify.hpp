// SPDX-License-Identifier: Apache-2.0
// Tells a service manager that the daemon is ready (the sd_notify protocol, without
// libsystemd): with Type=notify, systemd starts the units ordered After= the daemon only
// once its socket accepts connections, so a client with IPCBUS_NO_AUTOSTART=1 never finds
// the domain unserved in the moment between exec and bind.
#pragma once

#include <string>

namespace ipcbusd {

/// Sends "READY=1" to $NOTIFY_SOCKET if it is set (a path, or '@' for an abstract name).
/// Returns an error sentence, or an empty string if sent or not asked for.
std::string notify_ready();

}  // namespace ipcbusd
