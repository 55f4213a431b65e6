// SPDX-License-Identifier: Apache-2.0
// The publisher ids the importer uses on each local topic. The exporter never sends their
// messages back out: that, with the importer's origin filter, is what keeps two hosts
// bridging the same topics both ways from looping messages between them.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

namespace ipcbus::bridge {

class OwnPublishers {
  public:
    void add(const std::string& topic, std::uint32_t id) {
        const std::lock_guard lock(mutex_);
        ids_[topic].insert(id);
    }
    [[nodiscard]] bool contains(std::string_view topic, std::uint32_t id) const {
        const std::lock_guard lock(mutex_);
        const auto it = ids_.find(topic);
        return it != ids_.end() && it->second.contains(id);
    }

  private:
    mutable std::mutex mutex_;
    std::map<std::string, std::set<std::uint32_t>, std::less<>> ids_;
};

}  // namespace ipcbus::bridge
