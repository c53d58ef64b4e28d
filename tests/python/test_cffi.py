"""A short part again with cffi in ABI mode (no compiler): dfr_value declared
union-free, so libffi passes it by value — the C API's own by-value callbacks
work — and the FFI forms through pointers."""
import pytest

cffi = pytest.importorskip("cffi")

from dfr_ctypes import find_library  # only the library's path

ffi = cffi.FFI()
ffi.cdef("""
typedef struct dfr_value { const void *type; int64_t bits; } dfr_value;
typedef struct dfr_deferred dfr_deferred;
typedef struct dfr_reactor dfr_reactor;
typedef void (*dfr_destroy_fn)(void *data);
typedef void (*dfr_value_fn)(dfr_value *v, void *data);
typedef dfr_value (*dfr_callback_fn)(dfr_value result, void *data);

dfr_value dfr_i64(int64_t x);
dfr_value dfr_bytes_new(const void *data, size_t len);
void dfr_value_drop(dfr_value v);
dfr_deferred *dfr_deferred_new(void);
void dfr_deferred_unref(dfr_deferred *d);
int dfr_deferred_add_callback(dfr_deferred *d, dfr_callback_fn cb, void *data,
                              dfr_destroy_fn destroy);
int dfr_deferred_callback(dfr_deferred *d, dfr_value v);
const dfr_value *dfr_deferred_result(const dfr_deferred *d);

int dfr_value_kind(const dfr_value *v);
int64_t dfr_value_get_i64(const dfr_value *v);
void dfr_value_set_i64(dfr_value *v, int64_t x);
int dfr_value_set_string(dfr_value *v, const char *s);
const void *dfr_value_get_bytes(const dfr_value *v, size_t *len);
int dfr_deferred_add_callback_ffi(dfr_deferred *d, dfr_value_fn cb, void *data,
                                  dfr_destroy_fn destroy);
int dfr_deferred_callback_ffi(dfr_deferred *d, dfr_value *v);
dfr_deferred *dfr_reactor_defer_later_ffi(dfr_reactor *r, double delay, dfr_value_fn fn,
                                          void *data, dfr_destroy_fn destroy);

typedef struct dfr_reactor_options {
    size_t size; _Bool manual_clock; unsigned threadpool_min; unsigned threadpool_max;
    void *uv_loop;
} dfr_reactor_options;
dfr_reactor *dfr_reactor_new(const dfr_reactor_options *opts);
void dfr_reactor_free(dfr_reactor *r);
int dfr_reactor_advance(dfr_reactor *r, double seconds);
""")
lib = ffi.dlopen(find_library())

destroyed = []


@ffi.callback("void(void *)")
def destroy(data):
    destroyed.append(ffi.from_handle(data))


def test_by_value_api_with_the_union_free_declaration():
    v = lib.dfr_i64(20)
    assert v.bits == 20 and lib.dfr_value_kind(ffi.addressof(v)) == 1

    @ffi.callback("dfr_value(dfr_value, void *)")
    def add_one(result, data):
        return lib.dfr_i64(lib.dfr_value_get_i64(ffi.addressof(result)) + 1)

    d = lib.dfr_deferred_new()
    assert lib.dfr_deferred_add_callback(d, add_one, ffi.NULL, ffi.NULL) == 0
    assert lib.dfr_deferred_add_callback(d, add_one, ffi.NULL, ffi.NULL) == 0
    assert lib.dfr_deferred_callback(d, v) == 0
    assert lib.dfr_value_get_i64(lib.dfr_deferred_result(d)) == 22
    lib.dfr_deferred_unref(d)
    b = lib.dfr_bytes_new(b"abc", 3)
    assert lib.dfr_value_kind(ffi.addressof(b)) == 4
    lib.dfr_value_drop(b)


def test_ffi_forms_and_the_manual_clock():
    label = ["the label"]
    handle = ffi.new_handle(label)  # keep alive until destroy ran

    @ffi.callback("void(dfr_value *, void *)")
    def shout(v, data):
        n = ffi.new("size_t *")
        p = lib.dfr_value_get_bytes(v, n)
        text = ffi.buffer(p, n[0])[:].upper()
        lib.dfr_value_set_string(v, text + b" " + ffi.from_handle(data)[0].encode())

    d = lib.dfr_deferred_new()
    assert lib.dfr_deferred_add_callback_ffi(d, shout, handle, destroy) == 0
    v = ffi.new("dfr_value *")
    lib.dfr_value_set_string(v, b"hello")
    assert lib.dfr_deferred_callback_ffi(d, v) == 0
    assert lib.dfr_value_kind(v) == 0  # taken
    n = ffi.new("size_t *")
    p = lib.dfr_value_get_bytes(lib.dfr_deferred_result(d), n)
    assert ffi.buffer(p, n[0])[:] == b"HELLO the label"
    lib.dfr_deferred_unref(d)
    assert destroyed == [label]

    @ffi.callback("void(dfr_value *, void *)")
    def seven(v, data):
        lib.dfr_value_set_i64(v, 7)

    opts = ffi.new("dfr_reactor_options *", {"size": ffi.sizeof("dfr_reactor_options"),
                                              "manual_clock": True})
    r = lib.dfr_reactor_new(opts)
    later = lib.dfr_reactor_defer_later_ffi(r, 1.5, seven, ffi.NULL, ffi.NULL)
    lib.dfr_reactor_advance(r, 1.5)
    assert lib.dfr_value_get_i64(lib.dfr_deferred_result(later)) == 7
    lib.dfr_deferred_unref(later)
    lib.dfr_reactor_free(r)
