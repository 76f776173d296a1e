#!/usr/bin/env python3
"""Quick interleaved create -> start -> wait -> delete latency of OCI runtimes (issue 3's harness).

Usage (as root): benches/quick_lifecycle.py BUNDLE ROUNDS RUNTIME_PATH...

Each round runs every runtime once, in rotating order, on the same busybox bundle whose process is
/bin/true. "wait" polls a pidfd of the init (taken from --pid-file), so it works whether or not the
init is our child. Prints median, p90, min, max per runtime and the ratio of medians to the first.
Run it inside `unshare -m` with /sys/fs/cgroup/unified unmounted if crun 1.8 is among the runtimes
(it refuses hybrid cgroup hosts).
"""
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time


def lifecycle(rt, root, bundle, cid, pidfile):
    t0 = time.perf_counter_ns()
    subprocess.run([rt, "--root", root, "create", "--bundle", bundle, "--pid-file", pidfile, cid],
                   check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    pid = int(open(pidfile).read())
    fd = os.pidfd_open(pid)
    subprocess.run([rt, "--root", root, "start", cid], check=True)
    p = select.poll()
    p.register(fd, select.POLLIN)
    p.poll(10_000)
    os.close(fd)
    subprocess.run([rt, "--root", root, "delete", cid], check=True)
    return (time.perf_counter_ns() - t0) / 1e6


def main():
    bundle, rounds, rts = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    times = {rt: [] for rt in rts}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            order = rts[r % len(rts):] + rts[:r % len(rts)]
            for i, rt in enumerate(order):
                root = os.path.join(tmp, f"root{i}")
                cid = f"q{os.getpid()}-{r}-{i}"
                times[rt].append(lifecycle(rt, root, bundle, cid, os.path.join(tmp, "pid")))
    base = statistics.median(times[rts[0]])
    print(f"n={rounds} rounds, create->start->wait->delete of the bundle's process, ms")
    print(f"{'runtime':<28} {'median':>8} {'p90':>8} {'min':>8} {'max':>8} {'ratio':>7}")
    for rt in rts:
        t = sorted(times[rt])
        med = statistics.median(t)
        p90 = t[min(len(t) - 1, int(len(t) * 0.9))]
        print(f"{rt:<28} {med:8.2f} {p90:8.2f} {t[0]:8.2f} {t[-1]:8.2f} {med / base:7.2f}")


if __name__ == "__main__":
    main()
