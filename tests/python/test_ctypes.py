"""libdeferred driven from pure Python through ctypes (no compiled glue).

Every callback is a Python function reached through one ctypes trampoline
(dfr_ctypes.call_value_fn) with a registry key as its data; the registry's
destroy callback counts how often the library released each key: exactly
once, on every path, is checked after each test.
"""
import ctypes as C
import threading

import pytest

import dfr_ctypes as D
from dfr_ctypes import lib, registry, Value


@pytest.fixture(autouse=True)
def every_destroy_runs_once():
    before = set(registry.destroyed)
    yield
    assert registry.live == {}, "user data never released"
    new = {k: n for k, n in registry.destroyed.items() if k not in before}
    assert all(n == 1 for n in new.values()), new


@pytest.fixture
def unhandled():
    """Collects unhandled failures (code) instead of printing them."""
    seen = []
    hook = D.UNHANDLED_FN(lambda f, data: seen.append(lib.dfr_failure_code(f)))
    lib.dfr_set_unhandled_error_hook(hook, None)
    yield seen
    lib.dfr_set_unhandled_error_hook(D.UNHANDLED_FN(), None)


def test_callback_chain_with_errbacks_and_recovery():
    seen = []

    def double(v):
        lib.dfr_value_set_i64(v, D.i64(v) * 2)

    def boom(v):
        raise ValueError("too big: %d" % D.i64(v))

    def recover(v):
        f = lib.dfr_failure_from(v)
        seen.append((lib.dfr_failure_domain(f), lib.dfr_failure_message(f)))
        lib.dfr_value_set_string(v, b"recovered")

    d = lib.dfr_deferred_new()
    assert D.add_callback(d, double) == 0
    assert D.add_errback(d, lambda v: seen.append("not called")) == 0
    assert D.add_callback(d, boom) == 0
    assert D.add_callback(d, lambda v: seen.append("skipped")) == 0
    assert D.add_errback(d, recover) == 0
    assert D.add_both(d, lambda v: seen.append(D.describe(v))) == 0
    assert lib.dfr_deferred_state(d) == D.PENDING
    assert D.fire_i64(d, 21) == 0
    assert seen == [(b"python", b"ValueError: too big: 42"), "bytes recovered"]
    assert D.result(d) == "bytes recovered"
    assert D.fire_i64(d, 1) == D.EALREADY
    lib.dfr_deferred_unref(d)


def test_errback_and_addcallbacks_pairs():
    seen = []
    d = lib.dfr_deferred_new()
    key = registry.put(lambda v: seen.append("cb " + D.describe(v)))
    # A pair with a NULL errback (VALUE_FN() is NULL): failures pass it by.
    assert lib.dfr_deferred_add_callbacks_ffi(d, D.call_value_fn, D.VALUE_FN(), key,
                                              registry.destroy) == 0
    f = lib.dfr_failure_new_ffi(b"app", 5, b"no")
    assert lib.dfr_deferred_errback(d, f) == 0
    assert seen == []  # the NULL errback passed the failure on
    assert D.result(d) == "fail app 5"
    assert registry.destroyed[key] == 1
    # Handled: the failure is no longer unhandled when the deferred goes.
    D.add_errback(d, lambda v: lib.dfr_value_set_none(v))
    lib.dfr_deferred_unref(d)


def test_returned_deferred_is_waited_for():
    inner = lib.dfr_deferred_new()
    outer = lib.dfr_deferred_new()
    D.add_callback(outer, lambda v: lib.dfr_value_set_deferred(v, lib.dfr_deferred_ref(inner)))
    D.add_callback(outer, lambda v: lib.dfr_value_set_i64(v, D.i64(v) + 1))
    D.fire_i64(outer, 0)
    assert lib.dfr_deferred_state(outer) == D.PENDING
    D.fire_i64(inner, 41)
    assert D.result(outer) == "i64 42"
    assert D.result(inner) == "none"  # the inner's chain continues with none
    lib.dfr_deferred_unref(inner)
    lib.dfr_deferred_unref(outer)


