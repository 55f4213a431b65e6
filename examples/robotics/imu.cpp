// SPDX-License-Identifier: Apache-2.0
// robotics_imu: publishes inertial samples at 1 kHz: a robot turning slowly on the spot.
//
//   robotics_imu [--count N] [--rate HZ] [--subscribers K] [--seconds S]
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <thread>

#include "example_support.hpp"
#include "ipcbus/ipcbus.hpp"
#include "messages.hpp"

namespace {

struct Options {
    std::uint64_t count = 3000;
    double rate_hz = 1000;
    std::size_t subscribers = 1;
    double seconds = 30;
};

robotics::ImuSample reading(std::uint64_t n, double rate_hz) {
    const double t = static_cast<double>(n) / rate_hz;
    robotics::ImuSample sample{};
    sample.accel[0] = 0.2 * std::sin(t);
    sample.accel[2] = 9.81;
    sample.gyro[2] = 0.5 + 0.05 * std::sin(10 * t);  // yaw rate, rad/s
    return sample;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    CLI::App app{"Publishes IMU samples on imu/data at 1 kHz."};
    app.add_option("--count", options.count, "Samples to publish");
    app.add_option("--rate", options.rate_hz, "Samples per second")->check(CLI::PositiveNumber);
    app.add_option("--subscribers", options.subscribers, "Wait for K subscribers first");
    app.add_option("--seconds", options.seconds, "Stop after S seconds at most");
    CLI11_PARSE(app, argc, argv);
    example::init("imu");
    const example::RunLimit limit(options.seconds);

    const auto node = example::need(ipcbus::Node::create());
    auto imu = example::need(ipcbus::Publisher<robotics::ImuSample>::create(
        node, robotics::kImuTopic, robotics::imu_options()));
    if (!example::wait_for_subscribers(imu, options.subscribers, limit)) {
        example::fail("no subscriber came");
    }
    example::say("publishing at {:.0f} Hz on {}", options.rate_hz, robotics::kImuTopic);

    const auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(1.0 / options.rate_hz));
    auto next = std::chrono::steady_clock::now();
    std::uint64_t published = 0;
    for (; published < options.count && limit.keep_going(); ++published) {
        if (!imu.send(reading(published, options.rate_hz))) example::fail("send failed");
        next += period;
        std::this_thread::sleep_until(next);
    }
    robotics::ImuSample end{};
    end.last = true;
    if (!imu.send(end)) example::fail("could not publish the end of the stream");
    example::say_summary(fmt::format("published={}", published));
    return 0;
}
