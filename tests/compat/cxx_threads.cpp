// A C++20 program using the standard library's threads (g++ -std=c++20
// -pthread): std::thread workers on a std::mutex + std::condition_variable
// job queue, std::async tasks returning futures, std::promise/std::future
// hand-offs, a std::shared_mutex read-mostly table, and std::jthread
// workers stopped through their std::stop_token (a
// std::condition_variable_any wait that a stop request ends).  Every figure is exact and checked; one RESULT line.
//
// Usage: cxx_threads [ROUNDS]
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <future>
#include <mutex>
#include <shared_mutex>
#include <stop_token>
#include <thread>
#include <vector>

namespace {

// Job queue: WORKERS threads pop numbers and add their squares.
uint64_t job_queue(int jobs)
{
	constexpr int WORKERS = 16;
	std::mutex mu;
	std::condition_variable cv;
	std::deque<int> q;
	bool closed = false;
	uint64_t total = 0;
	std::vector<std::thread> ts;
	for (int w = 0; w < WORKERS; w++)
		ts.emplace_back([&] {
			uint64_t mine = 0;
			for (;;) {
				std::unique_lock lk(mu);
				cv.wait(lk, [&] { return closed || !q.empty(); });
				if (q.empty())
					break;
				int v = q.front();
				q.pop_front();
				lk.unlock();
				mine += (uint64_t)v * (uint64_t)v;
			}
			std::lock_guard g(mu);
			total += mine;
		});
	for (int i = 1; i <= jobs; i++) {
		{
			std::lock_guard g(mu);
			q.push_back(i);
		}
		cv.notify_one();
	}
	{
		std::lock_guard g(mu);
		closed = true;
	}
	cv.notify_all();
	for (auto &t : ts)
		t.join();
	return total;
}

// std::async: 64 tasks each summing a range, plus promise/future pairs
// passed along a chain of threads (each adds one).
uint64_t async_and_promises()
{
	std::vector<std::future<uint64_t>> fs;
	for (int k = 0; k < 64; k++)
		fs.push_back(std::async(std::launch::async, [k] {
			uint64_t s = 0;
			for (int i = 0; i < 10000; i++)
				s += (uint64_t)(k * 10000 + i);
			return s;
		}));
	uint64_t s = 0;
	for (auto &f : fs)
		s += f.get();

	constexpr int CHAIN = 32;
	std::vector<std::promise<uint64_t>> ps(CHAIN + 1);
	std::vector<std::thread> ts;
	for (int i = 0; i < CHAIN; i++)
		ts.emplace_back([&ps, i] { ps[i + 1].set_value(ps[i].get_future().get() + 1); });
	auto last = ps[CHAIN].get_future();
	ps[0].set_value(1000);
	s += last.get();
	for (auto &t : ts)
		t.join();
	return s;
}

// shared_mutex: 8 readers check an invariant (the two halves of the table
// always sum to zero) while 2 writers move amounts between them.
uint64_t shared_table(int writes)
{
	std::shared_mutex rw;
	int64_t a = 0, b = 0;
	std::atomic<bool> stop{false};
	std::atomic<uint64_t> bad{0}, reads{0};
	std::vector<std::thread> ts;
	for (int r = 0; r < 8; r++)
		ts.emplace_back([&] {
			while (!stop.load()) {
				std::shared_lock lk(rw);
				if (a + b != 0)
					bad++;
				reads++;
				lk.unlock();
				std::this_thread::yield();
			}
		});
	std::vector<std::thread> ws;
	for (int w = 0; w < 2; w++)
		ws.emplace_back([&, w] {
			for (int i = 0; i < writes; i++) {
				std::unique_lock lk(rw);
				a += w + 1;
				b -= w + 1;
			}
		});
	for (auto &t : ws)
		t.join();
	stop = true;
	for (auto &t : ts)
		t.join();
	return bad.load() == 0 && a == 3 * (int64_t)writes ? (uint64_t)a : 0;
}

// jthread + stop_token: 16 workers wait on a condition_variable_any with
// their stop token; each counts the items it takes, and counts itself as
// stopped when its wait ended with the stop requested.  Destroying the
// jthreads requests stop and joins.
uint64_t jthreads(int items)
{
	std::mutex mu;
	std::condition_variable_any cv;
	std::deque<int> q;
	std::atomic<uint64_t> taken{0}, stopped{0}, sum{0};
	{
		std::vector<std::jthread> ts;
		for (int w = 0; w < 16; w++)
			ts.emplace_back([&](std::stop_token st) {
				std::unique_lock lk(mu);
				for (;;) {
					if (!cv.wait(lk, st, [&] { return !q.empty(); })) {
						if (st.stop_requested())
							stopped++;
						return; // stop requested and nothing to take
					}
					sum += (uint64_t)q.front();
					q.pop_front();
					taken++;
				}
			});
		for (int i = 1; i <= items; i++) {
			{
				std::lock_guard g(mu);
				q.push_back(i);
			}
			cv.notify_one();
		}
		// Wait until everything was taken, then let the destructors stop them.
		for (;;) {
			std::lock_guard g(mu);
			if (q.empty())
				break;
		}
		while (taken.load() < (uint64_t)items)
			std::this_thread::yield();
	}
	return taken.load() == (uint64_t)items && stopped.load() == 16 ? sum.load() : 0;
}

} // namespace

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? std::atoi(argv[1]) : 10;
	uint64_t q = 0, a = 0, t = 0, j = 0;
	for (int r = 0; r < rounds; r++) {
		q += job_queue(20000);
		a += async_and_promises();
		t += shared_table(20000);
		j += jthreads(5000);
	}
	const uint64_t n = 20000, R = (uint64_t)rounds;
	const uint64_t want_q = R * (n * (n + 1) * (2 * n + 1) / 6);
	const uint64_t m = 640000;
	const uint64_t want_a = R * (m * (m - 1) / 2 + 1000 + 32);
	const uint64_t want_t = R * 3 * 20000;
	const uint64_t want_j = R * (5000ull * 5001 / 2);
	bool ok = q == want_q && a == want_a && t == want_t && j == want_j;
	std::printf("RESULT cxx_threads rounds=%d queue=%llu async=%llu shared=%llu jthread=%llu %s\n", rounds,
		    (unsigned long long)q, (unsigned long long)a, (unsigned long long)t, (unsigned long long)j,
		    ok ? "OK" : "FAIL");
	return ok ? 0 : 1;
}
