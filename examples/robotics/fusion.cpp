// SPDX-License-Identifier: Apache-2.0
// robotics_fusion: combines the camera and the IMU. One thread sleeps on both topics at once
// in a WaitSet and wakes only when one of them has data: between messages it uses no CPU,
// which it proves at the end with its CPU time (getrusage).
//
//   robotics_fusion [--seconds S]
#include <sys/resource.h>

#include <CLI/CLI.hpp>

#include "example_support.hpp"
#include "ipcbus/ipcbus.hpp"
#include "messages.hpp"

namespace {

double cpu_seconds() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    const auto seconds = [](const timeval& tv) {
        return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
    };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

/// Mean grey level of a frame, from one pixel per row: enough to follow the image without
/// reading all 6 MB.
double brightness(std::span<const std::byte> frame) {
    double sum = 0;
    for (std::size_t row = 0; row < robotics::kHeight; ++row) {
        sum += static_cast<double>(frame[row * robotics::kRowBytes + robotics::kRowBytes / 2]);
    }
    return sum / robotics::kHeight;
}

/// The fused state: heading from the integrated yaw rate, and what each stream delivered.
struct Fusion {
    double yaw = 0;                 // rad
    std::uint64_t last_imu_ns = 0;  // timestamp of the previous IMU sample
    std::uint64_t imu_since_frame = 0;
    std::uint64_t frames = 0, torn_frames = 0, imu = 0;
    bool camera_done = false, imu_done = false;
    example::LatencyStats frame_latency{1024}, imu_latency{1 << 16};
};

// Takes every frame waiting on the camera topic.
void drain_camera(ipcbus::RawSubscriber& camera, Fusion& state) {
    for (;;) {
        auto taken = camera.take();  // in place: the 6 MB are never copied
        if (!taken) continue;        // a damaged message was consumed (counted lost): go on
        if (!taken->has_value()) return;
        const ipcbus::RawSample& frame = **taken;
        if (frame.data().empty()) {  // the camera's end of stream
            state.camera_done = true;
            return;
        }
        const double level = brightness(frame.data());
        if (frame.overwritten()) {  // the camera lapped us while we read: discard
            ++state.torn_frames;
            continue;
        }
        state.frame_latency.add_since(frame.info().timestamp_ns);
        if (++state.frames % 30 == 1) {
            example::say(
                "frame seq={}: brightness {:.1f}, {} IMU samples since the previous "
                "frame, heading {:.2f} rad",
                frame.sequence(), level, state.imu_since_frame, state.yaw);
        }
        state.imu_since_frame = 0;
    }
}

// Takes every IMU sample waiting and integrates the yaw rate into the heading.
void drain_imu(ipcbus::Subscriber<robotics::ImuSample>& imu, Fusion& state) {
    for (;;) {
        ipcbus::SampleInfo info{};
        auto taken = imu.take_copy(&info);  // 56 bytes: a consistent copy is simplest
        if (!taken) continue;               // a damaged message was consumed: go on
        if (!taken->has_value()) return;
        const robotics::ImuSample& sample = **taken;
        if (sample.last) {
            state.imu_done = true;
            return;
        }
        state.imu_latency.add_since(info.timestamp_ns);
        if (state.last_imu_ns != 0) {
            state.yaw +=
                sample.gyro[2] * static_cast<double>(info.timestamp_ns - state.last_imu_ns) / 1e9;
        }
        state.last_imu_ns = info.timestamp_ns;
        ++state.imu;
        ++state.imu_since_frame;
    }
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = 30;
    CLI::App app{"Fuses camera/front and imu/data, waiting on both in one WaitSet."};
    app.add_option("--seconds", seconds, "Stop after S seconds at most");
    CLI11_PARSE(app, argc, argv);
    example::init("fusion");
    const example::RunLimit limit(seconds);

    const auto node = example::need(ipcbus::Node::create());
    auto camera = example::need(
        ipcbus::RawSubscriber::create(node, robotics::kCameraTopic, robotics::camera_options()));
    auto imu = example::need(ipcbus::Subscriber<robotics::ImuSample>::create(
        node, robotics::kImuTopic, robotics::imu_options()));
    ipcbus::WaitSet waitset;
    const std::size_t camera_index = example::need(waitset.attach(camera));
    example::need(waitset.attach(imu));
    example::say("sleeping on {} and {} in one WaitSet", robotics::kCameraTopic,
                 robotics::kImuTopic);

    const double cpu_start = cpu_seconds();
    const std::uint64_t wall_start = example::now_ns();
    Fusion state;
    while (!(state.camera_done && state.imu_done) && limit.keep_going()) {
        auto ready = waitset.wait(example::kStopCheckInterval);  // no CPU until data comes
        if (!ready) example::fail(std::string(ipcbus::to_string(ready.error())));
        for (const std::size_t index : *ready) {
            index == camera_index ? drain_camera(camera, state) : drain_imu(imu, state);
        }
    }
    const double cpu = cpu_seconds() - cpu_start;
    const double wall = static_cast<double>(example::now_ns() - wall_start) / 1e9;
    example::say(
        "cpu {:.1f} ms in {:.1f} s ({:.2f}% of one core) for {} frames and {} IMU "
        "samples; heading {:.2f} rad",
        cpu * 1e3, wall, 100 * cpu / wall, state.frames, state.imu, state.yaw);
    example::say_summary(fmt::format("stream=camera received={} lost={} torn={}", state.frames,
                                     camera.lost(), state.torn_frames),
                         state.frame_latency);
    example::say_summary(fmt::format("stream=imu received={} lost={}", state.imu, imu.lost()),
                         state.imu_latency);
    return 0;
}
