#!/usr/bin/env python3
"""GMP_TRACE tests.

  check_trace.py json LIB PROG           run PROG under gmp with GMP_TRACE and check the JSON
  check_trace.py png LIB PROG TRACE_PNG  the same run, then scripts/trace-png must draw it

PROG is tests/trace/trace_prog.c: threads that contend on a mutex, wait on a
condition variable, sleep, read a pipe, block 100 ms in a raw rt_sigtimedwait (a
hand-off call), spin (so the other P steals), create and join.  It prints
"threads N"; under gmp its threads are G2..G(N+1), main is G1.
Exit status: 0 passed, 1 failed, 77 skipped (meson's code; png without matplotlib).
"""
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile

failures = []


def check(ok, what):
    print(("ok: " if ok else "FAIL: ") + what)
    if not ok:
        failures.append(what)
    return ok


def run_traced(lib, prog, trace):
    env = dict(os.environ, LD_PRELOAD=lib, GMP_TRACE=trace, GMP_MAXPROCS="2")
    r = subprocess.run([prog], env=env, capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, "program exits 0 under GMP_TRACE (status %d, stderr %r)" % (r.returncode, r.stderr))
    words = r.stdout.split()
    check(len(words) == 2 and words[0] == "threads", "program prints its thread count (%r)" % r.stdout)
    return int(words[1]) if len(words) == 2 and words[1].isdigit() else 0


def nested(spans):
    """X spans of one row (start, dur in us): each ends before the next starts, or contains it."""
    stack = []
    # In whole nanoseconds: the file has three decimals, and float sums would round.
    for ts, end in sorted(((round(t * 1000), round(t * 1000) + round(d * 1000)) for t, d in spans),
                          key=lambda s: (s[0], -s[1])):
        while stack and stack[-1] <= ts:
            stack.pop()
        if stack and end > stack[-1]:
            return False
        stack.append(end)
    return True


def check_json(path, nthreads):
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        check(False, "trace is valid JSON (%s)" % e)
        return
    check(True, "trace is valid JSON")
    ev = doc.get("traceEvents")
    if not check(isinstance(ev, list) and ev, "trace has a traceEvents array"):
        return
    check(all({"ph", "pid", "tid", "name"} <= e.keys() for e in ev), "every event has ph, pid, tid, name")
    check(all(isinstance(e.get("ts"), (int, float)) for e in ev), "every event has a numeric ts")

    kinds = collections.Counter()
    for e in ev:
        kinds[(e["ph"], e.get("cat") if e["ph"] == "X" else e["name"])] += 1
    for k, what in [(("X", "g"), "G running spans"), (("X", "syscall"), "kernel-call spans (entersyscall/exitsyscall)"),
                    (("i", "park"), "parks"), (("i", "unpark"), "unparks"), (("s", "wake"), "flow starts (wakes)"),
                    (("f", "wake"), "flow ends"), (("i", "create"), "thread creations"), (("i", "exit"), "thread exits"),
                    (("i", "steal"), "steals"), (("i", "timer"), "timer fires"), (("i", "preempted"), "preemptions"),
                    (("i", "handoffp"), "handoffp"), (("i", "M start"), "M starts"),
                    (("M", "thread_name"), "row names"), (("M", "process_name"), "the process name")]:
        check(kinds[k] > 0, "has %s (%d %s)" % (what, kinds[k], "/".join(k)))

    # B/E pairs (none expected) must match per row; X spans have dur >= 0 and nest per row.
    depth = collections.Counter()
    balanced = True
    for e in ev:
        if e["ph"] == "B":
            depth[e["tid"]] += 1
        elif e["ph"] == "E":
            depth[e["tid"]] -= 1
            balanced = balanced and depth[e["tid"]] >= 0
    check(balanced and not any(depth.values()), "every B has a matching E on its row")
    xs = [e for e in ev if e["ph"] == "X"]
    check(all(isinstance(e.get("dur"), (int, float)) and e["dur"] >= 0 for e in xs), "every X event has dur >= 0")
    rows = collections.defaultdict(list)
    for e in xs:
        rows[e["tid"]].append((e["ts"], e["dur"]))
    check(all(nested(s) for s in rows.values()), "X spans nest properly on every row")
    names = {e["tid"]: e["args"]["name"] for e in ev if e["ph"] == "M" and e["name"] == "thread_name"}
    check(all(t in names for t in rows), "every row with spans is named")
    check(any(n.startswith("M") and n[1:].isdigit() for n in names.values()), "rows are named M<id> (%s)" %
          sorted(names.values()))

    # The program's threads.
    gs = [e for e in xs if e.get("cat") == "g"]
    goids = {e["args"]["goid"] for e in gs}
    want = set(range(1, nthreads + 2))
    check(nthreads > 0 and want <= goids, "every thread G1..G%d ran in a span (missing %s)" %
          (nthreads + 1, sorted(want - goids)[:10]))
    created = {e["args"]["goid"] for e in ev if e["name"] == "create" and e["ph"] == "i"}
    check(created == want - {1}, "a create event for each of G2..G%d" % (nthreads + 1))
    exited = {e["args"]["goid"] for e in ev if e["name"] == "exit" and e["ph"] == "i"}
    check(exited == want - {1}, "an exit event for each of G2..G%d" % (nthreads + 1))
    check(all(e["name"] == "G%d" % e["args"]["goid"] for e in gs), "G spans are named G<goid>")
    tnames = {e["args"].get("thread") for e in gs}
    for n in ("holder", "contender", "waiter", "reader", "blocker", "parent"):
        check(n in tnames, "span args name thread %r" % n)

    reasons = collections.Counter(e["args"]["reason"] for e in ev if e["name"] == "park" and e["ph"] == "i")
    for r in ("mutex", "cond", "sleep", "netpoll", "join"):
        check(reasons[r] > 0, "park reason %r (%s)" % (r, dict(reasons)))
    unparks = [e for e in ev if e["name"] == "unpark" and e["ph"] == "i"]
    check(any(e["args"]["waker"] in goids for e in unparks), "an unpark names a G as its waker")
    check(all(e["args"]["goid"] in goids for e in unparks), "unparks name the woken goid")
    starts = {e["id"] for e in ev if e["ph"] == "s"}
    ends = [e["id"] for e in ev if e["ph"] == "f"]
    check(ends and all(i in starts for i in ends), "every flow end has its start (%d flows)" % len(ends))
    check(len(set(ends)) == len(ends), "flow ids are unique")

    sc = [e for e in xs if e.get("cat") == "syscall"]
    blockers = {e["args"]["goid"] for e in gs if e["args"].get("thread") == "blocker"}
    check(any(e["args"]["goid"] in blockers and e["dur"] >= 90000 for e in sc),
          "the blocker's 100 ms rt_sigtimedwait is a syscall span")
    check(all(e["args"]["from"] in ("user", "syscall") for e in ev if e["name"] == "retake"), "retake says from what")
    steals = [e for e in ev if e["name"] == "steal"]
    check(all(e["args"]["count"] >= 1 and e["args"]["thief"] != e["args"]["victim"] for e in steals),
          "steals name thief, victim and a count")


