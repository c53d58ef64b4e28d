"""libdeferred declared with Python's ctypes only (no compiled glue).

The library is found through $DFR_LIBPATH (scripts/test sets it), else in
this repository's usual build directories, else on the system's search path.
Values are declared union-free (DFR_VALUE_FFI_DECL in deferred/ffi_forms.h)
and handled through pointers with the dfr_value_get_*/set_* accessors;
callbacks take the FFI forms (dfr_*_ffi), whose functions get a pointer to
the value and return nothing.
"""
import ctypes as C
import ctypes.util
import os
import pathlib
import threading

P = C.c_void_p


class Value(C.Structure):
    """dfr_value, as an FFI declares it: { const void *type; int64_t bits; }."""
    _fields_ = [("type", C.c_void_p), ("bits", C.c_int64)]


class ReactorOptions(C.Structure):
    _fields_ = [("size", C.c_size_t), ("manual_clock", C.c_bool),
                ("threadpool_min", C.c_uint), ("threadpool_max", C.c_uint),
                ("uv_loop", C.c_void_p)]


VP = C.POINTER(Value)
VALUE_FN = C.CFUNCTYPE(None, VP, P)          # dfr_value_fn
DESTROY_FN = C.CFUNCTYPE(None, P)            # dfr_destroy_fn
FN = C.CFUNCTYPE(None, P)                    # dfr_fn
CANCELLER_FN = C.CFUNCTYPE(None, P, P)       # dfr_canceller_fn
UNHANDLED_FN = C.CFUNCTYPE(None, P, P)       # dfr_unhandled_error_fn

# Constants from the headers.
OK, EINVAL, ENOMEM, EALREADY, ECANCELLED, ETIMEDOUT, EFIRST, ENOTRUNNING = range(0, -8, -1)
EALREADY_CANCELLED, EALREADY_CALLED_DC = -8, -9
EALREADY_RUNNING = -23
PENDING, SUCCEEDED, FAILED = 0, 1, 2
STATE_INVALID = KIND_INVALID = -1  # dfr_deferred_state / dfr_value_kind of NULL
(KIND_NONE, KIND_I64, KIND_F64, KIND_PTR, KIND_BYTES, KIND_FAILURE, KIND_DEFERRED,
 KIND_LIST, KIND_OTHER) = range(9)
FIRE_ON_ONE_CALLBACK, FIRE_ON_ONE_ERRBACK, CONSUME_ERRORS = 1, 2, 4
BEFORE, DURING, AFTER = 0, 1, 2
STARTUP, SHUTDOWN = 0, 1

