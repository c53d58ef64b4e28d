#!/usr/bin/python3
""""Generating Deferreds": largeFibonacciNumber two ways, from Python through
ctypes alone: no binding, no compiled glue.

A LoopingCall ticks every 10 ms to show whether the reactor is free.
Computing on the reactor thread blocks it (no ticks meanwhile); deferToThread
keeps it ticking and delivers the answer to a callback on the reactor thread.
(Python's GIL is handed back and forth every few milliseconds, so the reactor
ticks while a Python function computes on the pool.)

The library: $DFR_LIBPATH, else build/src/libdeferred.so.0 of this
repository, else the system's libdeferred.so.0.
"""
import ctypes as C
import os
import pathlib
import sys
import time

TARGET = 10000
REPEAT = 40  # long enough to see; the answer is the same each time

path = os.environ.get("DFR_LIBPATH")
if not path:
    built = pathlib.Path(__file__).resolve().parents[2] / "build/src/libdeferred.so.0"
    path = str(built) if built.exists() else "libdeferred.so.0"
lib = C.CDLL(path)


class Value(C.Structure):  # dfr_value, declared union-free for FFIs
    _fields_ = [("type", C.c_void_p), ("bits", C.c_int64)]


P, VP = C.c_void_p, C.POINTER(Value)
VALUE_FN = C.CFUNCTYPE(None, VP, P)  # dfr_value_fn: the value in place
FN = C.CFUNCTYPE(None, P)            # dfr_fn
DESTROY_FN = C.CFUNCTYPE(None, P)    # dfr_destroy_fn
for name, res, args in [
        ("dfr_reactor_new", P, [P]), ("dfr_reactor_free", None, [P]),
        ("dfr_reactor_run", C.c_int, [P]), ("dfr_reactor_stop", C.c_int, [P]),
        ("dfr_reactor_call_later", C.c_int, [P, C.c_double, FN, P, DESTROY_FN, P]),
        ("dfr_looping_call_new_ffi", P, [P, VALUE_FN, P, DESTROY_FN]),
        ("dfr_looping_call_start", P, [P, C.c_double, C.c_bool]),
        ("dfr_looping_call_unref", None, [P]),
        ("dfr_reactor_defer_to_thread_ffi", P, [P, VALUE_FN, P, DESTROY_FN]),
        ("dfr_succeed_ffi", P, [VP]),
        ("dfr_deferred_add_callback_ffi", C.c_int, [P, VALUE_FN, P, DESTROY_FN]),
        ("dfr_deferred_unref", None, [P]),
        ("dfr_value_set_string", C.c_int, [VP, C.c_char_p]),
        ("dfr_value_get_bytes", P, [VP, C.POINTER(C.c_size_t)])]:
    f = getattr(lib, name)
    f.restype, f.argtypes = res, args

NO_DESTROY = DESTROY_FN()  # NULL: these callbacks own nothing


def large_fibonacci_number():
    for _ in range(REPEAT):
        first, second = 0, 1
        for _ in range(TARGET - 1):
            first, second = second, first + second
    return str(second)


def text(v):
    n = C.c_size_t()
    return C.string_at(lib.dfr_value_get_bytes(v, C.byref(n)), n.value).decode()


def report(how, digits, ticks_meanwhile, seconds):
    print("%s: the %dth Fibonacci number has %d digits: %.20s...%s"
          % (how, TARGET, len(digits), digits, digits[-10:]))
    print("%s: %.0f ms of work, the reactor ticked %d times meanwhile"
          % (how, seconds * 1000, ticks_meanwhile))


reactor = lib.dfr_reactor_new(None)
ticks = 0
mark = {}


@VALUE_FN
def tick(v, data):
    global ticks
    ticks += 1


@VALUE_FN
def fibonacci_task(v, data):  # on a pool thread
    lib.dfr_value_set_string(v, large_fibonacci_number().encode())


@VALUE_FN
def thread_done(v, data):  # back on the reactor thread
    report("deferToThread", text(v), ticks - mark["ticks"], time.monotonic() - mark["t"])
    lib.dfr_reactor_stop(reactor)


@FN
def in_a_thread(data):
    mark.update(ticks=ticks, t=time.monotonic())
    d = lib.dfr_reactor_defer_to_thread_ffi(reactor, fibonacci_task, None, NO_DESTROY)
    lib.dfr_deferred_add_callback_ffi(d, thread_done, None, NO_DESTROY)
    print("deferToThread: returned at once; the reactor keeps ticking")
    lib.dfr_deferred_unref(d)


@VALUE_FN
def print_number(v, data):
    report("blocking", text(v), ticks - mark["ticks"], time.monotonic() - mark["t"])


@FN
def blocking(data):
    mark.update(ticks=ticks, t=time.monotonic())
    v = Value()
    lib.dfr_value_set_string(C.byref(v), large_fibonacci_number().encode())
    d = lib.dfr_succeed_ffi(C.byref(v))  # a deferred, but the work is already done
    print("blocking: the call returned only after the work was done")
    lib.dfr_deferred_add_callback_ffi(d, print_number, None, NO_DESTROY)  # runs now
    lib.dfr_deferred_unref(d)
    # Give the reactor a moment, then do it the non-blocking way.
    lib.dfr_reactor_call_later(reactor, 0.05, in_a_thread, None, NO_DESTROY, None)


lc = lib.dfr_looping_call_new_ffi(reactor, tick, None, NO_DESTROY)
loop = lib.dfr_looping_call_start(lc, 0.01, True)
lib.dfr_reactor_call_later(reactor, 0.05, blocking, None, NO_DESTROY, None)
rc = lib.dfr_reactor_run(reactor)  # releases the GIL while the reactor waits
lib.dfr_looping_call_unref(lc)
lib.dfr_deferred_unref(loop)
lib.dfr_reactor_free(reactor)
sys.exit(0 if rc == 0 else 1)
