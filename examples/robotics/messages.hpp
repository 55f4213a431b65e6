// SPDX-License-Identifier: Apache-2.0
// The robotics example's topics and messages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ipcbus/topic.hpp"
#include "ipcbus/type_info.hpp"

namespace robotics {

/// Raw 1920x1080 RGB frames: 6 220 800 bytes, written in place by the camera and read in
/// place by everyone else, never copied. An empty message ends the stream.
inline constexpr std::string_view kCameraTopic = "camera/front";
/// 1 kHz inertial samples.
inline constexpr std::string_view kImuTopic = "imu/data";

inline constexpr std::size_t kWidth = 1920;
inline constexpr std::size_t kHeight = 1080;
inline constexpr std::size_t kRowBytes = kWidth * 3;
inline constexpr std::size_t kFrameBytes = kRowBytes * kHeight;  // 6 220 800

/// Sensor data: the newest reading is what counts, so publishers never wait for a slow
/// reader (overwrite mode).
inline ipcbus::TopicOptions camera_options() {
    ipcbus::TopicOptions options;
    options.slot_size = kFrameBytes;
    options.capacity = 8;  // 8 frames (50 MB, a quarter second at 30 Hz) of slack for readers
    options.mode = ipcbus::DeliveryMode::overwrite;
    return options;
}

inline ipcbus::TopicOptions imu_options() {
    ipcbus::TopicOptions options;
    options.capacity = 1024;  // one second of samples
    options.mode = ipcbus::DeliveryMode::overwrite;
    return options;
}

struct ImuSample {
    double accel[3];  // m/s^2
    double gyro[3];   // rad/s
    bool last;        // end of the stream
};

}  // namespace robotics

template <>
struct ipcbus::TypeDescriptor<robotics::ImuSample> {
    static constexpr std::string_view name = "robotics.ImuSample";
    static constexpr std::uint64_t schema_version = 1;
};
