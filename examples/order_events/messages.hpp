// SPDX-License-Identifier: Apache-2.0
// The order-events example's topics and messages.
#pragma once

#include <cstdint>
#include <string_view>

#include "ipcbus/topic.hpp"
#include "ipcbus/type_info.hpp"

namespace order_events {

/// One event per new order. Reliable mode: no order is ever lost to a slow service; the
/// order service waits instead.
inline constexpr std::string_view kOrdersTopic = "order_created";
/// The fulfilment workers share order_created as a work queue: each order to one of them.
inline constexpr std::string_view kFulfilmentGroup = "fulfilment";
/// Each worker reports every order it fulfilled, so the order service can check that each
/// was done exactly once.
inline constexpr std::string_view kDoneTopic = "fulfilment/done";

inline ipcbus::TopicOptions reliable_options() {
    ipcbus::TopicOptions options;
    options.capacity = 64;
    options.mode = ipcbus::DeliveryMode::reliable;
    return options;
}

struct OrderCreated {
    std::uint64_t order_id;  // 1, 2, 3, ...
    std::uint64_t customer_id;
    char sku[16];
    std::uint32_t quantity;
    std::uint32_t amount_cents;
    bool last;  // end of the stream (one per worker, so that each worker gets one)
};

struct TaskDone {
    std::uint64_t order_id;
    std::uint32_t worker;  // which fulfilment worker did it
};

}  // namespace order_events

template <>
struct ipcbus::TypeDescriptor<order_events::OrderCreated> {
    static constexpr std::string_view name = "order_events.OrderCreated";
    static constexpr std::uint64_t schema_version = 1;
};
template <>
struct ipcbus::TypeDescriptor<order_events::TaskDone> {
    static constexpr std::string_view name = "order_events.TaskDone";
    static constexpr std::uint64_t schema_version = 1;
};
