// SPDX-License-Identifier: Apache-2.0
// Chaos: publishers, readers and the daemon killed with SIGKILL and restarted, over many
// rounds, on three topics (overwrite, reliable, and a reliable topic read by a consumer
// group), then a reckoning of everything every process saw.
//
// Every random choice comes from one seeded generator: which process dies, after how many
// messages, and how (between messages, holding a half-written loan, in the middle of a
// batch it was just told to publish, or, through the hooks of the test build of the
// library, inside a publish or a consumer-group take at one of their nanosecond-wide
// windows: after the ticket, after the busy mark, before the commit; after the pending
// mark, after the cursor CAS, and the same two when taking over a dead member's message).
// Nothing waits on time: the test waits for what the peers print and for the daemon's
// "sync" barrier; only the re-registration of clients with a restarted daemon, which they
// do on their own schedule, is awaited by polling the registry (test_domain.hpp's
// eventually()).
//
// Afterwards it asserts that
//  - no reader ever saw a corrupt or torn payload (checksums; reliable readers re-check);
//  - reliable topics: every reader that lived to the end got every message of every
//    publisher from its attach on, exactly once and in order, and all agree on how many
//    each publisher committed (exactly what it acknowledged, for publishers not killed
//    mid-batch); the consumer group's members together processed every message, with
//    duplicates only from members killed mid-message (at most 8 per killed member);
//  - overwrite topic: each reader's received + lost + skipped equals the span of
//    sequences it read over, and the reader that lived through the whole run counted as
//    lost exactly the messages it did not receive (true losses from the publishers'
//    acknowledged counts, independently of the library's own count);
//  - no publisher ever waited out its 10 s block timeout (a dead reader must not hold it);
//  - after each round the daemon's registry lists exactly the live processes, by count
//    and by reader pid; at the end it is empty, the daemon holds no segment any more and
//    exits cleanly, and nothing of the domain is in /dev/shm.
//
// ctest runs a short version (label chaos). The long version, by hand:
//   IPCBUS_CHAOS_ROUNDS=2000 build/chaos/tests/test_chaos
// IPCBUS_CHAOS_SEED=N replays a run (the seed is printed at the start of each run; the
// kills are the same, the exact interleaving of the processes is up to the scheduler).
#include <dirent.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "ipcbus/ipcbus.hpp"
#include "protocol.hpp"
#include "test_domain.hpp"

namespace {

using ipcbus::test::ChildProcess;

enum class Kind { overwrite, reliable, group };

constexpr std::uint32_t kCapacity = 64;  // small: readers get lapped, publishers gated
constexpr std::uint64_t kMaxBatch = 3 * kCapacity;
constexpr std::size_t kMembers = 3;        // consumer group slots
constexpr std::uint64_t kMaxInFlight = 8;  // layout::kMaxInFlight: redeliveries per death

// A publisher's committed message count lies in [lo, hi]: exact unless it was killed in
// the middle of a batch.
struct Committed {
    std::uint64_t lo = 0, hi = 0;
};

struct Publisher {
    std::unique_ptr<ChildProcess> child;
    std::uint32_t id = 0;
    std::uint64_t acked = 0;
};

struct Reader {
    std::unique_ptr<ChildProcess> child;
    std::string log;  // group members only
};

// What a reader printed when told to finish.
struct Report {
    struct Seen {
        std::uint64_t first = 0, last = 0, count = 0;
    };
    std::map<std::uint32_t, Seen> pubs;
    std::uint64_t delivered = 0, lost = 0, skipped = 0, torn = 0, bad = 0, start = 0, end = 0;
    std::string log;
};

struct Topic {
    std::string name;
    Kind kind = Kind::overwrite;
    std::vector<std::optional<Publisher>> pubs;
    std::optional<Reader> sentinel;            // attached first, never killed
    std::vector<std::optional<Reader>> churn;  // killed and restarted (group: members)
    std::map<std::uint32_t, Committed> committed;
    std::vector<std::string> dead_member_logs;  // what killed group members processed
    std::uint64_t hold_kills = 0, batch_kills = 0, member_kills = 0;
    std::uint64_t published = 0;  // the write cursor at the end
    std::optional<Report> sentinel_report;
    std::vector<Report> churn_reports;
};

struct Summary {
    std::uint64_t pub_kills_between = 0, pub_kills_mid_write = 0, pub_kills_mid_batch = 0;
    std::uint64_t reader_kills = 0, member_kills = 0, daemon_kills = 0, spawned = 0;
    std::uint64_t armed_reader_kills = 0;  // readers told to die after K messages
    // Publishers told to die at a hook point inside a publish, and how many did (the
    // others published their batch on a path without that point: exclusive).
    std::uint64_t pub_kills_in_publish = 0, pub_hook_deaths = 0;
    std::uint64_t member_hook_kills = 0;  // members told to die at a hook inside a take
    std::uint64_t published = 0, delivered = 0, lost = 0, group_processed = 0, duplicates = 0;
    std::uint64_t registry_checks = 0, checks = 0;
};

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0' ? std::stoull(value) : fallback;
}