_SIGNATURES = {
    # name: (restype, argtypes)
    "dfr_version": (C.c_char_p, []),
    "dfr_strerror": (C.c_char_p, [C.c_int]),
    "dfr_free": (None, [P]),
    "dfr_set_unhandled_error_hook": (None, [UNHANDLED_FN, P]),
    # values
    "dfr_value_kind": (C.c_int, [VP]),
    "dfr_value_get_i64": (C.c_int64, [VP]),
    "dfr_value_get_f64": (C.c_double, [VP]),
    "dfr_value_get_ptr": (P, [VP]),
    "dfr_value_get_bytes": (P, [VP, C.POINTER(C.c_size_t)]),
    "dfr_value_set_none": (None, [VP]),
    "dfr_value_set_i64": (None, [VP, C.c_int64]),
    "dfr_value_set_f64": (None, [VP, C.c_double]),
    "dfr_value_set_ptr": (None, [VP, P]),
    "dfr_value_set_bytes": (C.c_int, [VP, C.c_char_p, C.c_size_t]),
    "dfr_value_set_string": (C.c_int, [VP, C.c_char_p]),
    "dfr_value_set_failure": (C.c_int, [VP, P]),
    "dfr_value_set_deferred": (C.c_int, [VP, P]),
    "dfr_value_set_list": (C.c_int, [VP, VP, C.POINTER(C.c_bool), C.c_size_t]),
    "dfr_value_move": (None, [VP, VP]),
    "dfr_value_copy": (None, [VP, VP]),
    "dfr_value_drop": (None, [Value]),   # by value: the union-free struct
    "dfr_i64": (Value, [C.c_int64]),
    # failures
    "dfr_failure_new_ffi": (P, [C.c_char_p, C.c_int, C.c_char_p]),
    "dfr_failure_from": (P, [VP]),
    "dfr_failure_domain": (C.c_char_p, [P]),
    "dfr_failure_code": (C.c_int, [P]),
    "dfr_failure_message": (C.c_char_p, [P]),
    "dfr_failure_cause": (P, [P]),
    "dfr_failure_index": (C.c_int64, [P]),
    "dfr_failure_check": (C.c_bool, [P, C.c_char_p, C.c_int]),
    "dfr_failure_ref": (P, [P]),
    "dfr_failure_unref": (None, [P]),
    "dfr_failure_set_payload_ffi": (C.c_int, [P, VP]),
    "dfr_failure_payload": (VP, [P]),
    "dfr_failure_describe": (P, [P]),
    # deferreds
    "dfr_deferred_new": (P, []),
    "dfr_deferred_new_cancellable": (P, [CANCELLER_FN, P, DESTROY_FN]),
    "dfr_deferred_ref": (P, [P]),
    "dfr_deferred_unref": (None, [P]),
    "dfr_deferred_add_callbacks_ffi": (C.c_int, [P, VALUE_FN, VALUE_FN, P, DESTROY_FN]),
    "dfr_deferred_add_callback_ffi": (C.c_int, [P, VALUE_FN, P, DESTROY_FN]),
    "dfr_deferred_add_errback_ffi": (C.c_int, [P, VALUE_FN, P, DESTROY_FN]),
    "dfr_deferred_add_both_ffi": (C.c_int, [P, VALUE_FN, P, DESTROY_FN]),
    "dfr_deferred_callback_ffi": (C.c_int, [P, VP]),
    "dfr_deferred_errback": (C.c_int, [P, P]),
    "dfr_deferred_cancel": (None, [P]),
    "dfr_deferred_pause": (C.c_int, [P]),
    "dfr_deferred_unpause": (C.c_int, [P]),
    "dfr_deferred_chain": (C.c_int, [P, P]),
    "dfr_deferred_state": (C.c_int, [P]),
    "dfr_deferred_result": (VP, [P]),
    "dfr_succeed_ffi": (P, [VP]),
    "dfr_fail": (P, [P]),
    "dfr_maybe_deferred_ffi": (P, [VALUE_FN, P]),
    "dfr_deferred_list": (P, [C.POINTER(P), C.c_size_t, C.c_uint]),
    "dfr_gather_results": (P, [C.POINTER(P), C.c_size_t, C.c_bool]),
    "dfr_list_from": (P, [VP]),
    "dfr_list_len": (C.c_size_t, [P]),
    "dfr_list_ok": (C.c_bool, [P, C.c_size_t]),
    "dfr_list_get": (VP, [P, C.c_size_t]),
    "dfr_list_take_ffi": (None, [P, C.c_size_t, VP]),
    # the reactor
    "dfr_reactor_new": (P, [C.POINTER(ReactorOptions)]),
    "dfr_reactor_free": (None, [P]),
    "dfr_reactor_run": (C.c_int, [P]),
    "dfr_reactor_stop": (C.c_int, [P]),
    "dfr_reactor_iterate": (C.c_int, [P, C.c_double]),
    "dfr_reactor_seconds": (C.c_double, [P]),
    "dfr_reactor_advance": (C.c_int, [P, C.c_double]),
    "dfr_reactor_running": (C.c_bool, [P]),
    "dfr_reactor_pending_calls": (C.c_size_t, [P]),
    "dfr_reactor_call_later": (C.c_int, [P, C.c_double, FN, P, DESTROY_FN, C.POINTER(P)]),
    "dfr_delayed_call_cancel": (C.c_int, [P]),
    "dfr_delayed_call_reset": (C.c_int, [P, C.c_double]),
    "dfr_delayed_call_delay": (C.c_int, [P, C.c_double]),
    "dfr_delayed_call_active": (C.c_bool, [P]),
    "dfr_delayed_call_time": (C.c_double, [P]),
    "dfr_delayed_call_unref": (None, [P]),
    "dfr_reactor_call_from_thread": (C.c_int, [P, FN, P, DESTROY_FN]),
    "dfr_reactor_call_when_running": (C.c_int, [P, FN, P, DESTROY_FN]),
    "dfr_reactor_add_system_event_trigger_ffi":
        (C.c_int, [P, C.c_int, C.c_int, VALUE_FN, P, DESTROY_FN, C.POINTER(C.c_uint64)]),
    "dfr_reactor_remove_system_event_trigger": (C.c_int, [P, C.c_uint64]),
    "dfr_reactor_defer_later_ffi": (P, [P, C.c_double, VALUE_FN, P, DESTROY_FN]),
    "dfr_deferred_add_timeout": (C.c_int, [P, P, C.c_double]),
    "dfr_deferred_add_timeout_with_ffi": (C.c_int, [P, P, C.c_double, VALUE_FN, P, DESTROY_FN]),
    "dfr_looping_call_with_count": (C.c_int, [P]),
    "dfr_looping_call_count": (C.c_uint64, [P]),
    "dfr_looping_call_new_ffi": (P, [P, VALUE_FN, P, DESTROY_FN]),
    "dfr_looping_call_start": (P, [P, C.c_double, C.c_bool]),
    "dfr_looping_call_stop": (C.c_int, [P]),
    "dfr_looping_call_unref": (None, [P]),
    "dfr_reactor_defer_to_thread_ffi": (P, [P, VALUE_FN, P, DESTROY_FN]),
    "dfr_reactor_blocking_call_from_thread_ffi": (C.c_int, [P, VALUE_FN, P, VP]),
}


