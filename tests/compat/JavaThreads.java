/*
 * A JVM with thousands of threads (OpenJDK: each Java thread is a pthread;
 * the garbage collector's safepoints stop them all, often).  THREADS
 * platform threads, ROUNDS times: each thread
 *   - adds to a synchronized counter and an AtomicLong,
 *   - passes a token around a ring of its neighbours with wait/notify,
 *   - allocates garbage (boxed lists) so that collections stop the world
 *     while threads wait,
 *   - joins a CyclicBarrier with all the others;
 * then a ForkJoin parallel stream sums a range and an ExecutorService of
 * 64 threads runs 10,000 tasks.  Every figure is exact and checked against
 * its closed form; the RESULT line ends in OK only when all match.
 *
 * Usage: java JavaThreads [THREADS [ROUNDS]]
 */
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.LongStream;

public class JavaThreads {
    static final Object lock = new Object();
    static long syncCount;
    static final AtomicLong atomicCount = new AtomicLong();
    static final AtomicLong garbageSum = new AtomicLong();

    /* A ring of slots: thread i waits for its slot to hold round r, then hands r to slot i+1. */
    static final class Slot {
        long value = -1;
    }

    public static void main(String[] args) throws Exception {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : 2000;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 5;
        Slot[] ring = new Slot[threads];
        for (int i = 0; i < threads; i++)
            ring[i] = new Slot();
        CyclicBarrier barrier = new CyclicBarrier(threads);
        long[] passes = new long[threads];
        Thread[] ts = new Thread[threads];
        for (int i = 0; i < threads; i++) {
            final int id = i;
            ts[i] = new Thread(() -> {
                try {
                    for (int r = 0; r < rounds; r++) {
                        synchronized (lock) {
                            syncCount += id;
                        }
                        atomicCount.addAndGet(id);
                        /* garbage: a list of boxed values, summed */
                        List<Long> l = new ArrayList<>();
                        for (long k = 0; k < 200; k++)
                            l.add(k * id);
                        long s = 0;
                        for (Long v : l)
                            s += v;
                        garbageSum.addAndGet(s);
                        /* the token: thread 0 starts round r, each passes it on */
                        Slot mine = ring[id];
                        if (id != 0) {
                            synchronized (mine) {
                                while (mine.value != r)
                                    mine.wait();
                            }
                        }
                        passes[id]++;
                        Slot next = ring[(id + 1) % threads];
                        if (id != threads - 1) {
                            synchronized (next) {
                                next.value = r;
                                next.notifyAll();
                            }
                        }
                        barrier.await();
                    }
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }, "worker-" + id);
            ts[i].setDaemon(false);
        }
        for (Thread t : ts)
            t.start();
        for (Thread t : ts)
            t.join();

        long n = threads, ids = n * (n - 1) / 2;
        boolean ok = syncCount == ids * rounds && atomicCount.get() == ids * rounds &&
                     garbageSum.get() == ids * (199L * 200 / 2) * rounds;
        for (long p : passes)
            ok &= p == rounds;

        long range = 20_000_000L;
        long streamSum = LongStream.range(0, range).parallel().map(x -> x % 1000).sum();
        ok &= streamSum == (range / 1000) * (999L * 1000 / 2);

        ExecutorService pool = Executors.newFixedThreadPool(64);
        List<Future<Long>> fs = new ArrayList<>();
        for (int i = 0; i < 10_000; i++) {
            final long v = i;
            fs.add(pool.submit(() -> v * v));
        }
        long poolSum = 0;
        for (Future<Long> f : fs)
            poolSum += f.get();
        pool.shutdown();
        ok &= poolSum == 9_999L * 10_000 * 19_999 / 6;

        System.out.printf("RESULT java_threads threads=%d rounds=%d sync=%d atomic=%d garbage=%d stream=%d pool=%d %s%n",
                          threads, rounds, syncCount, atomicCount.get(), garbageSum.get(), streamSum, poolSum,
                          ok ? "OK" : "WRONG");
        System.exit(ok ? 0 : 1);
    }
}
