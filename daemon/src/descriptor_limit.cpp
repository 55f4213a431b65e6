// SPDX-License-Identifier: Apache-2.0
#include "descriptor_limit.hpp"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>

namespace ipcbusd {

namespace {
// Per topic: the segment, its read-only descriptor and, on average, two readers' segments.
constexpr std::uint64_t kDescriptorsPerTopic = 4;
// The epoll set, the listeners, the domain segment, the log and what libraries open.
constexpr std::uint64_t kFixedDescriptors = 64;
}  // namespace

std::uint64_t descriptors_needed(const Limits& limits) noexcept {
    return kFixedDescriptors + std::uint64_t{limits.max_clients} +
           kDescriptorsPerTopic * std::uint64_t{limits.max_topics};
}

std::string raise_descriptor_limit(const Limits& limits) {
    const std::uint64_t needed = descriptors_needed(limits);
    rlimit current{};
    if (::getrlimit(RLIMIT_NOFILE, &current) != 0) return {};
    if (current.rlim_cur != RLIM_INFINITY && current.rlim_cur >= needed) return {};
    rlimit wanted = current;
    wanted.rlim_cur = needed;
    if (current.rlim_max != RLIM_INFINITY && current.rlim_max < needed) {
        wanted.rlim_max = needed;  // only with CAP_SYS_RESOURCE (root): try
    }
    if (::setrlimit(RLIMIT_NOFILE, &wanted) == 0) return {};
    const int error = errno;
    return "max_topics = " + std::to_string(limits.max_topics) +
           " and max_clients = " + std::to_string(limits.max_clients) + " need up to " +
           std::to_string(needed) + " open files, but RLIMIT_NOFILE allows " +
           std::to_string(current.rlim_max) + " (" + std::strerror(error) +
           "): raise it (ulimit -Hn, LimitNOFILE= in the unit) or lower [limits] in --config";
}

}  // namespace ipcbusd