def test_cancel_with_a_canceller():
    calls = []

    def canceller(d):
        calls.append(d)
        D.fire_i64(d, 99)  # a canceller may give a result of its own

    key = registry.put(canceller)
    d = lib.dfr_deferred_new_cancellable(D.call_canceller, key, registry.destroy)
    lib.dfr_deferred_cancel(d)
    assert calls == [d]
    assert D.result(d) == "i64 99"
    assert registry.destroyed[key] == 1
    lib.dfr_deferred_cancel(d)  # no effect once fired
    assert len(calls) == 1
    lib.dfr_deferred_unref(d)

    # A canceller that leaves it pending: DFR_ECANCELLED.
    key = registry.put(lambda d: None)
    d = lib.dfr_deferred_new_cancellable(D.call_canceller, key, registry.destroy)
    lib.dfr_deferred_cancel(d)
    assert D.result(d) == "fail dfr %d" % D.ECANCELLED
    D.add_errback(d, lambda v: lib.dfr_value_set_none(v))
    assert D.fire_i64(d, 1) == D.EALREADY  # with a canceller, as in Twisted
    lib.dfr_deferred_unref(d)


def _inputs(n):
    ds = (C.c_void_p * n)()
    for i in range(n):
        ds[i] = lib.dfr_deferred_new()
    return ds


def _entries(d):
    v = lib.dfr_deferred_result(d)
    lst = lib.dfr_list_from(v)
    return [(lib.dfr_list_ok(lst, i), D.describe(lib.dfr_list_get(lst, i)))
            for i in range(lib.dfr_list_len(lst))]


def _fail(d, code):
    lib.dfr_deferred_errback(d, lib.dfr_failure_new_ffi(b"app", code, b"x"))


def _unref_all(ds, *more):
    for d in list(ds) + list(more):
        lib.dfr_deferred_unref(d)


def test_deferred_list_without_flags(unhandled):
    ds = _inputs(3)
    dl = lib.dfr_deferred_list(ds, 3, 0)
    D.fire_i64(ds[2], 2)
    _fail(ds[0], 7)
    assert lib.dfr_deferred_state(dl) == D.PENDING
    D.fire_i64(ds[1], 1)
    assert _entries(dl) == [(False, "fail app 7"), (True, "i64 1"), (True, "i64 2")]
    # Without CONSUME_ERRORS the input keeps its failure: handle it.
    assert D.result(ds[0]) == "fail app 7"
    D.add_errback(ds[0], lambda v: lib.dfr_value_set_none(v))
    _unref_all(ds, dl)
    assert unhandled == []


def test_deferred_list_fire_on_one_callback():
    ds = _inputs(2)
    dl = lib.dfr_deferred_list(ds, 2, D.FIRE_ON_ONE_CALLBACK)
    D.fire_i64(ds[1], 5)
    assert _entries(dl) == [(True, "i64 5"), (True, "i64 1")]  # (result, index)
    D.fire_i64(ds[0], 4)
    _unref_all(ds, dl)


def test_deferred_list_fire_on_one_errback_and_consume_errors(unhandled):
    ds = _inputs(2)
    dl = lib.dfr_deferred_list(ds, 2, D.FIRE_ON_ONE_ERRBACK | D.CONSUME_ERRORS)
    _fail(ds[1], 9)
    v = lib.dfr_deferred_result(dl)
    f = lib.dfr_failure_from(v)
    assert lib.dfr_failure_code(f) == D.EFIRST
    assert lib.dfr_failure_index(f) == 1
    assert lib.dfr_failure_code(lib.dfr_failure_cause(f)) == 9
    assert D.result(ds[1]) == "none"  # consumed
    D.add_errback(dl, lambda v: lib.dfr_value_set_none(v))
    D.fire_i64(ds[0], 0)
    _unref_all(ds, dl)
    assert unhandled == []


def _check_refused(d, code):
    """A refused call's deferred: already failed with the library's code."""
    assert d is not None
    assert D.result(d) == "fail dfr %d" % code
    D.add_errback(d, lambda v: lib.dfr_value_set_none(v))
    lib.dfr_deferred_unref(d)


