// cancel_cpp: pthread_cancel and pthread_exit unwind C++ frames. Destructors
// of locals run, a catch (...) block sees the forced unwind and must
// rethrow it, abi::__forced_unwind can be caught by name, and
// thread_local destructors still run at the end. main leaves with
// pthread_exit through two C++ frames, whose destructors run.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cxxabi.h>
#include <mutex>
#include <pthread.h>
#include <string>
#include <thread>

#define CHECK(c) do { if (!(c)) { std::printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
    std::fflush(stdout); std::exit(1); } } while (0)

static std::atomic<int> local_dtors{0}, tls_dtors{0}, catch_all{0}, catch_forced{0};
static std::mutex m;
static std::condition_variable cv;
static bool ready = false;

struct Local {
    std::string name;
    ~Local() { ++local_dtors; }
};

struct Tls {
    int touched = 0;
    ~Tls() { ++tls_dtors; }
};
thread_local Tls tls;

static void announce() {
    std::lock_guard<std::mutex> lk(m);
    ready = true;
    cv.notify_all();
}

static void wait_announced() {
    std::unique_lock<std::mutex> lk(m);
    cv.wait(lk, [] { return ready; });
    ready = false;
}

// main itself leaves with pthread_exit through C++ frames: their destructors run.
struct Say {
    const char *what;
    ~Say() { std::printf("main: destructor of %s ran\n", what); std::fflush(stdout); }
};

[[noreturn]] static void main_exits_inner() {
    Say s{"the inner frame's local"};
    pthread_exit(nullptr);
}

[[noreturn]] static void main_exits() {
    Say s{"the outer frame's local"};
    main_exits_inner();
}

static void *sleeps(void *) {
    tls.touched = 1;
    Local outer{"outer"};
    try {
        Local inner{"inner"};
        announce();
        for (;;)
            std::this_thread::sleep_for(std::chrono::seconds(10));
    } catch (...) {
        ++catch_all;
        throw;                            // a forced unwind must go on
    }
    return nullptr;
}

static void *waits(void *) {
    tls.touched = 1;
    Local outer{"outer"};
    try {
        std::unique_lock<std::mutex> lk(m);
        ready = true;
        cv.notify_all();
        for (;;)
            cv.wait(lk);                  // releases m while waiting
    } catch (abi::__forced_unwind &) {
        ++catch_forced;
        throw;
    }
    return nullptr;
}

static void *exits(void *) {
    tls.touched = 1;
    Local a{"a"};
    {
        Local b{"b"};
        pthread_exit(reinterpret_cast<void *>(11));
    }
    return nullptr;
}

int main() {
    pthread_t t;
    void *ret;

    CHECK(pthread_create(&t, nullptr, sleeps, nullptr) == 0);
    wait_announced();
    CHECK(pthread_cancel(t) == 0);
    CHECK(pthread_join(t, &ret) == 0);
    CHECK(ret == PTHREAD_CANCELED);
    std::printf("cancel in sleep_for: local dtors %d, catch(...) saw it %d, thread_local dtors %d\n",
                local_dtors.load(), catch_all.load(), tls_dtors.load());
    CHECK(local_dtors == 2 && catch_all == 1 && tls_dtors == 1);

    CHECK(pthread_create(&t, nullptr, waits, nullptr) == 0);
    wait_announced();
    CHECK(pthread_cancel(t) == 0);
    CHECK(pthread_join(t, &ret) == 0);
    CHECK(ret == PTHREAD_CANCELED);
    std::printf("cancel in condition_variable::wait: local dtors %d, __forced_unwind caught %d, thread_local dtors %d\n",
                local_dtors.load(), catch_forced.load(), tls_dtors.load());
    CHECK(local_dtors == 3 && catch_forced == 1 && tls_dtors == 2);
    {
        std::unique_lock<std::mutex> lk(m, std::try_to_lock);
        CHECK(lk.owns_lock());            // the unwinding released the mutex
    }

    CHECK(pthread_create(&t, nullptr, exits, nullptr) == 0);
    CHECK(pthread_join(t, &ret) == 0);
    std::printf("pthread_exit(11): returned %ld, local dtors %d, thread_local dtors %d\n",
                reinterpret_cast<long>(ret), local_dtors.load(), tls_dtors.load());
    CHECK(ret == reinterpret_cast<void *>(11) && local_dtors == 5 && tls_dtors == 3);
    std::printf("ok\n");
    main_exits();                         // the process ends with its last thread: status 0
    return 1;
}
