// A Rust program using std's threads (built with Debian's rustc): spawned
// threads and scoped threads, Mutex, Condvar, RwLock, mpsc channels (a
// pipeline of stages), Barrier, and park/unpark hand-offs.  Every figure is
// exact and checked; one RESULT line, exit status 1 on a wrong figure.
//
// Usage: rust_threads [ROUNDS]
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Condvar, Mutex, RwLock};
use std::thread;

// 16 workers pop jobs from a Mutex<Vec> + Condvar queue and add squares.
fn job_queue(jobs: u64) -> u64 {
    let state = Arc::new((Mutex::new((Vec::<u64>::new(), false)), Condvar::new()));
    let total = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let state = Arc::clone(&state);
            let total = Arc::clone(&total);
            thread::spawn(move || {
                let (lock, cv) = &*state;
                let mut mine = 0u64;
                loop {
                    let mut g = lock.lock().unwrap();
                    while g.0.is_empty() && !g.1 {
                        g = cv.wait(g).unwrap();
                    }
                    match g.0.pop() {
                        Some(v) => {
                            drop(g);
                            mine += v * v;
                        }
                        None => break,
                    }
                }
                total.fetch_add(mine, Ordering::SeqCst);
            })
        })
        .collect();
    let (lock, cv) = &*state;
    for i in 1..=jobs {
        lock.lock().unwrap().0.push(i);
        cv.notify_one();
    }
    lock.lock().unwrap().1 = true;
    cv.notify_all();
    for w in workers {
        w.join().unwrap();
    }
    total.load(Ordering::SeqCst)
}

// A pipeline of 8 stages joined by mpsc channels; each adds 1.
fn pipeline(items: u64) -> u64 {
    let (first_tx, mut rx) = mpsc::channel::<u64>();
    let mut stages = Vec::new();
    for _ in 0..8 {
        let (tx, next_rx) = mpsc::channel::<u64>();
        let stage_rx = rx;
        stages.push(thread::spawn(move || {
            for v in stage_rx {
                tx.send(v + 1).unwrap();
            }
        }));
        rx = next_rx;
    }
    let producer = thread::spawn(move || {
        for i in 0..items {
            first_tx.send(i).unwrap();
        }
    });
    let sum: u64 = rx.iter().sum();
    producer.join().unwrap();
    for s in stages {
        s.join().unwrap();
    }
    sum
}

// Barrier phases in scoped threads: each writes its slot, waits, reads its
// neighbour's (which must hold this phase's value), waits again.
fn barrier_phases(threads: usize, phases: u64) -> u64 {
    let slots: Vec<AtomicU64> = (0..threads).map(|_| AtomicU64::new(0)).collect();
    let barrier = Barrier::new(threads);
    let bad = AtomicU64::new(0);
    let leaders = AtomicU64::new(0);
    thread::scope(|s| {
        for me in 0..threads {
            let (slots, barrier, bad, leaders) = (&slots, &barrier, &bad, &leaders);
            s.spawn(move || {
                for phase in 1..=phases {
                    slots[me].store(phase, Ordering::SeqCst);
                    if barrier.wait().is_leader() {
                        leaders.fetch_add(1, Ordering::SeqCst);
                    }
                    if slots[(me + 1) % threads].load(Ordering::SeqCst) != phase {
                        bad.fetch_add(1, Ordering::SeqCst);
                    }
                    barrier.wait();
                }
            });
        }
    });
    if bad.load(Ordering::SeqCst) == 0 && leaders.load(Ordering::SeqCst) == phases {
        phases
    } else {
        0
    }
}

// park/unpark: two threads pass a turn back and forth.
fn park_pingpong(rounds: u64) -> u64 {
    let turn = Arc::new(AtomicU64::new(0)); // even: main's turn, odd: the other's
    let t2 = Arc::clone(&turn);
    let main_thread = thread::current();
    let other = thread::spawn(move || {
        let mut n = 0;
        for _ in 0..rounds {
            while t2.load(Ordering::SeqCst) % 2 == 0 {
                thread::park();
            }
            t2.fetch_add(1, Ordering::SeqCst);
            n += 1;
            main_thread.unpark();
        }
        n
    });
    for _ in 0..rounds {
        turn.fetch_add(1, Ordering::SeqCst);
        other.thread().unpark();
        while turn.load(Ordering::SeqCst) % 2 == 1 {
            thread::park();
        }
    }
    let n = other.join().unwrap();
    if turn.load(Ordering::SeqCst) == 2 * rounds { n } else { 0 }
}

// RwLock: 6 readers check that two halves sum to zero while 2 writers move
// amounts between them.
fn rwlock_table(writes: u64) -> u64 {
    let table = Arc::new(RwLock::new((0i64, 0i64)));
    let stop = Arc::new(AtomicBool::new(false));
    let bad = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..6)
        .map(|_| {
            let (table, stop, bad) = (Arc::clone(&table), Arc::clone(&stop), Arc::clone(&bad));
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let g = table.read().unwrap();
                    if g.0 + g.1 != 0 {
                        bad.fetch_add(1, Ordering::SeqCst);
                    }
                    drop(g);
                    thread::yield_now();
                }
            })
        })
        .collect();
    let writers: Vec<_> = (1..=2i64)
        .map(|w| {
            let table = Arc::clone(&table);
            thread::spawn(move || {
                for _ in 0..writes {
                    let mut g = table.write().unwrap();
                    g.0 += w;
                    g.1 -= w;
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    for r in readers {
        r.join().unwrap();
    }
    let g = table.read().unwrap();
    if bad.load(Ordering::SeqCst) == 0 && g.0 == 3 * writes as i64 { g.0 as u64 } else { 0 }
}

fn main() {
    let rounds: u64 = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(10);
    let (mut q, mut p, mut b, mut k, mut r) = (0u64, 0u64, 0u64, 0u64, 0u64);
    for _ in 0..rounds {
        q += job_queue(20000);
        p += pipeline(20000);
        b += barrier_phases(8, 200);
        k += park_pingpong(2000);
        r += rwlock_table(20000);
    }
    let n = 20000u64;
    let ok = q == rounds * (n * (n + 1) * (2 * n + 1) / 6)
        && p == rounds * (n * (n - 1) / 2 + 8 * n)
        && b == rounds * 200
        && k == rounds * 2000
        && r == rounds * 3 * 20000;
    println!(
        "RESULT rust_threads rounds={} queue={} pipeline={} barrier={} park={} rwlock={} {}",
        rounds, q, p, b, k, r, if ok { "OK" } else { "FAIL" }
    );
    std::process::exit(if ok { 0 } else { 1 });
}
