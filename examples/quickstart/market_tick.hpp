// SPDX-License-Identifier: Apache-2.0
// The message type shared by the quickstart publisher and subscriber.
#pragma once

#include <cstdint>
#include <string_view>

#include "ipcbus/type_info.hpp"

namespace quickstart {

struct MarketTick {
    char symbol[8];
    double bid;
    double ask;
    std::uint32_t bid_size;
    std::uint32_t ask_size;
    std::uint64_t exchange_time_ns;
    bool last;  // the publisher's final message: subscribers print a summary and exit
};

}  // namespace quickstart

// A stable name and schema version, independent of the compiler's spelling of the type.
template <>
struct ipcbus::TypeDescriptor<quickstart::MarketTick> {
    static constexpr std::string_view name = "quickstart.MarketTick";
    static constexpr std::uint64_t schema_version = 1;
};
