// C++20 synchronization from the standard library: std::mutex,
// std::condition_variable, std::shared_mutex, std::counting_semaphore,
// std::latch, std::barrier, std::atomic::wait/notify (libstdc++ blocks
// these on futexes through syscall(SYS_futex)), std::jthread with stop
// tokens, std::async. Prints deterministic counts only.
#include <atomic>
#include <barrier>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <latch>
#include <mutex>
#include <queue>
#include <semaphore>
#include <shared_mutex>
#include <thread>
#include <vector>

#define CHECK(c) do { if (!(c)) { std::printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); std::exit(1); } } while (0)

int main()
{
    // mutex + condition_variable queue
    {
        std::mutex m;
        std::condition_variable cv;
        std::queue<int> q;
        bool done = false;
        long sum = 0;
        std::thread consumer([&] {
            std::unique_lock<std::mutex> lk(m);
            for (;;) {
                cv.wait(lk, [&] { return !q.empty() || done; });
                if (q.empty() && done)
                    break;
                sum += q.front();
                q.pop();
            }
        });
        std::vector<std::thread> producers;
        for (int p = 0; p < 4; p++)
            producers.emplace_back([&, p] {
                for (int i = 0; i < 2000; i++) {
                    std::lock_guard<std::mutex> g(m);
                    q.push(p * 10000 + i);
                    cv.notify_one();
                }
            });
        for (auto &t : producers)
            t.join();
        {
            std::lock_guard<std::mutex> g(m);
            done = true;
        }
        cv.notify_all();
        consumer.join();
        long want = 0;
        for (int p = 0; p < 4; p++)
            for (int i = 0; i < 2000; i++)
                want += p * 10000 + i;
        CHECK(sum == want);
        std::printf("mutex+condition_variable: sum %ld\n", sum);
    }
    // shared_mutex: readers together, writers alone
    {
        std::shared_mutex sm;
        std::atomic<int> readers{0}, maxreaders{0}, writers_inside{0};
        long value = 0;
        std::vector<std::thread> ts;
        for (int i = 0; i < 8; i++)
            ts.emplace_back([&, i] {
                for (int k = 0; k < 500; k++) {
                    if ((i + k) % 4 == 0) {
                        std::unique_lock<std::shared_mutex> w(sm);
                        CHECK(writers_inside.fetch_add(1) == 0 && readers.load() == 0);
                        value++;
                        writers_inside.fetch_sub(1);
                    } else {
                        std::shared_lock<std::shared_mutex> r(sm);
                        int n = readers.fetch_add(1) + 1;
                        int m = maxreaders.load();
                        while (n > m && !maxreaders.compare_exchange_weak(m, n)) {}
                        CHECK(writers_inside.load() == 0);
                        readers.fetch_sub(1);
                    }
                }
            });
        for (auto &t : ts)
            t.join();
        CHECK(value == 1000);
        std::printf("shared_mutex: %ld writes, no writer overlap\n", value);
    }
    // counting_semaphore as a bounded buffer
    {
        std::counting_semaphore<8> slots(8), items(0);
        std::mutex m;
        std::vector<int> buf;
        long got = 0;
        std::thread prod([&] {
            for (int i = 1; i <= 5000; i++) {
                slots.acquire();
                { std::lock_guard<std::mutex> g(m); buf.push_back(i); }
                items.release();
            }
        });
        std::thread cons([&] {
            for (int i = 0; i < 5000; i++) {
                items.acquire();
                { std::lock_guard<std::mutex> g(m); got += buf.back(); buf.pop_back(); }
                slots.release();
            }
        });
        prod.join();
        cons.join();
        CHECK(got == 5000L * 5001 / 2);
        std::printf("counting_semaphore: sum %ld\n", got);
    }
    // latch and barrier
    {
        std::latch start(9);
        std::atomic<int> phase_done{0};
        std::barrier bar(8, [&]() noexcept { phase_done.fetch_add(1); });
        std::vector<std::thread> ts;
        for (int i = 0; i < 8; i++)
            ts.emplace_back([&] {
                start.arrive_and_wait();
                for (int r = 0; r < 50; r++)
                    bar.arrive_and_wait();
            });
        start.arrive_and_wait();
        for (auto &t : ts)
            t.join();
        CHECK(phase_done.load() == 50);
        std::printf("latch+barrier: %d phases\n", phase_done.load());
    }
    // atomic wait/notify ping-pong
    {
        std::atomic<int> turn{0};
        const int rounds = 3000;
        std::thread other([&] {
            for (int i = 0; i < rounds; i++) {
                turn.wait(0);
                turn.store(0);
                turn.notify_one();
            }
        });
        for (int i = 0; i < rounds; i++) {
            turn.store(1);
            turn.notify_one();
            turn.wait(1);
        }
        other.join();
        std::printf("atomic wait/notify: %d rounds\n", rounds);
    }
    // jthread stop token, async
    {
        std::atomic<long> spins{0};
        std::jthread jt([&](std::stop_token st) {
            while (!st.stop_requested()) {
                spins.fetch_add(1);
                std::this_thread::sleep_for(std::chrono::microseconds(200));
            }
        });
        while (spins.load() == 0) /* wait until it runs, however loaded the machine */
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        jt.request_stop();
        jt.join();
        CHECK(spins.load() > 0);
        auto f = std::async(std::launch::async, [] { return 6 * 7; });
        CHECK(f.get() == 42);
        std::printf("jthread stopped, async returned 42\n");
    }
    std::printf("ok\n");
    return 0;
}