class ChaosTest : public ipcbus::test::DomainTest {
  protected:
    ChaosTest() {
        char pattern[] = "/tmp/ipcbus-chaos-XXXXXX";
        dir_ = ::mkdtemp(pattern);
        topics_.push_back(make_topic("chaos/overwrite", Kind::overwrite, 2));
        topics_.push_back(make_topic("chaos/reliable", Kind::reliable, 2));
        topics_.push_back(make_topic("chaos/group", Kind::group, kMembers));
    }
    ~ChaosTest() override { std::filesystem::remove_all(dir_); }

    // After a failure mid-run: everyone still running dies first, so that the fixture's
    // check for an empty registry reports only what they left behind.
    void TearDown() override {
        for (auto& t : topics_) {
            for (auto& p : t.pubs) p.reset();
            t.sentinel.reset();
            for (auto& r : t.churn) r.reset();
        }
        DomainTest::TearDown();
    }

    static Topic make_topic(const std::string& name, Kind kind, std::size_t churn) {
        Topic t;
        t.name = name;
        t.kind = kind;
        t.pubs.resize(2);
        t.churn.resize(churn);
        return t;
    }

    // Counts an assertion for the summary; returns it for EXPECT_TRUE.
    bool counted(bool ok) {
        ++summary_.checks;
        return ok;
    }