def test_gather_results_and_bad_lists():
    ds = _inputs(2)
    g = lib.dfr_gather_results(ds, 2, False)
    D.fire_i64(ds[0], 10)
    D.fire_i64(ds[1], 20)
    assert _entries(g) == [(True, "i64 10"), (True, "i64 20")]
    _unref_all(ds, g)
    _check_refused(lib.dfr_deferred_list(None, 2, 0), D.EINVAL)
    ds = _inputs(1)
    _check_refused(lib.dfr_deferred_list(ds, 1, 1 << 5), D.EINVAL)  # unknown flag
    _unref_all(ds)
    empty = lib.dfr_deferred_list(None, 0, 0)
    assert _entries(empty) == []
    lib.dfr_deferred_unref(empty)


def test_values_built_and_read_through_pointers():
    items = (Value * 3)()
    lib.dfr_value_set_f64(C.byref(items[0]), 0.5)
    lib.dfr_value_set_bytes(C.byref(items[1]), b"a\0b", 3)
    D.failure_value(C.byref(items[2]), "app", 3, "bad")
    ok = (C.c_bool * 3)(True, True, False)
    v = Value()
    assert lib.dfr_value_set_list(C.byref(v), items, ok, 3) == 0
    assert [D.kind(C.byref(x)) for x in items] == [D.KIND_NONE] * 3  # taken
    lst = lib.dfr_list_from(C.byref(v))
    assert lib.dfr_list_len(lst) == 3
    assert lib.dfr_value_get_f64(lib.dfr_list_get(lst, 0)) == 0.5
    assert D.get_bytes(lib.dfr_list_get(lst, 1)) == b"a\0b"
    assert not lib.dfr_list_ok(lst, 2)
    out = Value()
    lib.dfr_list_take_ffi(lst, 2, C.byref(out))
    f = lib.dfr_failure_from(C.byref(out))
    assert lib.dfr_failure_check(f, b"app", 3)
    # A payload: any value, here a borrowed pointer.
    payload = Value()
    lib.dfr_value_set_ptr(C.byref(payload), 1234)
    assert lib.dfr_failure_set_payload_ffi(f, C.byref(payload)) == 0
    assert lib.dfr_value_get_ptr(lib.dfr_failure_payload(f)) == 1234
    text = lib.dfr_failure_describe(f)
    assert b"bad" in C.string_at(text)
    lib.dfr_free(text)
    lib.dfr_value_set_none(C.byref(out))
    copy = Value()
    lib.dfr_value_copy(C.byref(copy), C.byref(v))  # shares the list
    lib.dfr_value_set_none(C.byref(v))
    assert lib.dfr_list_len(lib.dfr_list_from(C.byref(copy))) == 3
    lib.dfr_value_set_none(C.byref(copy))
    # By value, declared union-free, works too.
    x = lib.dfr_i64(-3)
    assert x.bits == -3 and lib.dfr_value_kind(C.byref(x)) == D.KIND_I64
    lib.dfr_value_drop(x)


