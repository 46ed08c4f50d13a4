// tls_cpp: C++ per-thread state under std::thread.
//  - thread_local objects with constructors and destructors: one constructor
//    per thread that touches the object, destructors at thread exit (before
//    join returns), in reverse order of construction.
//  - exceptions: a blocking point (sleep_for, a condition variable wait)
//    inside a catch block, then `throw;` and catch again; std::current_exception
//    kept across a block and rethrown; std::uncaught_exceptions() inside a
//    destructor that blocks during unwinding. Many threads do this at once, so
//    under a user-level scheduler they resume on other kernel threads.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#define CHECK(c) do { if (!(c)) { std::printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    std::fflush(stdout); std::exit(1); } } while (0)

static constexpr int kThreads = 32;

static std::atomic<int> ctors{0}, dtors{0}, order_errors{0};
static std::atomic<long> dtor_sum{0};

struct Tracked {
    int value = 0;
    int serial;
    static thread_local int constructed_here;    // per-thread construction order
    explicit Tracked(int base) : value(base), serial(++constructed_here) { ++ctors; }
    ~Tracked() {
        // Reverse order of construction within the thread.
        if (serial != constructed_here--) ++order_errors;
        dtor_sum += value;
        ++dtors;
    }
};
thread_local int Tracked::constructed_here = 0;

thread_local Tracked first(100);
thread_local Tracked second(200);
thread_local std::string tls_name = "unset";
thread_local std::vector<int> tls_vec(3, 9);

// A rendezvous that blocks: everybody waits until `n` threads have arrived.
class Gate {
public:
    explicit Gate(int n) : n_(n) {}
    void arrive_and_wait() {
        std::unique_lock<std::mutex> lk(m_);
        int gen = gen_;
        if (++arrived_ == n_) {
            arrived_ = 0;
            ++gen_;
            cv_.notify_all();
        } else {
            cv_.wait(lk, [&] { return gen_ != gen; });
        }
    }
private:
    std::mutex m_;
    std::condition_variable cv_;
    int n_, arrived_ = 0, gen_ = 0;
};

static Gate gate(kThreads);
static std::atomic<int> caught{0}, recaught{0}, eptr_ok{0}, unwind_ok{0};

struct BlocksInDestructor {
    int id;
    ~BlocksInDestructor() {
        // Runs during stack unwinding: one exception is in flight.
        int before = std::uncaught_exceptions();
        std::this_thread::sleep_for(std::chrono::microseconds(300));
        std::this_thread::yield();
        if (before == 1 && std::uncaught_exceptions() == 1) ++unwind_ok;
    }
};

static void thrower(int id) {
    BlocksInDestructor b{id};
    throw std::runtime_error("unwind " + std::to_string(id));
}

static void worker(int id) {
    // thread_local initialisers seen fresh in this thread.
    CHECK(tls_name == "unset");
    CHECK(tls_vec.size() == 3 && tls_vec[2] == 9);
    CHECK(first.value == 100);               // constructs `first`
    first.value += id;
    CHECK(second.value == 200);              // constructs `second`
    second.value += 2 * id;
    tls_name = "worker " + std::to_string(id);

    // 1. Block inside a catch block, then rethrow and catch again.
    try {
        throw std::runtime_error("error " + std::to_string(id));
    } catch (const std::exception &e) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        gate.arrive_and_wait();              // every thread is inside its catch block
        CHECK(std::string(e.what()) == "error " + std::to_string(id));
        CHECK(std::uncaught_exceptions() == 0);
        ++caught;
        try {
            std::this_thread::yield();
            throw;
        } catch (const std::runtime_error &again) {
            gate.arrive_and_wait();
            CHECK(&again == &e);
            CHECK(std::string(again.what()) == "error " + std::to_string(id));
            ++recaught;
        }
    }

    // 2. std::current_exception kept across blocking points, then rethrown.
    std::exception_ptr saved;
    try {
        throw id * 7;
    } catch (...) {
        saved = std::current_exception();
        gate.arrive_and_wait();
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
    gate.arrive_and_wait();
    try {
        std::rethrow_exception(saved);
    } catch (int v) {
        CHECK(v == id * 7);
        CHECK(std::current_exception() == saved);
        ++eptr_ok;
    }

    // 3. A destructor that blocks while an exception unwinds through it.
    try {
        thrower(id);
    } catch (const std::runtime_error &e) {
        CHECK(std::string(e.what()) == "unwind " + std::to_string(id));
    }

    // thread_local values are still this thread's after all the blocking.
    CHECK(first.value == 100 + id);
    CHECK(second.value == 200 + 2 * id);
    CHECK(tls_name == "worker " + std::to_string(id));
}

int main() {
    for (int wave = 0; wave < 2; wave++) {
        int c0 = ctors, d0 = dtors;
        long s0 = dtor_sum;
        std::vector<std::thread> ts;
        for (int i = 0; i < kThreads; i++)
            ts.emplace_back(worker, i);
        for (auto &t : ts)
            t.join();
        // Destructors of thread_local objects have run before join returned.
        CHECK(ctors - c0 == 2 * kThreads);
        CHECK(dtors - d0 == 2 * kThreads);
        long want = 0;
        for (int i = 0; i < kThreads; i++)
            want += 100 + i + 200 + 2 * i;
        CHECK(dtor_sum - s0 == want);
        std::printf("wave %d: %d threads, thread_local ctors %d dtors %d, dtor sum %ld\n",
                    wave, kThreads, ctors - c0, dtors - d0, dtor_sum - s0);
    }
    CHECK(order_errors == 0);
    CHECK(caught == 2 * kThreads && recaught == 2 * kThreads);
    CHECK(eptr_ok == 2 * kThreads && unwind_ok == 2 * kThreads);
    std::printf("exceptions: caught %d, rethrown and caught %d, exception_ptr %d, unwinding with block %d\n",
                caught.load(), recaught.load(), eptr_ok.load(), unwind_ok.load());
    // main never touched the thread_locals: no constructor ran here.
    CHECK(ctors == 4 * kThreads);
    std::printf("ok\n");
    return 0;
}