    std::uint64_t pick(std::uint64_t lo, std::uint64_t hi) {
        return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng_);
    }
    bool chance(unsigned percent) { return pick(0, 99) < percent; }

    std::vector<std::string> topic_args(const Topic& t) const {
        return {"mode=" + std::string(t.kind == Kind::overwrite ? "overwrite" : "reliable"),
                "capacity=" + std::to_string(kCapacity), "size=128"};
    }

    void spawn_publisher(Topic& t, std::size_t slot) {
        const std::uint32_t id = next_publisher_++;
        std::vector<std::string> argv{IPCBUS_CHAOS_PEER_PATH, "publish", domain_, t.name};
        for (auto& a : topic_args(t)) argv.push_back(a);
        argv.insert(argv.end(), {"pub=" + std::to_string(id), "timeout_ms=10000"});
        auto child = std::make_unique<ChildProcess>(argv);
        EXPECT_EQ(child->read_line(), "ready") << t.name << ": publisher " << id;
        t.committed[id] = {};
        t.pubs[slot] = Publisher{std::move(child), id, 0};
        ++summary_.spawned;
    }

    void spawn_reader(Topic& t, std::optional<Reader>& slot, bool member) {
        std::vector<std::string> argv{IPCBUS_CHAOS_PEER_PATH, "read", domain_, t.name};
        for (auto& a : topic_args(t)) argv.push_back(a);
        Reader r;
        if (member) {
            r.log = (dir_ / ("member" + std::to_string(next_log_++))).string();
            argv.insert(argv.end(), {"group=workers", "log=" + r.log});
        }
        r.child = std::make_unique<ChildProcess>(argv);
        const auto ready = r.child->read_line();
        EXPECT_TRUE(ready && ready->starts_with("ready start="))
            << t.name << ": " << ready.value_or("<no output>");
        slot = std::move(r);
        ++summary_.spawned;
    }

    // Tells some live publishers to publish a batch each, runs `during` while they do
    // (a kill: of the daemon, whom the data path does not need, or of a reader in the
    // middle of its messages), then waits for every acknowledgement.
    template <class During>
    void publish_burst(unsigned percent, During during) {
        std::vector<std::pair<Topic*, Publisher*>> sent;
        for (auto& t : topics_) {
            for (auto& p : t.pubs) {
                if (!p || !chance(percent)) continue;
                ASSERT_TRUE(p->child->write_line("publish " + std::to_string(pick(1, kMaxBatch))));
                sent.emplace_back(&t, &*p);
            }
        }
        during();
        for (auto [t, p] : sent) {
            const auto line = p->child->read_line();
            unsigned long long total = 0, blocked = 0;
            ASSERT_TRUE(line && std::sscanf(line->c_str(), "published %llu blocked=%llu", &total,
                                            &blocked) == 2)
                << t->name << ": publisher " << p->id << ": " << line.value_or("<no output>");
            EXPECT_TRUE(counted(blocked == 0))
                << t->name << ": publisher " << p->id << " waited out its block timeout " << blocked
                << " time(s): a dead reader held it back";
            summary_.published += total - p->acked;
            p->acked = total;
            t->committed[p->id] = {total, total};
        }
    }

    void publish_burst(unsigned percent) {
        publish_burst(percent, [] {});
    }

    void kill_publisher(Topic& t, std::size_t slot) {
        Publisher& p = *t.pubs[slot];
        // Overwrite mode: only kills that leave the exact count known, so true losses can
        // be computed from it.
        switch (pick(0, t.kind == Kind::overwrite ? 1 : 3)) {
            case 0:  // between two messages
                ++summary_.pub_kills_between;
                break;
            case 1:  // mid-write, holding a half-written slot
                ASSERT_TRUE(p.child->write_line("hold"));
                ASSERT_EQ(p.child->read_line(), "holding " + std::to_string(p.acked));
                ++t.hold_kills;
                ++summary_.pub_kills_mid_write;
                break;
            case 2: {  // somewhere in a batch it is publishing right now
                const std::uint64_t n = pick(1, kMaxBatch);
                ASSERT_TRUE(p.child->write_line("publish " + std::to_string(n)));
                t.committed[p.id] = {p.acked, p.acked + n};
                ++t.batch_kills;
                ++summary_.pub_kills_mid_batch;
                break;
            }
            default:  // inside a publish, at one of its nanosecond-wide windows
                kill_inside_publish(t, p);
        }
        p.child->kill_hard();
        t.pubs[slot].reset();
        (void)ipcbus::test::settled_topics(node_);  // its slots resolved before we go on
    }

    // Tells a publisher to die at a hook point inside its k-th publish of a batch of n.
    // It dies there (its stdout ends) unless the batch took a path without that point.
    void kill_inside_publish(Topic& t, Publisher& p) {
        static constexpr const char* kPoints[] = {"after_ticket", "after_mark", "before_commit"};
        const std::uint64_t n = pick(1, kMaxBatch);
        const std::string point = kPoints[pick(0, 2)];
        ASSERT_TRUE(p.child->write_line("die_at " + point + " " + std::to_string(pick(1, n))));
        ASSERT_TRUE(p.child->write_line("publish " + std::to_string(n)));
        ++summary_.pub_kills_in_publish;
        const auto line = p.child->read_line();
        unsigned long long total = 0, blocked = 0;
        if (!line) {  // died at the hook: somewhere in the batch
            t.committed[p.id] = {p.acked, p.acked + n};
            ++t.batch_kills;
            ++summary_.pub_hook_deaths;
            return;
        }
        ASSERT_EQ(std::sscanf(line->c_str(), "published %llu blocked=%llu", &total, &blocked), 2)
            << *line;
        EXPECT_TRUE(counted(blocked == 0)) << t.name << ": publisher " << p.id << " blocked";
        summary_.published += total - p.acked;
        p.acked = total;
        t.committed[p.id] = {total, total};
        ++summary_.pub_kills_between;  // it is killed between messages after all
    }

    void kill_reader(Topic& t, std::size_t slot) {
        if (t.kind == Kind::group) {
            // Keep the group alive: with its last member it would end, and with it the
            // messages of its dead members.
            std::size_t live = 0;
            for (auto& m : t.churn) live += m.has_value();
            if (live < 2) return;
            t.dead_member_logs.push_back(t.churn[slot]->log);
            ++t.member_kills;
            ++summary_.member_kills;
        } else {
            ++summary_.reader_kills;
        }
        t.churn[slot]->child->kill_hard();
        t.churn[slot].reset();
        (void)ipcbus::test::settled_topics(node_);
    }

    // Whether the daemon's registry lists exactly the live processes; with `report`,
    // each difference is a test failure.
    bool registry_matches(bool report) {
        if (!node_.daemon()->call(ipcbus::detail::protocol::make_simple("sync"))) {
            if (report) ADD_FAILURE() << "sync failed";
            return false;
        }
        auto listed = node_.list_topics();
        if (!listed) {
            if (report) ADD_FAILURE() << listed.error().message;
            return false;
        }
        bool all = true;
        for (const auto& t : topics_) {
            std::uint32_t publishers = 0;
            std::multiset<std::int32_t> readers;
            for (const auto& p : t.pubs) publishers += p.has_value();
            if (t.sentinel) readers.insert(t.sentinel->child->pid());
            for (const auto& r : t.churn) {
                if (r) readers.insert(r->child->pid());
            }
            const ipcbus::TopicInfo* info = nullptr;
            for (const auto& i : *listed) {
                if (i.name == t.name) info = &i;
            }
            std::multiset<std::int32_t> listed_readers;
            if (info != nullptr) {
                for (const auto& r : info->readers) listed_readers.insert(r.pid);
            }
            const bool same = info != nullptr && info->publishers == publishers &&
                              info->subscribers == readers.size() && listed_readers == readers;
            if (report) {
                EXPECT_TRUE(counted(same))
                    << t.name << ": registry lists "
                    << (info ? std::to_string(info->publishers) + " publishers, " +
                                   std::to_string(info->subscribers) + " subscribers, " +
                                   std::to_string(info->readers.size()) + " reader rows"
                             : std::string("no such topic"))
                    << "; alive: " << publishers << " publishers, " << readers.size() << " readers";
            }
            all = all && same;
        }
        return all;
    }

    void restart_daemon() {
        daemon_ = ipcbus::test::start_daemon(domain_);
        ASSERT_TRUE(daemon_) << "ipcbusd did not restart";
        // The clients re-register on their own schedule (a watcher thread with back-off):
        // wait for the registry to show all of them before anything opens a topic, or the
        // opener would create the topic anew (see ARCHITECTURE.md, Restart).
        ASSERT_TRUE(ipcbus::test::eventually([&] { return registry_matches(false); }))
            << "the clients did not re-register with the restarted daemon";
        if (HasFailure()) describe_topics();
    }

    // After a failure: what the daemon sees of every topic (who holds what back).
    void describe_topics() {
        auto listed = node_.list_topics();
        if (!listed) return;
        for (const auto& t : *listed) {
            std::fprintf(stderr, "[chaos] %s: cursor %llu\n", t.name.c_str(),
                         static_cast<unsigned long long>(t.published));
            for (const auto& r : t.readers) {
                std::fprintf(
                    stderr,
                    "[chaos]   reader entry %u pid %d next %llu released %llu held %u%s %s\n",
                    r.roster_entry, r.pid, static_cast<unsigned long long>(r.next_sequence),
                    static_cast<unsigned long long>(r.released), r.held, r.asleep ? " asleep" : "",
                    r.group.c_str());
            }
            for (const auto& g : t.groups) {
                std::fprintf(stderr, "[chaos]   group %s members %u next %llu\n", g.name.c_str(),
                             g.members, static_cast<unsigned long long>(g.next_sequence));
            }
        }
    }

    static std::optional<Report> finish(Reader& r) {
        if (!r.child->write_line("finish")) return std::nullopt;
        Report out;
        out.log = r.log;
        while (auto line = r.child->read_line()) {
            unsigned id = 0;
            unsigned long long a = 0, b = 0, c = 0, d = 0, e = 0, f = 0, g = 0;
            if (std::sscanf(line->c_str(), "pub %u first %llu last %llu count %llu", &id, &a, &b,
                            &c) == 4) {
                out.pubs[id] = {a, b, c};
            } else if (std::sscanf(line->c_str(),
                                   "result delivered=%llu lost=%llu skipped=%llu torn=%llu "
                                   "bad=%llu start=%llu end=%llu",
                                   &a, &b, &c, &d, &e, &f, &g) == 7) {
                out.delivered = a, out.lost = b, out.skipped = c, out.torn = d, out.bad = e;
                out.start = f, out.end = g;
                EXPECT_EQ(r.child->wait(), 0);
                return out;
            } else {
                ADD_FAILURE() << "unexpected reader output: " << *line;
            }
        }
        ADD_FAILURE() << "a reader ended without a result";
        return std::nullopt;
    }

    void run_rounds(std::uint64_t rounds);
    void finish_everyone();
    void check_reports(Topic& t);
    void check_group(Topic& t);
    void print_summary(std::uint64_t seed, std::uint64_t rounds) const;

    std::filesystem::path dir_;
    ipcbus::Node node_ = make_node();
    std::mt19937_64 rng_;
    std::vector<Topic> topics_;
    std::uint32_t next_publisher_ = 1;
    unsigned next_log_ = 0;
    Summary summary_;
};

