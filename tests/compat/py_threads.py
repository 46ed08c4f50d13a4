"""2,000 Python threads that lock, wait on a condition, sleep and sum.

Usage: python3 py_threads.py [THREADS] [ROUNDS]

Every thread: waits on a threading.Condition until all have started
(a start gate), then for ROUNDS rounds adds its index to a shared total
under a threading.Lock, sleeps 1 ms, and takes a turn in a
threading.Semaphore(8)-limited section counting the most threads inside
at once; then it hands its partial sum to the main thread through a
queue.Queue and waits on a threading.Event that the main thread sets
once every sum has arrived. Checks: the total and the sum of the queued
partial sums equal ROUNDS * THREADS*(THREADS-1)/2, at most 8 threads were
ever inside the semaphore, every thread ran every round.  Prints one
deterministic RESULT line, plus the time on stderr.
"""
import queue
import sys
import threading
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5

lock = threading.Lock()
cond = threading.Condition()
sem = threading.Semaphore(8)
done = threading.Event()
results = queue.Queue()
started = 0
go = False
total = 0
inside = 0
most_inside = 0
rounds_run = [0] * N


def worker(i):
    global started, total, inside, most_inside
    with cond:
        started += 1
        if started == N:
            cond.notify_all()
        while not go:
            cond.wait()
    mine = 0
    for _ in range(ROUNDS):
        with lock:
            total += i
        mine += i
        time.sleep(0.001)
        with sem:
            with lock:
                inside += 1
                most_inside = max(most_inside, inside)
            with lock:
                inside -= 1
        rounds_run[i] += 1
    results.put(mine)
    done.wait()


def main():
    global go
    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(N)]
    for t in threads:
        t.start()
    with cond:
        while started < N:
            cond.wait()
        go = True
        cond.notify_all()
    partial = sum(results.get() for _ in range(N))
    done.set()
    for t in threads:
        t.join()
    want = ROUNDS * N * (N - 1) // 2
    ok = (total == want and partial == want and most_inside <= 8
          and rounds_run == [ROUNDS] * N)
    print("RESULT py_threads threads=%d rounds=%d total=%d partial=%d max_in_sem<=8:%s %s"
          % (N, ROUNDS, total, partial, most_inside <= 8, "OK" if ok else "FAIL"))
    print("time %.3f s" % (time.monotonic() - t0), file=sys.stderr)
    return 0 if ok else 1


sys.exit(main())
