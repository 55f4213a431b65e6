// SPDX-License-Identifier: Apache-2.0
#include "recovery.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "names.hpp"

namespace ipcbusd {

void TopicLedger::open(const std::string& socket_dir, const std::string& domain,
                       std::chrono::milliseconds window) {
    if (socket_dir.empty()) return;
    path_ = socket_dir + "/" + domain + ".topics";
    std::ifstream in(path_);
    std::size_t ignored = 0;
    for (std::string line; std::getline(in, line);) {
        // The file is the daemon's own, but it may be truncated by a crash mid-write (it
        // is replaced by rename, so it should not) or edited: only valid names count.
        if (ipcbus::detail::validate_topic_name(line)) {
            awaited_.emplace(line, 0);
        } else if (!line.empty()) {
            ++ignored;
        }
    }
    if (ignored > 0) spdlog::warn("{}: ignored {} lines that are not topic names", path_, ignored);
    if (awaited_.empty()) return;
    deadline_ = Clock::now() + window;
    spdlog::info("restart: waiting up to {} ms for the holders of {} topics to re-register",
                 window.count(), awaited_.size());
    for (const auto& [name, deferred] : awaited_) written_.push_back(name);
}

void TopicLedger::close_window_if_over(Clock::time_point now) {
    if (awaited_.empty() || now < deadline_) return;
    std::string names;
    for (const auto& [name, deferred] : awaited_) names += (names.empty() ? "" : ", ") + name;
    spdlog::warn(
        "recovery window over: no holder re-registered {} (stopped or dead); "
        "they are created anew when opened",
        names);
    awaited_.clear();
}

bool TopicLedger::awaiting(std::string_view topic, Clock::time_point now) {
    close_window_if_over(now);
    const auto it = awaited_.find(topic);
    if (it == awaited_.end()) return false;
    ++it->second;
    return true;
}

std::vector<TopicLedger::Awaited> TopicLedger::awaited(Clock::time_point now) const {
    std::vector<Awaited> all;
    if (now >= deadline_) return all;
    for (const auto& [name, deferred] : awaited_) all.push_back({name, deferred});
    return all;
}

void TopicLedger::adopted(std::string_view topic) {
    if (const auto it = awaited_.find(topic); it != awaited_.end()) awaited_.erase(it);
}

int TopicLedger::ms_left(Clock::time_point now) const {
    if (awaited_.empty()) return -1;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline_ - now).count();
    return static_cast<int>(std::max<long long>(left, 0));
}

void TopicLedger::record(const std::vector<std::string>& current) {
    if (path_.empty()) return;
    close_window_if_over(Clock::now());
    std::vector<std::string> names = current;
    for (const auto& [name, deferred] : awaited_) names.push_back(name);
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    if (names == written_) return;
    // Replaced whole (rename), so that a crash leaves the old list or the new one.
    const std::string temporary = path_ + ".new";
    {
        std::ofstream out(temporary, std::ios::trunc);
        for (const auto& name : names) out << name << '\n';
        if (!out.flush()) {
            spdlog::warn("cannot write {}: a restart will not wait for these topics' holders",
                         temporary);
            return;
        }
    }
    if (std::rename(temporary.c_str(), path_.c_str()) != 0) {
        spdlog::warn("cannot replace {}: {}", path_, std::strerror(errno));
        return;
    }
    written_ = std::move(names);
}

}  // namespace ipcbusd