void ChaosTest::run_rounds(std::uint64_t rounds) {
    // Every topic's never-killed reader is there before any message, so it must see all.
    for (auto& t : topics_) spawn_reader(t, t.sentinel, false);
    for (auto& t : topics_) {
        for (std::size_t i = 0; i < t.churn.size(); ++i) {
            spawn_reader(t, t.churn[i], t.kind == Kind::group);
        }
        for (std::size_t i = 0; i < t.pubs.size(); ++i) spawn_publisher(t, i);
    }
    for (std::uint64_t round = 0; round < rounds && !HasFailure(); ++round) {
        for (auto& t : topics_) {  // the dead come back, some now, some later
            for (std::size_t i = 0; i < t.pubs.size(); ++i) {
                if (!t.pubs[i] && chance(50)) spawn_publisher(t, i);
            }
            for (std::size_t i = 0; i < t.churn.size(); ++i) {
                if (!t.churn[i] && chance(50)) spawn_reader(t, t.churn[i], t.kind == Kind::group);
            }
        }
        const std::uint64_t action = pick(0, 99);
        Topic& t = topics_[pick(0, topics_.size() - 1)];
        if (action < 45) {
            publish_burst(70);
        } else if (action < 62) {
            const std::size_t slot = pick(0, t.pubs.size() - 1);
            if (t.pubs[slot]) kill_publisher(t, slot);
        } else if (action < 82) {
            // A reader (or group member) dies while idle, or in the middle of messages,
            // maybe holding one.
            const std::size_t slot = pick(0, t.churn.size() - 1);
            if (t.churn[slot] && chance(50)) {
                kill_reader(t, slot);
            } else if (t.churn[slot]) {
                // It kills itself after its K-th message of the burst (or, if it gets
                // fewer, is killed idle afterwards): a death mid-message, which the
                // generator, not the scheduler, places.
                static constexpr const char* kTakePoints[] = {"group_after_mark", "group_after_cas",
                                                              "orphan_after_mark",
                                                              "orphan_after_take"};
                if (t.kind == Kind::group && chance(50)) {
                    // Or inside a take, at one of its nanosecond-wide windows.
                    ASSERT_TRUE(t.churn[slot]->child->write_line(
                        std::string("die_at ") + kTakePoints[pick(0, 3)] + " " +
                        std::to_string(pick(1, kCapacity))));
                    ++summary_.member_hook_kills;
                } else {
                    ASSERT_TRUE(t.churn[slot]->child->write_line(
                        "die_after " + std::to_string(pick(1, kCapacity))));
                }
                ++summary_.armed_reader_kills;
                publish_burst(100);
                kill_reader(t, slot);
            }
        } else if (action < 90) {
            // A topic re-adopted only from subscribers cannot be published to again (the
            // new daemon holds its data segment read-only: see ARCHITECTURE.md, Restart,
            // and the issue 8 report), so each topic keeps a publisher across the restart.
            for (auto& each : topics_) {
                if (!each.pubs[0] && !each.pubs[1]) spawn_publisher(each, 0);
            }
            publish_burst(100, [&] {
                daemon_->kill_hard();
                daemon_.reset();
                ++summary_.daemon_kills;
            });
            restart_daemon();
        }  // else: a quiet round
        ++summary_.registry_checks;
        registry_matches(true);
    }
}

