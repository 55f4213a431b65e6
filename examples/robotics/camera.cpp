// SPDX-License-Identifier: Apache-2.0
// robotics_camera: publishes 1920x1080 RGB frames at 30 Hz. Each frame is rendered
// straight into a slot of the shared ring (loan, fill, publish): 6 MB per frame and not
// one byte copied, whatever the number of readers.
//
//   robotics_camera [--count N] [--rate HZ] [--subscribers K] [--seconds S]
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstring>
#include <span>
#include <thread>

#include "example_support.hpp"
#include "ipcbus/ipcbus.hpp"
#include "messages.hpp"

namespace {

struct Options {
    std::uint64_t count = 90;
    double rate_hz = 30;
    std::size_t subscribers = 1;
    double seconds = 30;
};

// A test pattern that moves from frame to frame: each row one grey level, shifted by one per
// frame. (A real driver would DMA the sensor's image here.)
void render(std::span<std::byte> frame, std::uint64_t frame_number) {
    for (std::size_t row = 0; row < robotics::kHeight; ++row) {
        const auto level = static_cast<unsigned char>((row + frame_number) & 0xff);
        std::memset(frame.data() + row * robotics::kRowBytes, level, robotics::kRowBytes);
    }
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    CLI::App app{"Publishes 1920x1080 RGB frames on camera/front, zero-copy."};
    app.add_option("--count", options.count, "Frames to publish");
    app.add_option("--rate", options.rate_hz, "Frames per second")->check(CLI::PositiveNumber);
    app.add_option("--subscribers", options.subscribers, "Wait for K subscribers first");
    app.add_option("--seconds", options.seconds, "Stop after S seconds at most");
    CLI11_PARSE(app, argc, argv);
    example::init("camera");
    const example::RunLimit limit(options.seconds);

    const auto node = example::need(ipcbus::Node::create());
    auto camera = example::need(
        ipcbus::RawPublisher::create(node, robotics::kCameraTopic, robotics::camera_options()));
    if (!example::wait_for_subscribers(camera, options.subscribers, limit)) {
        example::fail("no subscriber came");
    }
    example::say("streaming {}x{} RGB ({} bytes a frame) at {:.0f} Hz on {}", robotics::kWidth,
                 robotics::kHeight, robotics::kFrameBytes, options.rate_hz, robotics::kCameraTopic);

    const auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(1.0 / options.rate_hz));
    auto next = std::chrono::steady_clock::now();
    std::uint64_t published = 0;
    for (; published < options.count && limit.keep_going(); ++published) {
        auto loan = camera.loan(robotics::kFrameBytes);
        if (!loan) example::fail(std::string(ipcbus::to_string(loan.error())));
        render(loan->data(), published);
        auto sequence = camera.publish(std::move(*loan));
        if (!sequence) example::fail(std::string(ipcbus::to_string(sequence.error())));
        if (published % 30 == 0) example::say("frame seq={} published", *sequence);
        next += period;
        std::this_thread::sleep_until(next);
    }
    if (!camera.send({})) example::fail("could not publish the end of the stream");  // empty
    example::say_summary(fmt::format("published={}", published));
    return 0;
}
