#include "wait_for_message.hpp"

#include <thread>

namespace ipcbus::cli {
namespace {

// A message that is already on its way arrives within microseconds: spin briefly for it,
// then sleep between polls so an idle `ipcbus echo` costs next to no CPU.
constexpr int kSpinPolls = 256;
constexpr auto kIdlePollInterval = std::chrono::microseconds(100);

}  // namespace

std::optional<SampleInfo> wait_for_message(RawSubscriber& subscriber, std::span<std::byte> buffer,
                                           Clock::time_point deadline) {
    for (int polls = 0;; ++polls) {
        auto taken = subscriber.take_copy(buffer);
        if (taken && taken->has_value()) return **taken;
        if (!taken && taken.error() == ReceiveError::buffer_too_small) {
            throw CliError("internal error: receive buffer smaller than the topic's slot size");
        }
        // Any other error (a corrupt slot) consumed the message and counted it in lost().
        if (stop_requested() || Clock::now() >= deadline) return std::nullopt;
        if (polls >= kSpinPolls) std::this_thread::sleep_for(kIdlePollInterval);
    }
}

}  // namespace ipcbus::cli