void ChaosTest::finish_everyone() {
    for (auto& t : topics_) {
        for (auto& p : t.pubs) {
            if (!p) continue;
            p->child->close_stdin();
            const auto line = p->child->read_line();
            unsigned long long total = 0, blocked = 0;
            ASSERT_TRUE(line &&
                        std::sscanf(line->c_str(), "exit %llu blocked=%llu", &total, &blocked) == 2)
                << line.value_or("<no output>");
            EXPECT_EQ(total, p->acked);
            EXPECT_EQ(p->child->wait(), 0);
            p.reset();
        }
    }
    // The daemon has now resolved every dead publisher's slot: the rings hold all there
    // will ever be.
    for (const auto& info : ipcbus::test::settled_topics(node_)) {
        for (auto& t : topics_) {
            if (t.name == info.name) t.published = info.published;
        }
    }
    for (auto& t : topics_) {
        t.sentinel_report = finish(*t.sentinel);
        t.sentinel.reset();
        for (auto& r : t.churn) {
            if (!r) continue;
            if (auto report = finish(*r)) t.churn_reports.push_back(std::move(*report));
            r.reset();
        }
    }
}

// Checks every reader's report of one topic against what the publishers committed.
void ChaosTest::check_reports(Topic& t) {
    ASSERT_TRUE(t.sentinel_report) << t.name;
    std::vector<const Report*> all{&*t.sentinel_report};
    for (const auto& r : t.churn_reports) all.push_back(&r);
    const bool reliable = t.kind != Kind::overwrite;
    for (const Report* r : all) {
        const bool sentinel = r == &*t.sentinel_report;
        const bool member = !r->log.empty();
        const std::string who = t.name + (sentinel ? " sentinel" : member ? " member" : " reader");
        summary_.delivered += r->delivered;
        summary_.lost += r->lost;
        EXPECT_TRUE(counted(r->bad == 0)) << who << ": " << r->bad << " corrupt or out of order";
        EXPECT_TRUE(counted(r->torn == 0)) << who << ": " << r->torn << " torn in place";
        if (member) continue;  // a member sees the group's share: check_group()
        EXPECT_TRUE(counted(r->delivered + r->lost + r->skipped == r->end - r->start))
            << who << ": delivered " << r->delivered << " + lost " << r->lost << " + skipped "
            << r->skipped << " != sequences " << r->start << ".." << r->end;
        EXPECT_TRUE(counted(r->end == t.published))
            << who << " stopped at " << r->end << " of " << t.published;
        if (reliable) {
            EXPECT_TRUE(counted(r->lost == 0)) << who << " lost " << r->lost;
        }
        for (const auto& [id, seen] : r->pubs) {
            const auto c = t.committed.find(id);
            ASSERT_NE(c, t.committed.end()) << who << ": messages of unknown publisher " << id;
            EXPECT_TRUE(counted(seen.last < c->second.hi))
                << who << ": publisher " << id << " counter " << seen.last << " never committed";
            if (!reliable) continue;
            // Everything from its first message on (bad == 0 says: without a gap), to the
            // publisher's last.
            EXPECT_TRUE(counted(seen.last + 1 >= c->second.lo))
                << who << ": publisher " << id << " committed " << c->second.lo
                << " messages, the last received is " << seen.last;
            if (!sentinel) {
                const auto& s = t.sentinel_report->pubs;
                EXPECT_TRUE(counted(s.count(id) == 1 && s.at(id).last == seen.last))
                    << who << " and the sentinel disagree on publisher " << id << "'s last";
            }
        }
    }
    const Report& s = *t.sentinel_report;
    EXPECT_TRUE(counted(s.start == 0)) << t.name << " sentinel started at " << s.start;
    std::uint64_t committed = 0;
    for (const auto& [id, c] : t.committed) {
        committed += c.lo;
        const auto seen = s.pubs.find(id);
        // Overwrite mode: a short batch may be overrun before the reader gets to it.
        if (c.lo == 0 || !reliable) continue;
        if (!counted(seen != s.pubs.end())) {
            ADD_FAILURE() << t.name << " sentinel got nothing of publisher " << id;
            continue;
        }
        // The sentinel was there first: from each publisher it has the first message on.
        EXPECT_TRUE(counted(seen->second.first == 0)) << t.name << " " << id;
    }
    if (reliable) {
        // A loan is private: a publisher killed holding one leaves nothing. Only a kill
        // inside publish() itself (mid-batch) can leave a sequence that readers skip.
        EXPECT_TRUE(counted(s.skipped <= t.batch_kills))
            << t.name << ": skipped " << s.skipped << ", publishers killed mid-write "
            << t.hold_kills << ", mid-batch " << t.batch_kills;
    } else {
        // Overwrite: every count exact (no mid-batch kills), so the true losses are known
        // without the library's help; killed loan holders took no sequence. Counts are of
        // sequences: a publisher stalled inside a publish for a whole lap of the ring has
        // its sequence passed over (lost or skipped) and publishes again (expired).
        EXPECT_TRUE(counted(t.published >= committed))
            << t.name << ": " << t.published << " sequences for " << committed << " messages";
        EXPECT_TRUE(counted(s.delivered + s.lost + s.skipped == t.published))
            << t.name << ": sentinel delivered " << s.delivered << ", lost " << s.lost
            << ", skipped " << s.skipped << " of " << t.published << " sequences";
        EXPECT_TRUE(counted(s.skipped <= t.published - committed))
            << t.name << ": skipped " << s.skipped << ", loan holders killed " << t.hold_kills;
    }
}

