// The hot path (loan, publish, take, release) must not allocate. This binary replaces the
// global allocator with a counting one and checks the count across many messages.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "ipcbus/ipcbus.hpp"
#include "test_domain.hpp"

namespace {
std::atomic<std::uint64_t> g_allocations{0};
}

// gcc pairs inlined `new` with our `delete` and, not seeing that both are ours (malloc and
// free underneath), warns of a mismatch.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(std::size_t size) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}

namespace {

struct Frame {
    std::uint64_t seq;
    std::uint8_t pixels[1000];
};

class HotPathTest : public ipcbus::test::DomainTest {};

TEST_F(HotPathTest, loanPublishTakeReleaseNeverAllocate) {
    ipcbus::Node node = make_node();
    auto pub = ipcbus::Publisher<Frame>::create(node, "hot/frames", {64, 0, 0});
    auto sub = ipcbus::Subscriber<Frame>::create(node, "hot/frames");
    auto raw_pub = ipcbus::RawPublisher::create(node, "hot/raw", {64, 256, 0});
    auto raw_sub = ipcbus::RawSubscriber::create(node, "hot/raw");
    ASSERT_TRUE(pub && sub && raw_pub && raw_sub);
    std::byte buffer[256]{};

    const std::uint64_t before = g_allocations.load();
    std::uint64_t received = 0;
    for (std::uint64_t i = 0; i < 10'000; ++i) {
        auto loan = pub->loan();
        ASSERT_TRUE(loan);
        (*loan)->seq = i;
        (void)pub->publish(std::move(*loan));
        auto sample = sub->take();
        ASSERT_TRUE(sample && sample->has_value());
        received += (**sample)->seq == i ? 1 : 0;
        ASSERT_TRUE(raw_pub->send(std::span(buffer).first(100)));
        auto copy = raw_sub->take_copy(buffer);
        ASSERT_TRUE(copy && copy->has_value());
    }
    EXPECT_EQ(g_allocations.load() - before, 0U) << "the hot path allocated";
    EXPECT_EQ(received, 10'000U);
}

}  // namespace