def main():
    mode, lib, prog = sys.argv[1], sys.argv[2], sys.argv[3]
    with tempfile.TemporaryDirectory() as d:
        trace = os.path.join(d, "trace.json")
        if mode == "png":
            # As scripts/trace-png: Debian's matplotlib may belong to /usr/bin/python3 only.
            if not any(subprocess.run([py, "-c", "import matplotlib"], capture_output=True).returncode == 0
                       for py in ("python3", "/usr/bin/python3") if shutil.which(py)):
                print("skip: python3-matplotlib is not installed")
                return 77
            run_traced(lib, prog, trace)
            png = os.path.join(d, "trace.png")
            r = subprocess.run([sys.argv[4], trace, png], capture_output=True, text=True, timeout=300)
            check(r.returncode == 0, "trace-png exits 0 (%s)" % (r.stdout + r.stderr).strip())
            sig = open(png, "rb").read(8) if os.path.exists(png) else b""
            check(sig == b"\x89PNG\r\n\x1a\n", "trace-png wrote a PNG (%d bytes)" %
                  (os.path.getsize(png) if os.path.exists(png) else 0))
        else:
            check_json(trace, run_traced(lib, prog, trace))
            # _exit skips the flush, yet the file is valid JSON and holds what was recorded
            # 500 ms before (the writer converts partial buffers every 100 ms); without
            # "%p" GMP_TRACE leaves the environment (children would truncate the file), with
            # it each process writes its own file.
            for name, env_state in (("exit.json", "unset"), ("exit.%p.json", "set")):
                env = dict(os.environ, LD_PRELOAD=lib, GMP_TRACE=os.path.join(d, name))
                p = subprocess.Popen([prog, "_exit"], env=env, stdout=subprocess.PIPE, text=True)
                out, _ = p.communicate(timeout=120)
                check(p.returncode == 3 and out == "GMP_TRACE %s\n" % env_state,
                      "GMP_TRACE=%s: GMP_TRACE %s in the program (%d, %r)" % (name, env_state, p.returncode, out))
                want = name.replace("%p", str(p.pid))
                try:
                    with open(os.path.join(d, want)) as f:
                        ev = json.load(f)["traceEvents"]
                    ok = ev[0]["name"] == "process_name"
                    created = {e["args"]["goid"] for e in ev if e["name"] == "create"}
                except (OSError, ValueError, KeyError, IndexError):
                    ok, created = False, set()
                check(ok, "after _exit %s is valid JSON" % want)
                check(created == {2, 3, 4, 5}, "after _exit %s holds the 4 creations (%s)" % (want, sorted(created)))
            # A path that cannot be opened: a warning, no trace, the program still works.
            env = dict(os.environ, LD_PRELOAD=lib, GMP_TRACE=os.path.join(d, "no/such/dir/t.json"))
            r = subprocess.run([prog], env=env, capture_output=True, text=True, timeout=120)
            check(r.returncode == 0 and "GMP_TRACE" in r.stderr, "an unwritable GMP_TRACE path only warns")
    print("%d failed" % len(failures) if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