def test_manual_clock_call_later_cancel_reset():
    r = D.manual_reactor()
    order = []
    handles = []
    for name, delay in (("a", 3), ("b", 1), ("c", 2)):
        h = C.c_void_p()
        key = registry.put(lambda name=name: order.append((name, lib.dfr_reactor_seconds(r))))
        assert lib.dfr_reactor_call_later(r, delay, D.call_fn, key, registry.destroy, C.byref(h)) == 0
        handles.append(h)
    a, b, c = handles
    assert lib.dfr_reactor_pending_calls(r) == 3
    assert lib.dfr_delayed_call_cancel(c) == 0
    assert lib.dfr_delayed_call_cancel(c) == D.EALREADY_CANCELLED
    assert not lib.dfr_delayed_call_active(c)
    assert lib.dfr_delayed_call_reset(a, 5) == 0
    assert lib.dfr_delayed_call_time(a) == 5.0
    lib.dfr_reactor_advance(r, 1)
    assert order == [("b", 1.0)]
    lib.dfr_reactor_advance(r, 3)
    assert order == [("b", 1.0)]
    lib.dfr_reactor_advance(r, 1)
    assert order == [("b", 1.0), ("a", 5.0)]
    assert lib.dfr_delayed_call_cancel(a) == D.EALREADY_CALLED_DC
    for h in handles:
        lib.dfr_delayed_call_unref(h)

    # deferLater, addTimeout and a LoopingCall on the same clock.
    d = lib.dfr_reactor_defer_later_ffi(r, 2, D.call_value_fn,
                                        registry.put(lambda v: lib.dfr_value_set_i64(v, 7)),
                                        registry.destroy)
    lib.dfr_reactor_advance(r, 2)
    assert D.result(d) == "i64 7"
    lib.dfr_deferred_unref(d)
    slow = lib.dfr_deferred_new()
    assert lib.dfr_deferred_add_timeout(slow, r, 1) == 0
    lib.dfr_reactor_advance(r, 1)
    assert D.result(slow) == "fail dfr %d" % D.ETIMEDOUT
    D.add_errback(slow, lambda v: lib.dfr_value_set_none(v))
    lib.dfr_deferred_unref(slow)
    ticks = []
    lc = lib.dfr_looping_call_new_ffi(r, D.call_value_fn, registry.put(lambda v: ticks.append(1)),
                                      registry.destroy)
    done = lib.dfr_looping_call_start(lc, 1, True)
    lib.dfr_reactor_advance(r, 1)
    lib.dfr_reactor_advance(r, 1)
    assert len(ticks) == 3
    lib.dfr_looping_call_stop(lc)
    assert lib.dfr_value_get_ptr(lib.dfr_deferred_result(done)) == lc
    lib.dfr_deferred_unref(done)
    lib.dfr_looping_call_unref(lc)

    # Pending calls are released (destroy runs) when the reactor is freed.
    key = registry.put(lambda: order.append("never"))
    lib.dfr_reactor_call_later(r, 10, D.call_fn, key, registry.destroy, None)
    lib.dfr_reactor_free(r)
    assert registry.destroyed[key] == 1
    assert "never" not in order


def test_twisted_with_count_and_on_timeout_cancel():
    r = D.manual_reactor()
    # addTimeout(onTimeoutCancel=...): called only for the timeout, its result goes on.
    seen = []

    def override(v):
        seen.append(D.describe(v))
        lib.dfr_value_set_string(v, b"OVERRIDDEN")

    slow = lib.dfr_deferred_new()
    assert lib.dfr_deferred_add_timeout_with_ffi(slow, r, 10, D.call_value_fn, registry.put(override),
                                                 registry.destroy) == 0
    fast = lib.dfr_deferred_new()
    assert lib.dfr_deferred_add_timeout_with_ffi(fast, r, 10, D.call_value_fn, registry.put(override),
                                                 registry.destroy) == 0
    assert D.fire_i64(fast, 1) == 0
    lib.dfr_reactor_advance(r, 15)
    assert seen == ["fail dfr %d" % D.ECANCELLED]
    assert D.result(slow) == "bytes OVERRIDDEN"
    assert D.result(fast) == "i64 1"
    key = registry.put(override)  # refused: released at once
    assert lib.dfr_deferred_add_timeout_with_ffi(None, r, 1, D.call_value_fn, key,
                                                 registry.destroy) == D.EINVAL
    assert registry.destroyed[key] == 1
    for d in (slow, fast):
        lib.dfr_deferred_unref(d)

    # LoopingCall.withCount: the call after a slow deferred counts what it missed.
    counts, holder = [], {}

    def tick(v):
        counts.append(lib.dfr_looping_call_count(holder["lc"]))
        if len(counts) == 1:
            lib.dfr_value_set_deferred(v, lib.dfr_deferred_ref(holder["wait"]))

    holder["wait"] = lib.dfr_deferred_new()
    lc = holder["lc"] = lib.dfr_looping_call_new_ffi(r, D.call_value_fn, registry.put(tick),
                                                     registry.destroy)
    assert lib.dfr_looping_call_with_count(lc) == 0
    done = lib.dfr_looping_call_start(lc, 0.2, False)
    for _ in range(3):
        lib.dfr_reactor_advance(r, 0.2)
    assert D.fire_i64(holder["wait"], 0) == 0
    lib.dfr_reactor_advance(r, 0.2)
    assert counts == [1, 3]
    assert lib.dfr_looping_call_with_count(lc) == D.EALREADY_RUNNING
    lib.dfr_looping_call_stop(lc)
    for d in (done, holder["wait"]):
        lib.dfr_deferred_unref(d)
    lib.dfr_looping_call_unref(lc)
    lib.dfr_reactor_free(r)