def find_library():
    path = os.environ.get("DFR_LIBPATH")
    if path:
        return path
    root = pathlib.Path(__file__).resolve().parents[2]
    for build in ("build", "build-test/plain", "builddir"):
        candidate = root / build / "src" / "libdeferred.so.0"
        if candidate.exists():
            return str(candidate)
    return ctypes.util.find_library("deferred") or "libdeferred.so.0"


def load(path=None):
    lib = C.CDLL(path or find_library())  # CDLL: the GIL is released during calls
    for name, (restype, argtypes) in _SIGNATURES.items():
        f = getattr(lib, name)
        f.restype = restype
        f.argtypes = argtypes
    return lib


lib = load()


# ---- user data: a registry of Python objects, keyed by the int passed as data ----

class Registry:
    """Maps the `void *data` of a registration to a Python object.  The one
    destroy callback removes the entry: the library runs it exactly once per
    registration, so `live` empties and every count in `destroyed` is 1."""

    def __init__(self):
        self.live = {}
        self.destroyed = {}
        self._next = 1
        self._lock = threading.Lock()
        self.destroy = DESTROY_FN(self._destroy)

    def put(self, obj):
        with self._lock:
            key = self._next
            self._next += 1
            self.live[key] = obj
        return key

    def _destroy(self, key):
        with self._lock:
            self.destroyed[key] = self.destroyed.get(key, 0) + 1
            self.live.pop(key, None)


registry = Registry()


def failure_value(v, domain, code, message):
    """Replace *v with a new failure."""
    f = lib.dfr_failure_new_ffi(domain.encode(), code, message.encode())
    lib.dfr_value_set_failure(v, f)


def _run(v, key):
    fn = registry.live[key]
    try:
        fn(v)
    except Exception as e:  # a Python exception becomes a failure value
        failure_value(v, "python", 1, "%s: %s" % (type(e).__name__, e))


# The one trampoline for every callback and task: data is a registry key.
call_value_fn = VALUE_FN(_run)
call_fn = FN(lambda key: registry.live[key]())
call_canceller = CANCELLER_FN(lambda d, key: registry.live[key](d))


# ---- small conveniences used by the tests ----

def kind(v):
    return lib.dfr_value_kind(v)


def i64(v):
    return lib.dfr_value_get_i64(v)


def get_bytes(v):
    n = C.c_size_t()
    p = lib.dfr_value_get_bytes(v, C.byref(n))
    return C.string_at(p, n.value) if p else b""


def describe(v):
    """A short text for a value: like tests/recorder.h's show()."""
    if not v:
        return "pending"
    k = kind(v)
    if k == KIND_NONE:
        return "none"
    if k == KIND_I64:
        return "i64 %d" % i64(v)
    if k == KIND_F64:
        return "f64 %g" % lib.dfr_value_get_f64(v)
    if k == KIND_BYTES:
        return "bytes " + get_bytes(v).decode()
    if k == KIND_FAILURE:
        f = lib.dfr_failure_from(v)
        return "fail %s %d" % (lib.dfr_failure_domain(f).decode(), lib.dfr_failure_code(f))
    if k == KIND_LIST:
        return "list %d" % lib.dfr_list_len(lib.dfr_list_from(v))
    return "kind %d" % k


def result(d):
    return describe(lib.dfr_deferred_result(d))


def add_callback(d, fn):
    return lib.dfr_deferred_add_callback_ffi(d, call_value_fn, registry.put(fn), registry.destroy)


def add_errback(d, fn):
    return lib.dfr_deferred_add_errback_ffi(d, call_value_fn, registry.put(fn), registry.destroy)


def add_both(d, fn):
    return lib.dfr_deferred_add_both_ffi(d, call_value_fn, registry.put(fn), registry.destroy)


def fire_i64(d, x):
    v = Value()
    lib.dfr_value_set_i64(C.byref(v), x)
    return lib.dfr_deferred_callback_ffi(d, C.byref(v))


def manual_reactor():
    o = ReactorOptions(size=C.sizeof(ReactorOptions), manual_clock=True)
    return lib.dfr_reactor_new(C.byref(o))