// The consumer group: its members' logs (the killed members' too) together hold every
// message the sentinel got, each once, but for redeliveries of what killed members held.
void ChaosTest::check_group(Topic& t) {
    if (t.kind != Kind::group || !t.sentinel_report) return;
    std::vector<std::string> logs = t.dead_member_logs;
    for (const auto& r : t.churn_reports) logs.push_back(r.log);
    std::map<std::pair<std::uint32_t, std::uint64_t>, unsigned> processed;
    for (const auto& path : logs) {
        std::ifstream in(path);
        std::uint32_t pub = 0;
        std::uint64_t counter = 0;
        while (in >> pub >> counter) ++processed[{pub, counter}];
    }
    std::uint64_t expected = 0, missing = 0, duplicates = 0, foreign = 0;
    for (const auto& [id, seen] : t.sentinel_report->pubs) {
        for (std::uint64_t c = 0; c <= seen.last; ++c) {
            ++expected;
            const auto it = processed.find({id, c});
            if (it == processed.end()) {
                ++missing;
            } else {
                duplicates += it->second - 1;
                processed.erase(it);
            }
        }
    }
    for (const auto& [key, n] : processed) foreign += n;
    summary_.group_processed += expected;
    summary_.duplicates += duplicates;
    EXPECT_TRUE(counted(missing == 0))
        << t.name << ": the group never processed " << missing << " of " << expected << " messages";
    EXPECT_TRUE(counted(foreign == 0))
        << t.name << ": the group processed " << foreign << " messages the sentinel never saw";
    EXPECT_TRUE(counted(duplicates <= kMaxInFlight * t.member_kills))
        << t.name << ": " << duplicates << " duplicates, " << t.member_kills << " members killed";
}