def test_real_reactor_call_from_thread_and_defer_to_thread():
    r = lib.dfr_reactor_new(None)
    main = threading.get_ident()
    n_threads, per_thread = 4, 25
    arrived = []
    results = {}

    def arrive(tid, i):
        arrived.append((tid, i, threading.get_ident() == main))
        if len(arrived) == n_threads * per_thread and "fib" in results:
            lib.dfr_reactor_stop(r)

    def sender(tid):
        for i in range(per_thread):
            key = registry.put(lambda tid=tid, i=i: arrive(tid, i))
            assert lib.dfr_reactor_call_from_thread(r, D.call_fn, key, registry.destroy) == 0

    def fib(v):  # runs on a pool thread
        results["task thread"] = threading.get_ident()
        a, b = 0, 1
        for _ in range(1000):
            a, b = b, a + b
        lib.dfr_value_set_string(v, str(a).encode())

    def got(v):  # back on the reactor thread
        results["fib"] = D.get_bytes(v)
        results["callback thread"] = threading.get_ident()
        if len(arrived) == n_threads * per_thread:
            lib.dfr_reactor_stop(r)

    d = lib.dfr_reactor_defer_to_thread_ffi(r, D.call_value_fn, registry.put(fib),
                                            registry.destroy)
    D.add_callback(d, got)
    lib.dfr_deferred_unref(d)
    threads = [threading.Thread(target=sender, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    assert lib.dfr_reactor_run(r) == 0  # releases the GIL while it runs
    for t in threads:
        t.join()
    lib.dfr_reactor_free(r)
    assert len(arrived) == n_threads * per_thread
    assert all(on_main for _, _, on_main in arrived)
    for tid in range(n_threads):  # FIFO per calling thread
        assert [i for t, i, _ in arrived if t == tid] == list(range(per_thread))
    assert results["fib"].startswith(b"434665576869374564356885276750406258025646605173717804024")
    assert results["task thread"] != main
    assert results["callback thread"] == main


def test_blocking_call_from_thread_and_system_triggers():
    r = lib.dfr_reactor_new(None)
    out = Value()
    seen = []

    # A blocking call has no destroy: its caller waits, then releases the data.
    key5 = registry.put(lambda v: lib.dfr_value_set_i64(v, 5))

    def worker():
        rc = lib.dfr_reactor_blocking_call_from_thread_ffi(r, D.call_value_fn, key5, C.byref(out))
        registry.destroy(key5)
        seen.append(rc)
        lib.dfr_reactor_stop(r)

    t = threading.Thread(target=worker)

    def on_startup(v):
        t.start()

    key = registry.put(on_startup)
    assert lib.dfr_reactor_add_system_event_trigger_ffi(
        r, D.AFTER, D.STARTUP, D.call_value_fn, key, registry.destroy, None) == 0
    assert lib.dfr_reactor_run(r) == 0
    t.join()
    assert seen == [0] and D.describe(C.byref(out)) == "i64 5"
    lib.dfr_reactor_free(r)


def refused(d):
    """The failure of a refused call's deferred, handled and released."""
    text = D.result(d)
    D.add_errback(d, lambda v: lib.dfr_value_set_none(v))
    lib.dfr_deferred_unref(d)
    return text


def test_destroy_runs_once_on_every_path():
    d = lib.dfr_deferred_new()
    keys = [registry.put(lambda v: None) for _ in range(3)]
    lib.dfr_deferred_add_callback_ffi(d, D.call_value_fn, keys[0], registry.destroy)
    lib.dfr_deferred_add_errback_ffi(d, D.call_value_fn, keys[1], registry.destroy)
    lib.dfr_deferred_add_both_ffi(d, D.call_value_fn, keys[2], registry.destroy)
    assert all(k in registry.live for k in keys)
    lib.dfr_deferred_unref(d)  # freed unfired
    assert [registry.destroyed[k] for k in keys] == [1, 1, 1]
    # Errors: destroy has run before the call returns.
    k = registry.put(lambda v: None)
    assert lib.dfr_deferred_add_callback_ffi(None, D.call_value_fn, k, registry.destroy) == D.EINVAL
    assert registry.destroyed[k] == 1
    k = registry.put(lambda v: None)
    d = lib.dfr_reactor_defer_to_thread_ffi(None, D.call_value_fn, k, registry.destroy)
    assert registry.destroyed[k] == 1
    assert refused(d) == "fail dfr -1"  # a refusal is a failed deferred, never NULL


def test_bad_input_gives_error_codes():
    EINVAL = D.EINVAL
    assert lib.dfr_deferred_callback_ffi(None, None) == EINVAL
    assert lib.dfr_deferred_state(None) == D.STATE_INVALID
    assert lib.dfr_deferred_errback(None, None) == EINVAL
    assert lib.dfr_deferred_unpause(None) == EINVAL
    d = lib.dfr_deferred_new()
    assert lib.dfr_deferred_unpause(d) == EINVAL  # not paused
    assert lib.dfr_deferred_callback_ffi(d, None) == EINVAL
    v = Value()
    lib.dfr_value_set_deferred(C.byref(v), lib.dfr_deferred_new())
    assert lib.dfr_deferred_callback_ffi(d, C.byref(v)) == EINVAL  # chain, don't fire
    assert D.kind(C.byref(v)) == D.KIND_NONE
    lib.dfr_deferred_cancel(None)
    lib.dfr_deferred_unref(None)
    lib.dfr_deferred_unref(d)
    assert lib.dfr_value_kind(None) == D.KIND_INVALID
    assert lib.dfr_value_get_i64(None) == 0
    assert lib.dfr_value_set_string(None, b"x") == EINVAL
    assert lib.dfr_value_set_bytes(C.byref(v), None, 3) == EINVAL
    assert lib.dfr_value_set_list(C.byref(v), None, None, 2) == EINVAL
    lib.dfr_value_set_none(C.byref(v))
    assert lib.dfr_failure_code(None) == 0
    assert lib.dfr_failure_set_payload_ffi(None, None) == EINVAL
    assert lib.dfr_reactor_new(C.byref(D.ReactorOptions(size=3))) is None
    r = lib.dfr_reactor_new(None)
    assert lib.dfr_reactor_advance(r, 1) == EINVAL  # not a manual clock
    assert lib.dfr_reactor_stop(r) == D.ENOTRUNNING
    assert lib.dfr_reactor_call_later(r, -1, D.call_fn, None, D.DESTROY_FN(), None) == EINVAL
    assert lib.dfr_reactor_call_later(None, 1, D.call_fn, None, D.DESTROY_FN(), None) == EINVAL
    assert lib.dfr_delayed_call_cancel(None) == EINVAL
    assert lib.dfr_reactor_iterate(r, -1) == EINVAL
    assert lib.dfr_reactor_add_system_event_trigger_ffi(
        r, 9, 0, D.call_value_fn, None, D.DESTROY_FN(), None) == EINVAL
    assert lib.dfr_reactor_remove_system_event_trigger(r, 12345) == EINVAL
    assert refused(lib.dfr_looping_call_start(None, 1, True)) == "fail dfr -1"
    out = Value()
    assert lib.dfr_reactor_blocking_call_from_thread_ffi(r, D.call_value_fn, None, None) == EINVAL
    # From the reactor's own thread: a DFR_EDEADLK failure, not a hang.
    assert lib.dfr_reactor_blocking_call_from_thread_ffi(r, D.call_value_fn, None,
                                                         C.byref(out)) == 0
    assert D.describe(C.byref(out)) == "fail dfr -11"
    lib.dfr_value_set_none(C.byref(out))
    lib.dfr_reactor_free(r)
    assert lib.dfr_strerror(D.EINVAL) == b"invalid argument"
