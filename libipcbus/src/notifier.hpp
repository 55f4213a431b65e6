// SPDX-License-Identifier: Apache-2.0
// An eventfd that becomes readable when one of some readers has a new message, so that
// epoll, poll or Boost.Asio can wait on ipcbus along with sockets and timers. A thread
// sleeps on the topics' futexes (wait.hpp) and writes the eventfd when data arrives, then
// waits for data newer than what it signalled.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "ipc/unique_fd.hpp"
#include "ipcbus/result.hpp"
#include "wait.hpp"

namespace ipcbus::detail {

class Notifier {
  public:
    /// Creates the eventfd (or uses `event`) and starts the thread. `targets` must outlive
    /// the Notifier.
    static Result<std::unique_ptr<Notifier>> start(std::vector<Readiness> targets,
                                                   UniqueFd event = UniqueFd());
    Notifier(const Notifier&) = delete;
    Notifier& operator=(const Notifier&) = delete;
    ~Notifier();  // stops and joins the thread

    [[nodiscard]] int fd() const noexcept { return event_.get(); }

  private:
    Notifier(std::vector<Readiness> targets, UniqueFd event)
        : targets_(std::move(targets)), event_(std::move(event)) {
        for (Readiness& target : targets_) {
            if (target.group == nullptr) continue;
            target.once_per_orphaning = true;
            // Relaxed: a hint. One behind what is there now: orphans already pending at
            // the start are signalled too.
            target.orphan_events_seen =
                target.group->orphan_events.load(std::memory_order_relaxed) - 1;
        }
    }
    void run() noexcept;

    std::vector<Readiness> targets_;
    UniqueFd event_;
    std::atomic<std::uint32_t> interrupt_{0};  // bumped (and woken) to stop the thread
    std::thread thread_;
};

}  // namespace ipcbus::detail