void ChaosTest::print_summary(std::uint64_t seed, std::uint64_t rounds) const {
    const Summary& s = summary_;
    std::printf(
        "[chaos] seed %llu, %llu rounds, %llu processes started\n"
        "[chaos] kills: publishers %llu (between messages %llu, mid-write %llu, mid-batch "
        "%llu, inside a publish %llu of %llu told), readers and group members %llu + %llu (%llu "
        "of them mid-message, %llu told to die inside a take), daemon %llu\n"
        "[chaos] messages: published %llu, delivered %llu, lost (overwrite) %llu, group "
        "processed %llu (duplicates %llu)\n"
        "[chaos] checks: %llu registry comparisons, %llu assertions\n",
        static_cast<unsigned long long>(seed), static_cast<unsigned long long>(rounds),
        static_cast<unsigned long long>(s.spawned),
        static_cast<unsigned long long>(s.pub_kills_between + s.pub_kills_mid_write +
                                        s.pub_kills_mid_batch + s.pub_hook_deaths),
        static_cast<unsigned long long>(s.pub_kills_between),
        static_cast<unsigned long long>(s.pub_kills_mid_write),
        static_cast<unsigned long long>(s.pub_kills_mid_batch),
        static_cast<unsigned long long>(s.pub_hook_deaths),
        static_cast<unsigned long long>(s.pub_kills_in_publish),
        static_cast<unsigned long long>(s.reader_kills),
        static_cast<unsigned long long>(s.member_kills),
        static_cast<unsigned long long>(s.armed_reader_kills),
        static_cast<unsigned long long>(s.member_hook_kills),
        static_cast<unsigned long long>(s.daemon_kills),
        static_cast<unsigned long long>(s.published), static_cast<unsigned long long>(s.delivered),
        static_cast<unsigned long long>(s.lost), static_cast<unsigned long long>(s.group_processed),
        static_cast<unsigned long long>(s.duplicates),
        static_cast<unsigned long long>(s.registry_checks),
        static_cast<unsigned long long>(s.checks));
}

