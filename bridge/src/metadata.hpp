// SPDX-License-Identifier: Apache-2.0
// What travels with a message besides its payload, in NATS message headers:
//
//   Ipcbus-Msg:  "1 <origin> <link> <link sequence> <sequence> <publisher> <timestamp>"
//   Ipcbus-Type: "<size> <align> <schema> <slot size> <type name>"   (name last: it may
//                                                                    hold spaces)
//   Nats-Msg-Id: "<origin>:<link>:<topic>:<link sequence>" (with --jetstream: JetStream
//                drops a message whose id it has seen within its duplicate window)
//
// Numbers are decimal but <link> and <schema>, which are hex. Two headers rather than
// ten keep the per-message cost down.
#pragma once

#include <nats/nats.h>

#include <cstdint>
#include <string>

#include <optional>
#include "ipcbus/result.hpp"

#include "ipcbus/topic.hpp"
#include "ipcbus/type_info.hpp"

namespace ipcbus::bridge {

struct Metadata {
    std::string origin;               // host (machine id / domain) that first published it
    std::uint64_t link = 0;           // the exporting bridge's run (random per start)
    std::uint64_t link_sequence = 0;  // that run's counter for the topic: gaps are losses
    std::uint64_t sequence = 0;       // the sequence number on the origin host
    std::uint32_t publisher = 0;      // the publisher id there
    std::uint64_t timestamp_ns = 0;   // publish time there (CLOCK_MONOTONIC of that host)
    std::string type_name;
    std::uint64_t type_size = 0;
    std::uint32_t type_align = 1;
    std::uint64_t schema_hash = 0;
    std::uint64_t slot_size = 0;
    // The origin topic's delivery mode: a topic the importer creates gets it, so a reliable
    // topic stays reliable across hosts (absent from bridges before it was sent).
    std::optional<DeliveryMode> mode{};

    [[nodiscard]] TypeInfo type() const noexcept {
        return TypeInfo{type_name, type_size, type_align, schema_hash};
    }
};

inline constexpr const char* kMessageHeader = "Ipcbus-Msg";
inline constexpr const char* kTypeHeader = "Ipcbus-Type";
inline constexpr const char* kModeHeader = "Ipcbus-Mode";
inline constexpr const char* kDedupHeader = "Nats-Msg-Id";

/// Writes the headers onto `msg`; `topic` only feeds the JetStream id (when `dedup_id`).
natsStatus write_metadata(natsMsg* msg, const Metadata& meta, const std::string& topic,
                          bool dedup_id);

/// Reads and checks the headers of a message from NATS (untrusted): every field present,
/// well-formed and in range, or an error naming what is wrong.
Result<Metadata> read_metadata(natsMsg* msg);

}  // namespace ipcbus::bridge
