// SPDX-License-Identifier: Apache-2.0
// The trading example's topics and messages. Every process opens a topic with the same
// options, so whichever process comes first creates it and the others agree.
#pragma once

#include <cstdint>
#include <string_view>

#include "ipcbus/topic.hpp"
#include "ipcbus/type_info.hpp"

namespace trading {

/// Market data: the newest price matters, a stale one does not, so the feed never waits
/// for a slow reader (overwrite mode); a reader that falls behind is told what it missed.
inline constexpr std::string_view kTicksTopic = "md/ticks";
/// Strategy decisions: every service must see every one (reliable mode).
inline constexpr std::string_view kSignalsTopic = "trade_signal";
/// Orders to check: shared out among the risk workers, each order checked once.
inline constexpr std::string_view kOrdersTopic = "orders/new";
inline constexpr std::string_view kRiskGroup = "risk";

inline ipcbus::TopicOptions ticks_options() {
    ipcbus::TopicOptions options;
    options.capacity = 4096;  // 0.4 s of ticks at 10 kHz before a stalled reader loses any
    options.mode = ipcbus::DeliveryMode::overwrite;
    return options;
}

inline ipcbus::TopicOptions reliable_options() {
    ipcbus::TopicOptions options;
    options.capacity = 256;
    options.mode = ipcbus::DeliveryMode::reliable;
    return options;
}

struct Tick {
    char symbol[8];
    double bid;
    double ask;
    std::uint32_t bid_size;
    std::uint32_t ask_size;
    std::uint64_t exchange_time_ns;
    bool last;  // end of the feed: readers print their summary and exit
};

enum class Side : std::int8_t { buy = 1, sell = -1 };

inline const char* to_string(Side side) {
    return side == Side::buy ? "BUY" : "SELL";
}

struct TradeSignal {
    std::uint64_t signal_id;
    std::uint64_t tick_sequence;  // the tick that triggered it
    char symbol[8];
    Side side;
    std::uint32_t quantity;
    double price;
    bool last;  // end of the stream
};

struct Order {
    std::uint64_t order_id;
    std::uint64_t signal_id;
    char symbol[8];
    Side side;
    std::uint32_t quantity;
    double limit_price;
    bool last;  // end of the stream: one per risk worker, so each of them gets one
};

}  // namespace trading

// Stable names: a topic records its type, and a process built from another version of this
// header is refused with a clear message instead of reading garbage.
template <>
struct ipcbus::TypeDescriptor<trading::Tick> {
    static constexpr std::string_view name = "trading.Tick";
    static constexpr std::uint64_t schema_version = 1;
};
template <>
struct ipcbus::TypeDescriptor<trading::TradeSignal> {
    static constexpr std::string_view name = "trading.TradeSignal";
    static constexpr std::uint64_t schema_version = 1;
};
template <>
struct ipcbus::TypeDescriptor<trading::Order> {
    static constexpr std::string_view name = "trading.Order";
    static constexpr std::uint64_t schema_version = 1;
};