// How many memfds a process holds (the daemon: its domain segment, and per topic the
// topic segment and one per reader and group).
int memfds_of(pid_t pid) {
    int count = 0;
    const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        std::error_code ec;
        const auto target = std::filesystem::read_symlink(entry.path(), ec);
        if (!ec && target.string().starts_with("/memfd:")) ++count;
    }
    return count;
}

TEST_F(ChaosTest, killingAnyoneAtAnyMomentLosesNothingCorruptsNothingAndLeavesNothing) {
    const std::uint64_t seed = env_number("IPCBUS_CHAOS_SEED", std::random_device{}());
    const std::uint64_t rounds = env_number("IPCBUS_CHAOS_ROUNDS", 300);
    std::printf("[chaos] seed %llu (replay: IPCBUS_CHAOS_SEED=%llu)\n",
                static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
    std::fflush(stdout);
    rng_.seed(seed);
    run_rounds(rounds);
    ASSERT_FALSE(HasFailure()) << "seed " << seed;
    finish_everyone();
    ASSERT_FALSE(HasFailure()) << "seed " << seed;
    for (auto& t : topics_) {
        check_reports(t);
        check_group(t);
    }

    // Everyone gone: nothing of the domain may remain.
    EXPECT_TRUE(counted(ipcbus::test::settled_topics(node_).empty()));
    EXPECT_TRUE(counted(memfds_of(daemon_->pid()) == 2))
        << "the daemon still holds segments (besides its domain segment and the read-only "
           "descriptor of it that clients get)";
    EXPECT_TRUE(counted(daemon_->terminate() == 0));
    daemon_.reset();  // already stopped: the fixture has nothing left to check
    for (const auto& entry : std::filesystem::directory_iterator("/dev/shm")) {
        EXPECT_TRUE(counted(entry.path().filename().string().find(domain_) == std::string::npos))
            << entry.path();
    }
    print_summary(seed, rounds);
    EXPECT_FALSE(HasFailure()) << "seed " << seed;
}

}  // namespace
