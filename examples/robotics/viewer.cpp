// SPDX-License-Identifier: Apache-2.0
// robotics_viewer: a display that starts late. It subscribes with history 1, so the
// newest frame already in the ring is its first message: it shows an image at once instead
// of waiting for the next frame. Then it follows the stream for a few frames.
//
//   robotics_viewer [--frames N] [--seconds S]
#include <CLI/CLI.hpp>

#include "example_support.hpp"
#include "ipcbus/ipcbus.hpp"
#include "messages.hpp"

namespace {

double age_ms(const ipcbus::RawSample& frame) {
    return static_cast<double>(example::now_ns() - frame.info().timestamp_ns) / 1e6;
}

// The grey level of the frame's centre pixel, read in place.
unsigned centre(const ipcbus::RawSample& frame) {
    const std::size_t middle =
        robotics::kHeight / 2 * robotics::kRowBytes + robotics::kRowBytes / 2;
    return static_cast<unsigned>(frame.data()[middle]);
}

}  // namespace

int main(int argc, char** argv) {
    std::uint64_t frames = 5;
    double seconds = 30;
    CLI::App app{"Joins camera/front late with history 1: the latest frame at once."};
    app.add_option("--frames", frames, "Frames to show after the first one");
    app.add_option("--seconds", seconds, "Stop after S seconds at most");
    CLI11_PARSE(app, argc, argv);
    example::init("viewer");
    const example::RunLimit limit(seconds);

    const auto node = example::need(ipcbus::Node::create());
    ipcbus::ReaderOptions reader;
    reader.history = 1;  // start one message back: the newest frame already published
    auto camera = example::need(ipcbus::RawSubscriber::create(
        node, robotics::kCameraTopic, robotics::camera_options(), ipcbus::any_type, reader));

    // take(), not receive(): no waiting at all. The history frame is there already.
    auto first = camera.take();
    if (first && first->has_value() && !(*first)->data().empty()) {
        const ipcbus::RawSample& frame = **first;
        example::say("joined late: frame seq={} at once, captured {:.1f} ms ago, centre pixel {}",
                     frame.sequence(), age_ms(frame), centre(frame));
    } else {
        example::say("joined late: no frame in the ring yet, waiting for the next one");
    }

    example::LatencyStats latency;
    std::uint64_t shown = 0;
    while (shown < frames && limit.keep_going()) {
        auto received = camera.receive(example::kStopCheckInterval);
        if (!received) continue;  // timed out: look at the stop flag and the clock again
        if (received->data().empty()) break;  // the camera stopped
        latency.add_since(received->info().timestamp_ns);
        ++shown;
        example::say("frame seq={} age {:.1f} ms, centre pixel {}", received->sequence(),
                     age_ms(*received), centre(*received));
    }
    example::say_summary(fmt::format("received={} lost={}", shown, camera.lost()), latency);
    return 0;
}
