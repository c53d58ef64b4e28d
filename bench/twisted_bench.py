"""The same work as bench_core.c, done with Twisted: `twisted_bench.py NAME N [REPS]`
prints one JSON line {"bench", "impl": "twisted", "n", "ns_per_op"[, "bytes_per_op"]}.
Run it with Debian's /usr/bin/python3, which sees Debian's python3-twisted."""
import json
import os
import sys
import threading
import time
import tracemalloc

from twisted.internet import defer


def add_one(x):
    return x + 1


def callback_link(n):
    t0 = time.perf_counter()
    d = defer.Deferred()
    for _ in range(n):
        d.addCallback(add_one)
    d.callback(0)
    return time.perf_counter() - t0


def deferred_cycle(n):
    t0 = time.perf_counter()
    for i in range(n):
        d = defer.Deferred()
        d.addCallback(add_one)
        d.callback(i)
    return time.perf_counter() - t0


def chain_depth(n):
    t0 = time.perf_counter()
    ds = [defer.Deferred() for _ in range(n)]
    for i in range(n - 1):
        ds[i].addCallback(lambda _, nxt=ds[i + 1]: nxt)
    ds[0].addCallback(add_one)
    for i in range(n - 1):
        ds[i].callback(None)
    ds[-1].callback(1)
    return time.perf_counter() - t0


def deferred_list(n):
    t0 = time.perf_counter()
    ds = [defer.Deferred() for _ in range(n)]
    dl = defer.DeferredList(ds)
    for i, d in enumerate(ds):
        d.callback(i)
    assert dl.called
    return time.perf_counter() - t0


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _pendings(ds):
    for i in range(len(ds)):
        d = defer.Deferred()
        d.addCallback(add_one)
        ds[i] = d


def pending_memory(n):
    """Bytes per pending Deferred with one callback, two ways: what tracemalloc
    sees Python allocate (bytes_per_op), and the growth of the resident set
    (rss_bytes_per_op), measured first in the fresh process so that no freed
    memory is reused.  The list holding them is made beforehand."""
    ds = [None] * n
    rss0 = _rss()
    _pendings(ds)
    rss = (_rss() - rss0) / n
    del ds
    ds = [None] * n
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    _pendings(ds)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return used / n, rss


def await_fired(n):
    """@inlineCallbacks yielding already-fired deferreds; timed inside."""
    out = []

    @defer.inlineCallbacks
    def loop():
        t0 = time.perf_counter()
        acc = 0
        for i in range(n):
            acc += yield defer.succeed(i)
        out.append(time.perf_counter() - t0)

    loop()
    return out[0]


def await_suspend(n):
    """One @inlineCallbacks generator awaiting deferreds fired from outside."""
    waiting = [None]

    @defer.inlineCallbacks
    def loop():
        acc = 0
        for _ in range(n):
            d = defer.Deferred()
            waiting[0] = d
            acc += yield d
        return acc

    t0 = time.perf_counter()
    done = loop()
    for i in range(n):
        waiting[0].callback(i)
    t = time.perf_counter() - t0
    assert done.called
    return t


def coroutine_cycle(n):
    """Create an @inlineCallbacks generator, run it to completion, collect."""

    @defer.inlineCallbacks
    def one(i):
        if False:
            yield
        return i

    acc = 0
    t0 = time.perf_counter()
    for i in range(n):
        acc += one(i).result
    return time.perf_counter() - t0


def _reactor():
    # A fresh reactor per measurement: benchmarks run in separate processes.
    from twisted.internet import reactor
    return reactor


def call_later(n):
    reactor = _reactor()
    left = [n]

    def fired():
        left[0] -= 1
        if left[0] == 0:
            reactor.stop()

    def schedule():
        for i in range(n):
            reactor.callLater((i * 2654435761 % 1000000) / 1e9, fired)

    t0 = time.perf_counter()
    reactor.callWhenRunning(schedule)
    reactor.run()
    return time.perf_counter() - t0


def call_later_cancel(n):
    reactor = _reactor()
    t0 = time.perf_counter()
    calls = [reactor.callLater(1.0 + (i * 2654435761 % 1000000) / 1e9, add_one, 0) for i in range(n)]
    for c in calls:
        c.cancel()
    return time.perf_counter() - t0


def defer_to_thread(n):
    from twisted.internet import threads
    reactor = _reactor()
    reactor.suggestThreadPoolSize(4)
    left = [n]

    def done(_):
        left[0] -= 1
        if left[0] == 0:
            reactor.stop()

    def submit():
        for _ in range(n):
            threads.deferToThread(lambda: None).addCallback(done)

    t0 = time.perf_counter()
    reactor.callWhenRunning(submit)
    reactor.run()
    return time.perf_counter() - t0


def call_from_thread(n):
    reactor = _reactor()
    per = n // 4
    total = per * 4
    got = [0]

    def one():
        got[0] += 1
        if got[0] == total:
            reactor.stop()

    def produce():
        for _ in range(per):
            reactor.callFromThread(one)

    def start():
        for _ in range(4):
            threading.Thread(target=produce, daemon=True).start()

    t0 = time.perf_counter()
    reactor.callWhenRunning(start)
    reactor.run()
    return time.perf_counter() - t0


TIMED = {f.__name__: f for f in (callback_link, deferred_cycle, chain_depth, deferred_list,
                                 call_later, call_later_cancel, defer_to_thread, call_from_thread,
                                 await_fired, await_suspend, coroutine_cycle)}
REACTOR = {"call_later", "call_later_cancel", "defer_to_thread", "call_from_thread"}


def main():
    name, n = sys.argv[1], int(sys.argv[2])
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    if name == "pending_memory":
        traced, rss = pending_memory(n)
        print(json.dumps({"bench": name, "impl": "twisted", "n": n, "ns_per_op": 0,
                          "bytes_per_op": round(traced, 1), "rss_bytes_per_op": round(rss, 1)}))
        return
    if name not in TIMED:
        sys.exit("twisted_bench: unknown benchmark " + name)
    # The global reactor runs once per process: one repetition there.
    # Elsewhere the best of at least `reps` runs, more while they total under
    # 0.2 s (as bench_core does for short runs).
    if name in REACTOR:
        best = TIMED[name](n)
    else:
        times = []
        while len(times) < reps or (sum(times) < 0.2 and len(times) < 50):
            times.append(TIMED[name](n))
        best = min(times)
    print(json.dumps({"bench": name, "impl": "twisted", "n": n, "ns_per_op": round(best / n * 1e9, 2)}))


if __name__ == "__main__":
    main()
