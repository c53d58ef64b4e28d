// The FFI forms (deferred/ffi_forms.h) and the FFI declaration of
// dfr_value: the union-free layout is pinned (size, alignment, offsets) and
// proven by libffi itself — calls and a closure made with the union-free
// struct type exchange values with the library's by-value API.  The FFI
// forms are tested like the rest: results, destroy exactly once on every
// path, allocation failures.  No Twisted counterpart (FFI access).
#include <catch2/catch.hpp>

#include "reactor_support.h"
#include "recorder.h"
#include "support.h"

#include <dlfcn.h>
#include <ffi.h>

#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

using test::Clock;

namespace {

// What an FFI declares (DFR_VALUE_FFI_DECL).
struct ffi_value {
    const void *type;
    int64_t bits;
};

static_assert(sizeof(ffi_value) == sizeof(dfr_value), "size");
static_assert(alignof(ffi_value) == alignof(dfr_value), "alignment");
static_assert(offsetof(ffi_value, type) == offsetof(dfr_value, type), "type offset");
static_assert(offsetof(ffi_value, bits) == offsetof(dfr_value, u), "payload offset");

// The union-free struct as libffi sees it.
ffi_type *elements[] = {&ffi_type_pointer, &ffi_type_sint64, nullptr};
ffi_type value_type = {0, 0, FFI_TYPE_STRUCT, elements};

// ---- FFI-form callbacks used below ----

void add_one(dfr_value *v, void *)
{
    dfr_value_set_i64(v, dfr_value_get_i64(v) + 1);
}

void record(dfr_value *v, void *data)
{
    static_cast<test::Recorder *>(data)->seen.push_back(test::show(*v));
}

// Recover: replace a failure with i64 -1.
void recover(dfr_value *v, void *data)
{
    if (data)
        static_cast<test::Recorder *>(data)->seen.push_back(test::show(*v));
    dfr_value_set_i64(v, -1);
}

void fail_with_7(dfr_value *v, void *)
{
    dfr_value_set_failure(v, dfr_failure_new_ffi("ffi-test", 7, "seven"));
}

void leave_alone(dfr_value *, void *) {}

void produce_42(dfr_value *v, void *)
{
    dfr_value_set_i64(v, 42);
}

void return_deferred(dfr_value *v, void *data)
{
    dfr_value_set_deferred(v, dfr_deferred_ref(static_cast<dfr_deferred *>(data)));
}

int64_t result_i64(dfr_deferred *d)
{
    return dfr_value_get_i64(dfr_deferred_result(d));
}

} // namespace

TEST_CASE("FFI forms: every function of the header is an exported symbol", "[ffi]")
{
    // What an FFI looks up by name (the header's full list).
    const char *const names[] = {
        "dfr_value_kind", "dfr_value_type", "dfr_value_get_i64", "dfr_value_get_f64",
        "dfr_value_get_ptr", "dfr_value_get_bytes", "dfr_value_set_none",
        "dfr_value_set_i64", "dfr_value_set_f64", "dfr_value_set_ptr", "dfr_value_set_obj",
        "dfr_value_set_bytes", "dfr_value_set_string", "dfr_value_set_failure",
        "dfr_value_set_deferred", "dfr_value_set_list", "dfr_value_move", "dfr_value_copy",
        "dfr_list_take_ffi", "dfr_failure_new_ffi", "dfr_failure_set_payload_ffi",
        "dfr_deferred_add_callbacks_ffi", "dfr_deferred_add_callback_ffi",
        "dfr_deferred_add_errback_ffi", "dfr_deferred_add_both_ffi",
        "dfr_deferred_callback_ffi", "dfr_succeed_ffi", "dfr_maybe_deferred_ffi",
        "dfr_lock_run_ffi", "dfr_semaphore_run_ffi", "dfr_queue_put_ffi",
        "dfr_reactor_defer_later_ffi", "dfr_reactor_add_system_event_trigger_ffi",
        "dfr_looping_call_new_ffi", "dfr_reactor_defer_to_thread_ffi",
        "dfr_reactor_defer_to_threadpool_ffi", "dfr_reactor_blocking_call_from_thread_ffi"
    };
    for (const char *name : names) {
        INFO(name);
        CHECK(dlsym(RTLD_DEFAULT, name) != nullptr);
    }
}

TEST_CASE("FFI forms: a failure domain is copied once and kept", "[ffi]")
{
    char domain[] = "ffi-test";
    long before = test::live_allocations();
    dfr_failure *f = dfr_failure_new_ffi(domain, 1, "one");
    REQUIRE(f != nullptr);
    const char *kept = dfr_failure_domain(f);
    CHECK(kept != domain);
    dfr_failure_unref(f);
    char again[] = "ffi-test";
    f = dfr_failure_new_ffi(again, 2, "two");
    again[0] = domain[0] = 'X'; // the failure does not point at the caller's string
    CHECK(dfr_failure_domain(f) == kept); // one copy per distinct domain
    CHECK(std::string(dfr_failure_domain(f)) == "ffi-test");
    CHECK(dfr_failure_check(f, "ffi-test", 2));
    dfr_failure_unref(f);
    f = dfr_failure_new_ffi(nullptr, DFR_EINVAL, nullptr);
    CHECK(std::string(dfr_failure_domain(f)) == DFR_DOMAIN);
    dfr_failure_unref(f);
    // The copies are not the library's working memory (see value_ffi.c).
    CHECK(test::live_allocations() == before);
}

TEST_CASE("FFI layout: the union-free declaration has dfr_value's size, alignment and offsets",
          "[ffi]")
{
    CHECK(sizeof(dfr_value) == 16);
    CHECK(alignof(dfr_value) == 8);
    CHECK(offsetof(dfr_value, u) == 8);
    // libffi computes the same layout for the struct type FFIs describe.
    ffi_cif cif;
    ffi_type *args[] = {&value_type};
    REQUIRE(ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 1, &value_type, args) == FFI_OK);
    CHECK(value_type.size == sizeof(dfr_value));
    CHECK(value_type.alignment == alignof(dfr_value));
    size_t offsets[2];
    REQUIRE(ffi_get_struct_offsets(FFI_DEFAULT_ABI, &value_type, offsets) == FFI_OK);
    CHECK(offsets[0] == offsetof(dfr_value, type));
    CHECK(offsets[1] == offsetof(dfr_value, u));
    CHECK(std::string(DFR_VALUE_FFI_DECL).find("{ const void *type; int64_t bits; }") !=
          std::string::npos);
    // Every view of the union is the same 8 bytes at offset 8.
    dfr_value v = dfr_f64(1.5);
    ffi_value f;
    std::memcpy(&f, &v, sizeof f);
    double back;
    std::memcpy(&back, &f.bits, sizeof back);
    CHECK(back == 1.5);
}

TEST_CASE("FFI layout: libffi calls the by-value API with the union-free struct", "[ffi]")
{
    ffi_cif make_i64, make_f64, drop, bytes_new;
    ffi_type *i64_arg[] = {&ffi_type_sint64};
    ffi_type *f64_arg[] = {&ffi_type_double};
    ffi_type *value_arg[] = {&value_type};
    ffi_type *bytes_args[] = {&ffi_type_pointer, &ffi_type_uint64};
    REQUIRE(ffi_prep_cif(&make_i64, FFI_DEFAULT_ABI, 1, &value_type, i64_arg) == FFI_OK);
    REQUIRE(ffi_prep_cif(&make_f64, FFI_DEFAULT_ABI, 1, &value_type, f64_arg) == FFI_OK);
    REQUIRE(ffi_prep_cif(&drop, FFI_DEFAULT_ABI, 1, &ffi_type_void, value_arg) == FFI_OK);
    REQUIRE(ffi_prep_cif(&bytes_new, FFI_DEFAULT_ABI, 2, &value_type, bytes_args) == FFI_OK);

    // The exported twins of the inline constructors (what an FFI calls).
    auto *i64_fn = reinterpret_cast<void (*)(void)>(static_cast<dfr_value (*)(int64_t)>(dfr_i64));
    auto *f64_fn = reinterpret_cast<void (*)(void)>(static_cast<dfr_value (*)(double)>(dfr_f64));
    int64_t x = -5;
    ffi_value out = {};
    void *a1[] = {&x};
    ffi_call(&make_i64, i64_fn, &out, a1);
    CHECK(out.type == &dfr_type_i64);
    CHECK(out.bits == -5);

    double y = 2.25;
    void *a2[] = {&y};
    ffi_call(&make_f64, f64_fn, &out, a2);
    CHECK(out.type == &dfr_type_f64);
    dfr_value as_c;
    std::memcpy(&as_c, &out, sizeof as_c);
    CHECK(dfr_value_get_f64(&as_c) == 2.25);

    // An owning value made and dropped through libffi (nothing leaks).
    const char *text = "hello";
    uint64_t len = 5;
    void *a3[] = {&text, &len};
    ffi_call(&bytes_new, reinterpret_cast<void (*)(void)>(dfr_bytes_new), &out, a3);
    REQUIRE(out.type == &dfr_type_bytes);
    std::memcpy(&as_c, &out, sizeof as_c);
    CHECK(dfr_bytes_len(&as_c) == 5);
    void *a4[] = {&out};
    ffi_call(&drop, reinterpret_cast<void (*)(void)>(dfr_value_drop), nullptr, a4);
}

namespace {

// A dfr_callback_fn written with libffi's closure API and the union-free
// struct: doubles an i64, negates an f64 (the double travels in the
// integer registers, as in the union), passes anything else through.
void closure_body(ffi_cif *, void *ret, void **args, void *user)
{
    ffi_value v = *static_cast<ffi_value *>(args[0]);
    void *data = *static_cast<void **>(args[1]);
    ++*static_cast<int *>(user);
    CHECK(data == reinterpret_cast<void *>(0x1234));
    if (v.type == &dfr_type_i64) {
        v.bits *= 2;
    } else if (v.type == &dfr_type_f64) {
        double d;
        std::memcpy(&d, &v.bits, sizeof d);
        d = -d;
        std::memcpy(&v.bits, &d, sizeof d);
    }
    *static_cast<ffi_value *>(ret) = v;
}

} // namespace

TEST_CASE("FFI layout: a libffi closure with the union-free struct is a dfr_callback_fn",
          "[ffi]")
{
    ffi_cif cif;
    ffi_type *args[] = {&value_type, &ffi_type_pointer};
    REQUIRE(ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 2, &value_type, args) == FFI_OK);
    void *code = nullptr;
    auto *closure = static_cast<ffi_closure *>(ffi_closure_alloc(sizeof(ffi_closure), &code));
    REQUIRE(closure != nullptr);
    int calls = 0;
    REQUIRE(ffi_prep_closure_loc(closure, &cif, closure_body, &calls, code) == FFI_OK);
    auto cb = reinterpret_cast<dfr_callback_fn>(code);

    dfr_deferred *d = dfr_deferred_new();
    REQUIRE(dfr_deferred_add_callback(d, cb, reinterpret_cast<void *>(0x1234), nullptr) == 0);
    REQUIRE(dfr_deferred_add_callback(d, cb, reinterpret_cast<void *>(0x1234), nullptr) == 0);
    REQUIRE(dfr_deferred_callback(d, dfr_i64(21)) == 0);
    CHECK(test::state(d) == "i64 84");
    dfr_deferred_unref(d);

    d = dfr_succeed(dfr_f64(0.5));
    REQUIRE(dfr_deferred_add_callback(d, cb, reinterpret_cast<void *>(0x1234), nullptr) == 0);
    CHECK(dfr_value_get_f64(dfr_deferred_result(d)) == -0.5);
    dfr_deferred_unref(d);

    // A direct call through the C type sees the same thing.
    dfr_value r = cb(dfr_i64(4), reinterpret_cast<void *>(0x1234));
    CHECK(r.u.i64 == 8);
    CHECK(calls == 4);
    ffi_closure_free(closure);
}

TEST_CASE("FFI values: kinds, reads and writes through pointers", "[ffi]")
{
    dfr_value v = dfr_none();
    CHECK(dfr_value_kind(&v) == DFR_KIND_NONE);
    CHECK(dfr_value_kind(nullptr) == DFR_KIND_INVALID); // a member of dfr_kind, not an error code
    CHECK(dfr_value_type(nullptr) == nullptr);

    dfr_value_set_i64(&v, 7);
    CHECK(dfr_value_kind(&v) == DFR_KIND_I64);
    CHECK(dfr_value_get_i64(&v) == 7);
    CHECK(dfr_value_get_f64(&v) == 0.0);
    CHECK(dfr_value_get_ptr(&v) == nullptr);

    dfr_value_set_f64(&v, 0.25);
    CHECK(dfr_value_kind(&v) == DFR_KIND_F64);
    CHECK(dfr_value_get_f64(&v) == 0.25);
    CHECK(dfr_value_get_i64(&v) == 0);

    int here = 0;
    dfr_value_set_ptr(&v, &here);
    CHECK(dfr_value_kind(&v) == DFR_KIND_PTR);
    CHECK(dfr_value_get_ptr(&v) == &here);

    REQUIRE(dfr_value_set_string(&v, "abc") == 0);
    CHECK(dfr_value_kind(&v) == DFR_KIND_BYTES);
    size_t len = 99;
    const void *p = dfr_value_get_bytes(&v, &len);
    CHECK(len == 3);
    CHECK(std::memcmp(p, "abc", 3) == 0);
    CHECK(dfr_value_get_bytes(&v, nullptr) == p);

    // Writing over a bytes value releases it (ASan/valgrind see no leak).
    REQUIRE(dfr_value_set_bytes(&v, "\0x", 2) == 0);
    dfr_value_get_bytes(&v, &len);
    CHECK(len == 2);

    REQUIRE(dfr_value_set_failure(&v, dfr_failure_new_ffi("ffi-test", 3, "m")) == 0);
    CHECK(dfr_value_kind(&v) == DFR_KIND_FAILURE);
    const dfr_failure *f = dfr_failure_from(&v);
    CHECK(std::string(dfr_failure_domain(f)) == "ffi-test");
    CHECK(dfr_failure_check(f, "ffi-test", 3));

    REQUIRE(dfr_value_set_deferred(&v, dfr_deferred_new()) == 0);
    CHECK(dfr_value_kind(&v) == DFR_KIND_DEFERRED);

    dfr_value_set_none(&v);
    CHECK(dfr_value_kind(&v) == DFR_KIND_NONE);

    // Bad input: error codes, and what would have been taken is released.
    CHECK(dfr_value_set_string(&v, nullptr) == DFR_EINVAL);
    CHECK(dfr_value_kind(&v) == DFR_KIND_FAILURE);
    CHECK(dfr_value_set_bytes(&v, nullptr, 3) == DFR_EINVAL);
    CHECK(dfr_value_set_bytes(nullptr, "ffi-test", 1) == DFR_EINVAL);
    CHECK(dfr_value_set_failure(nullptr, dfr_failure_new("t", 1, "leak?")) == DFR_EINVAL);
    CHECK(dfr_value_set_failure(&v, nullptr) == DFR_EINVAL);
    CHECK(dfr_value_set_deferred(nullptr, dfr_deferred_new()) == DFR_EINVAL);
    CHECK(dfr_value_set_obj(&v, nullptr, &here) == DFR_EINVAL);
    dfr_value_set_i64(nullptr, 1);
    dfr_value_set_none(&v);
    CHECK(dfr_value_get_bytes(nullptr, &len) == nullptr);
    CHECK(len == 0);
}

namespace {

int freed_objects;
void free_object(void *p)
{
    freed_objects++;
    delete static_cast<int *>(p);
}
const dfr_type object_type = {sizeof(dfr_type), "object", free_object, nullptr};

} // namespace

TEST_CASE("FFI values: user objects, move, copy", "[ffi]")
{
    freed_objects = 0;
    dfr_value a = dfr_none(), b = dfr_none();
    int *obj = new int(5);
    REQUIRE(dfr_value_set_obj(&a, &object_type, obj) == 0);
    CHECK(dfr_value_kind(&a) == DFR_KIND_OTHER);
    CHECK(dfr_value_type(&a) == &object_type);
    CHECK(dfr_value_get_ptr(&a) == obj);
    CHECK(dfr_value_set_obj(nullptr, &object_type, new int(6)) == DFR_EINVAL);
    CHECK(freed_objects == 1); // taken, so freed

    dfr_value_move(&b, &a);
    CHECK(dfr_value_kind(&a) == DFR_KIND_NONE);
    CHECK(dfr_value_get_ptr(&b) == obj);
    dfr_value_move(&b, &b);
    CHECK(dfr_value_get_ptr(&b) == obj);
    // No clone: a copy is none.
    dfr_value_copy(&a, &b);
    CHECK(dfr_value_kind(&a) == DFR_KIND_NONE);
    dfr_value_set_none(&b);
    CHECK(freed_objects == 2);

    REQUIRE(dfr_value_set_string(&a, "shared") == 0);
    dfr_value_copy(&b, &a);
    CHECK(dfr_value_get_bytes(&b, nullptr) == dfr_value_get_bytes(&a, nullptr));
    dfr_value_copy(&a, &a);
    dfr_value_set_none(&a);
    CHECK(dfr_value_kind(&b) == DFR_KIND_BYTES);
    dfr_value_set_none(&b);
}

TEST_CASE("FFI values: building and reading lists", "[ffi]")
{
    dfr_value items[3] = {};
    dfr_value_set_i64(&items[0], 1);
    REQUIRE(dfr_value_set_string(&items[1], "two") == 0);
    dfr_value_set_failure(&items[2], dfr_failure_new_ffi("ffi-test", 3, "three"));
    bool ok[3] = {true, true, false};
    dfr_value v = {};
    REQUIRE(dfr_value_set_list(&v, items, ok, 3) == 0);
    for (auto &item : items)
        CHECK(dfr_value_kind(&item) == DFR_KIND_NONE);
    dfr_list *l = dfr_list_from(&v);
    REQUIRE(dfr_list_len(l) == 3);
    CHECK(dfr_list_ok(l, 0));
    CHECK(!dfr_list_ok(l, 2));
    CHECK(dfr_value_get_i64(dfr_list_get(l, 0)) == 1);
    dfr_value out = {};
    dfr_value_set_i64(&out, 9); // overwritten
    dfr_list_take_ffi(l, 1, &out);
    CHECK(test::show(out) == "bytes two");
    CHECK(dfr_value_kind(dfr_list_get(l, 1)) == DFR_KIND_NONE);
    dfr_list_take_ffi(l, 7, &out);
    CHECK(dfr_value_kind(&out) == DFR_KIND_NONE);
    dfr_list_take_ffi(l, 0, nullptr);

    REQUIRE(dfr_value_set_list(&v, nullptr, nullptr, 0) == 0); // replaces (frees) the old
    CHECK(dfr_list_len(dfr_list_from(&v)) == 0);
    dfr_value_set_i64(&items[0], 1);
    REQUIRE(dfr_value_set_list(&v, items, nullptr, 1) == 0);
    CHECK(dfr_list_ok(dfr_list_from(&v), 0));
    CHECK(dfr_value_set_list(&v, nullptr, nullptr, 2) == DFR_EINVAL);
    CHECK(dfr_value_kind(&v) == DFR_KIND_FAILURE);
    REQUIRE(dfr_value_set_string(&items[0], "taken even on error") == 0);
    CHECK(dfr_value_set_list(nullptr, items, nullptr, 1) == DFR_EINVAL);
    CHECK(dfr_value_kind(&items[0]) == DFR_KIND_NONE);
    dfr_value_set_none(&v);
}

TEST_CASE("FFI forms: callbacks replace the value in place; errbacks recover", "[ffi]")
{
    test::Recorder rec;
    int destroyed = 0;
    dfr_deferred *d = dfr_deferred_new();
    REQUIRE(dfr_deferred_add_callback_ffi(d, add_one, &destroyed, test::count_destroy) == 0);
    REQUIRE(dfr_deferred_add_callback_ffi(d, fail_with_7, &destroyed, test::count_destroy) == 0);
    REQUIRE(dfr_deferred_add_callback_ffi(d, add_one, &destroyed, test::count_destroy) == 0);
    REQUIRE(dfr_deferred_add_errback_ffi(d, recover, &rec, nullptr) == 0);
    REQUIRE(dfr_deferred_add_callbacks_ffi(d, record, nullptr, &rec, nullptr) == 0);
    REQUIRE(dfr_deferred_add_both_ffi(d, leave_alone, &destroyed, test::count_destroy) == 0);
    CHECK(destroyed == 0);
    dfr_value v = {};
    dfr_value_set_i64(&v, 1);
    REQUIRE(dfr_deferred_callback_ffi(d, &v) == 0);
    CHECK(dfr_value_kind(&v) == DFR_KIND_NONE);
    CHECK(destroyed == 4);
    REQUIRE(rec.seen.size() == 2);
    CHECK(rec.seen[0] == "fail ffi-test 7");
    CHECK(rec.seen[1] == "i64 -1");
    CHECK(result_i64(d) == -1);

    // Fired twice: DFR_EALREADY, the value still taken.
    REQUIRE(dfr_value_set_string(&v, "late") == 0);
    CHECK(dfr_deferred_callback_ffi(d, &v) == DFR_EALREADY);
    CHECK(dfr_value_kind(&v) == DFR_KIND_NONE);
    dfr_deferred_unref(d);
}

TEST_CASE("FFI forms: a callback leaving a deferred makes the chain wait for it", "[ffi]")
{
    dfr_deferred *inner = dfr_deferred_new();
    dfr_deferred *outer = dfr_succeed(dfr_i64(0));
    REQUIRE(dfr_deferred_add_callback_ffi(outer, return_deferred, inner, nullptr) == 0);
    REQUIRE(dfr_deferred_add_callback_ffi(outer, add_one, nullptr, nullptr) == 0);
    CHECK(dfr_deferred_state(outer) == DFR_PENDING);
    REQUIRE(dfr_deferred_callback(inner, dfr_i64(10)) == 0);
    CHECK(result_i64(outer) == 11);
    dfr_deferred_unref(inner);
    dfr_deferred_unref(outer);
}

TEST_CASE("FFI forms: destroy runs exactly once on every path", "[ffi]")
{
    int destroyed = 0;
    SECTION("bad input")
    {
        CHECK(dfr_deferred_add_callback_ffi(nullptr, add_one, &destroyed, test::count_destroy) ==
              DFR_EINVAL);
        dfr_deferred *d = dfr_deferred_new();
        CHECK(dfr_deferred_add_callback_ffi(d, nullptr, &destroyed, test::count_destroy) ==
              DFR_EINVAL);
        CHECK(dfr_deferred_add_errback_ffi(d, nullptr, &destroyed, test::count_destroy) ==
              DFR_EINVAL);
        CHECK(dfr_deferred_add_both_ffi(d, nullptr, &destroyed, test::count_destroy) ==
              DFR_EINVAL);
        CHECK(dfr_deferred_add_callbacks_ffi(nullptr, nullptr, nullptr, &destroyed,
                                             test::count_destroy) == DFR_EINVAL);
        CHECK(destroyed == 5);
        // Both NULL in the pair form passes through (as the C form).
        CHECK(dfr_deferred_add_callbacks_ffi(d, nullptr, nullptr, &destroyed,
                                             test::count_destroy) == 0);
        CHECK(dfr_deferred_callback_ffi(d, nullptr) == DFR_EINVAL);
        dfr_deferred_unref(d);
        CHECK(destroyed == 6);
    }
    SECTION("freed unfired")
    {
        dfr_deferred *d = dfr_deferred_new();
        REQUIRE(dfr_deferred_add_callback_ffi(d, add_one, &destroyed, test::count_destroy) == 0);
        REQUIRE(dfr_deferred_add_errback_ffi(d, recover, &destroyed, test::count_destroy) == 0);
        CHECK(destroyed == 0);
        dfr_deferred_unref(d);
        CHECK(destroyed == 2);
    }
    SECTION("cancelled")
    {
        dfr_deferred *d = dfr_deferred_new();
        REQUIRE(dfr_deferred_add_errback_ffi(d, recover, nullptr, nullptr) == 0);
        REQUIRE(dfr_deferred_add_callback_ffi(d, add_one, &destroyed, test::count_destroy) == 0);
        dfr_deferred_cancel(d);
        CHECK(destroyed == 1);
        CHECK(result_i64(d) == 0); // -1 + 1
        dfr_deferred_unref(d);
        CHECK(destroyed == 1);
    }
}

TEST_CASE("FFI forms: allocation failures give DFR_ENOMEM and run destroy once", "[ffi][alloc]")
{
    dfr_trim();
    test::for_each_allocation_failure([](long) {
        int destroyed = 0;
        dfr_deferred *d = dfr_deferred_new();
        if (!d)
            return;
        int rc = dfr_deferred_add_callbacks_ffi(d, add_one, recover, &destroyed,
                                                test::count_destroy);
        CHECK((rc == 0 || rc == DFR_ENOMEM));
        CHECK(destroyed == (rc == 0 ? 0 : 1));
        rc = dfr_deferred_add_callback_ffi(d, add_one, &destroyed, test::count_destroy);
        CHECK((rc == 0 || rc == DFR_ENOMEM));
        dfr_value v = {};
        dfr_value_set_i64(&v, 1);
        REQUIRE(dfr_deferred_callback_ffi(d, &v) == 0);
        CHECK(destroyed == 2);
        CHECK(result_i64(d) >= 1);
        dfr_deferred_unref(d);
        dfr_trim();
    });
    // The thread's cache of freed deferreds is emptied around each step.
    dfr_trim();
    test::for_each_allocation_failure([](long) {
        dfr_value x = {};
        int rc = dfr_value_set_bytes(&x, "abc", 3);
        CHECK((rc == 0 || rc == DFR_ENOMEM));
        CHECK(dfr_value_kind(&x) == (rc == 0 ? DFR_KIND_BYTES : DFR_KIND_FAILURE));
        dfr_value items[2] = {};
        dfr_value_set_i64(&items[0], 1);
        dfr_value_set_string(&items[1], "b");
        rc = dfr_value_set_list(&x, items, nullptr, 2);
        CHECK((rc == 0 || rc == DFR_ENOMEM));
        CHECK(dfr_value_kind(&x) == (rc == 0 ? DFR_KIND_LIST : DFR_KIND_FAILURE));
        dfr_value_set_none(&x);
        dfr_failure *f = dfr_failure_new_ffi("ffi-test", 2, "msg");
        dfr_failure_unref(f);
        dfr_deferred *s = dfr_maybe_deferred_ffi(produce_42, nullptr);
        if (s)
            CHECK(result_i64(s) == 42);
        dfr_deferred_unref(s);
        dfr_trim();
    });
}

TEST_CASE("FFI forms: succeed, maybeDeferred, payloads, lock, semaphore, queue", "[ffi]")
{
    dfr_value v = {};
    dfr_value_set_i64(&v, 3);
    dfr_deferred *d = dfr_succeed_ffi(&v);
    CHECK(dfr_value_kind(&v) == DFR_KIND_NONE);
    CHECK(result_i64(d) == 3);
    dfr_deferred_unref(d);
    d = dfr_succeed_ffi(nullptr);
    CHECK(test::state(d) == "none");
    dfr_deferred_unref(d);

    d = dfr_maybe_deferred_ffi(fail_with_7, nullptr);
    CHECK(test::state(d) == "fail ffi-test 7");
    REQUIRE(dfr_deferred_add_errback_ffi(d, recover, nullptr, nullptr) == 0);
    dfr_deferred_unref(d);
    d = dfr_maybe_deferred_ffi(nullptr, nullptr);
    CHECK(test::state(d) == test::fail_text(DFR_DOMAIN, DFR_EINVAL));
    REQUIRE(dfr_deferred_add_errback_ffi(d, recover, nullptr, nullptr) == 0);
    dfr_deferred_unref(d);

    dfr_failure *f = dfr_failure_new_ffi("ffi-test", 1, "p");
    REQUIRE(dfr_value_set_string(&v, "exception object") == 0);
    REQUIRE(dfr_failure_set_payload_ffi(f, &v) == 0);
    CHECK(dfr_value_kind(&v) == DFR_KIND_NONE);
    CHECK(test::show(*dfr_failure_payload(f)) == "bytes exception object");
    CHECK(dfr_failure_set_payload_ffi(f, nullptr) == DFR_EINVAL);
    CHECK(dfr_failure_payload(f) != nullptr);
    dfr_value_set_i64(&v, 1);
    CHECK(dfr_failure_set_payload_ffi(nullptr, &v) == DFR_EINVAL);
    CHECK(dfr_value_kind(&v) == DFR_KIND_NONE);
    dfr_failure_unref(f);

    int destroyed = 0;
    dfr_lock *lock = dfr_lock_new();
    d = dfr_lock_run_ffi(lock, produce_42, &destroyed, test::count_destroy);
    CHECK(result_i64(d) == 42);
    CHECK(!dfr_lock_locked(lock));
    dfr_deferred_unref(d);
    CHECK(test::refused_with(dfr_lock_run_ffi(lock, nullptr, &destroyed, test::count_destroy), DFR_EINVAL));
    CHECK(test::refused_with(dfr_lock_run_ffi(nullptr, produce_42, &destroyed, test::count_destroy), DFR_EINVAL));
    dfr_lock_free(lock);
    CHECK(destroyed == 3);

    dfr_semaphore *sem = dfr_semaphore_new(1);
    d = dfr_semaphore_run_ffi(sem, produce_42, &destroyed, test::count_destroy);
    CHECK(result_i64(d) == 42);
    dfr_deferred_unref(d);
    CHECK(test::refused_with(dfr_semaphore_run_ffi(sem, nullptr, &destroyed, test::count_destroy), DFR_EINVAL));
    dfr_semaphore_free(sem);
    CHECK(destroyed == 5);

    dfr_queue *q = dfr_queue_new(1, DFR_UNLIMITED);
    dfr_value_set_i64(&v, 8);
    REQUIRE(dfr_queue_put_ffi(q, &v) == 0);
    CHECK(dfr_value_kind(&v) == DFR_KIND_NONE);
    REQUIRE(dfr_value_set_string(&v, "full") == 0);
    CHECK(dfr_queue_put_ffi(q, &v) == DFR_EOVERFLOW);
    CHECK(dfr_value_kind(&v) == DFR_KIND_NONE);
    CHECK(dfr_queue_put_ffi(q, nullptr) == DFR_EINVAL);
    d = dfr_queue_get(q);
    CHECK(result_i64(d) == 8);
    dfr_deferred_unref(d);
    dfr_queue_free(q);
}

namespace {

struct Ticks {
    int calls = 0;
};

void tick(dfr_value *v, void *data)
{
    auto *t = static_cast<Ticks *>(data);
    dfr_value_set_i64(v, ++t->calls);
}

} // namespace

TEST_CASE("FFI forms: deferLater, LoopingCall and triggers on the manual clock", "[ffi]")
{
    int destroyed = 0;
    {
        Clock c;
        dfr_deferred *d = dfr_reactor_defer_later_ffi(c.r, 2, produce_42, &destroyed,
                                                      test::count_destroy);
        REQUIRE(d != nullptr);
        c.advance(1);
        CHECK(dfr_deferred_state(d) == DFR_PENDING);
        c.advance(1);
        CHECK(result_i64(d) == 42);
        CHECK(destroyed == 1);
        dfr_deferred_unref(d);

        // Cancelled before it ran: destroy once, DFR_ECANCELLED.
        d = dfr_reactor_defer_later_ffi(c.r, 1, produce_42, &destroyed, test::count_destroy);
        dfr_deferred_cancel(d);
        CHECK(test::state(d) == test::fail_text(DFR_DOMAIN, DFR_ECANCELLED));
        REQUIRE(dfr_deferred_add_errback_ffi(d, recover, nullptr, nullptr) == 0);
        dfr_deferred_unref(d);
        CHECK(destroyed == 2);
        CHECK(dfr_reactor_pending_calls(c.r) == 0);

        // NULL fn fires with none, as dfr_reactor_defer_later.
        d = dfr_reactor_defer_later_ffi(c.r, 0, nullptr, &destroyed, test::count_destroy);
        c.advance(0);
        CHECK(test::state(d) == "none");
        dfr_deferred_unref(d);
        CHECK(destroyed == 3);
        CHECK(test::refused_with(
            dfr_reactor_defer_later_ffi(nullptr, 0, produce_42, &destroyed, test::count_destroy), DFR_EINVAL));
        CHECK(test::refused_with(
            dfr_reactor_defer_later_ffi(c.r, -1, produce_42, &destroyed, test::count_destroy), DFR_EINVAL));
        CHECK(destroyed == 5);

        Ticks t;
        dfr_looping_call *lc = dfr_looping_call_new_ffi(c.r, tick, &t, nullptr);
        REQUIRE(lc != nullptr);
        dfr_deferred *done = dfr_looping_call_start(lc, 1, true);
        c.pump({1, 1});
        CHECK(t.calls == 3);
        REQUIRE(dfr_looping_call_stop(lc) == 0);
        CHECK(dfr_value_get_ptr(dfr_deferred_result(done)) == lc);
        dfr_deferred_unref(done);
        dfr_looping_call_unref(lc);
        CHECK(dfr_looping_call_new_ffi(c.r, nullptr, &destroyed, test::count_destroy) == nullptr);
        lc = dfr_looping_call_new_ffi(c.r, tick, &destroyed, test::count_destroy);
        dfr_looping_call_unref(lc);
        CHECK(destroyed == 7);

        uint64_t id = 0;
        REQUIRE(dfr_reactor_add_system_event_trigger_ffi(c.r, DFR_BEFORE, DFR_SHUTDOWN, produce_42,
                                                         &destroyed, test::count_destroy,
                                                         &id) == 0);
        REQUIRE(dfr_reactor_remove_system_event_trigger(c.r, id) == 0);
        CHECK(destroyed == 8);
        CHECK(dfr_reactor_add_system_event_trigger_ffi(c.r, (dfr_trigger_phase)7, DFR_SHUTDOWN, produce_42,
                                                       &destroyed, test::count_destroy,
                                                       nullptr) == DFR_EINVAL);
        CHECK(dfr_reactor_add_system_event_trigger_ffi(c.r, DFR_BEFORE, DFR_SHUTDOWN, nullptr,
                                                       &destroyed, test::count_destroy,
                                                       nullptr) == DFR_EINVAL);
        CHECK(destroyed == 10);
        // Left pending: freed with the reactor.
        REQUIRE(dfr_reactor_add_system_event_trigger_ffi(c.r, DFR_BEFORE, DFR_SHUTDOWN, produce_42,
                                                         &destroyed, test::count_destroy,
                                                         nullptr) == 0);
        d = dfr_reactor_defer_later_ffi(c.r, 5, produce_42, &destroyed, test::count_destroy);
        dfr_deferred_unref(d);
        CHECK(destroyed == 10);
    }
    CHECK(destroyed == 12);
}

TEST_CASE("FFI forms: reactor entry points under allocation failure", "[ffi][alloc]")
{
    Clock c;
    test::UnhandledCapture unhandled; // a cancel whose errback could not be added
    // Warm up: the reactor keeps its timer and trigger storage.
    uint64_t warm = 0;
    REQUIRE(dfr_reactor_add_system_event_trigger_ffi(c.r, DFR_AFTER, DFR_STARTUP, produce_42,
                                                     nullptr, nullptr, &warm) == 0);
    REQUIRE(dfr_reactor_remove_system_event_trigger(c.r, warm) == 0);
    dfr_deferred *w = dfr_reactor_defer_later_ffi(c.r, 1, produce_42, nullptr, nullptr);
    dfr_deferred_cancel(w);
    dfr_deferred_add_errback_ffi(w, recover, nullptr, nullptr);
    dfr_deferred_unref(w);
    dfr_trim();
    test::for_each_allocation_failure([&](long) {
        int destroyed = 0;
        dfr_deferred *d = dfr_reactor_defer_later_ffi(c.r, 1, produce_42, &destroyed,
                                                      test::count_destroy);
        if (d) {
            dfr_deferred_cancel(d);
            dfr_deferred_add_errback_ffi(d, recover, nullptr, nullptr);
            dfr_deferred_unref(d);
        }
        CHECK(destroyed == 1);
        dfr_looping_call *lc = dfr_looping_call_new_ffi(c.r, tick, &destroyed,
                                                        test::count_destroy);
        dfr_looping_call_unref(lc);
        CHECK(destroyed == 2);
        uint64_t id = 0;
        int rc = dfr_reactor_add_system_event_trigger_ffi(c.r, DFR_AFTER, DFR_STARTUP, produce_42,
                                                          &destroyed, test::count_destroy, &id);
        if (rc == 0)
            dfr_reactor_remove_system_event_trigger(c.r, id);
        else
            CHECK(rc == DFR_ENOMEM);
        CHECK(destroyed == 3);
        dfr_trim();
    });
}

namespace {

struct ThreadTask {
    std::atomic<int> ran{0};
    std::thread::id where;
    int destroyed = 0; // on the reactor thread
};

void on_pool(dfr_value *v, void *data)
{
    auto *t = static_cast<ThreadTask *>(data);
    t->where = std::this_thread::get_id();
    t->ran++;
    dfr_value_set_string(v, "from the pool");
}

void task_destroyed(void *data)
{
    static_cast<ThreadTask *>(data)->destroyed++;
}

// The reactor stops once the list fired and the helper thread's blocking
// calls were answered (a blocking call that arrived after run returned would
// wait for good).
struct StopWhenBoth {
    dfr_reactor *r;
    int left = 2; // reactor thread only
};

void stop_when_both(void *data)
{
    auto *s = static_cast<StopWhenBoth *>(data);
    if (--s->left == 0)
        dfr_reactor_stop(s->r);
}

void stop_reactor(dfr_value *v, void *data)
{
    stop_when_both(data);
    (void)v;
}

void on_reactor(dfr_value *v, void *data)
{
    dfr_value_set_f64(v, *static_cast<double *>(data));
}

} // namespace

TEST_CASE("FFI forms: deferToThread and blockingCallFromThread on a real reactor",
          "[ffi][thread]")
{
    dfr_reactor *r = dfr_reactor_new(nullptr);
    REQUIRE(r != nullptr);
    ThreadTask t, t2;
    dfr_deferred *ds[2];
    ds[0] = dfr_reactor_defer_to_thread_ffi(r, on_pool, &t, task_destroyed);
    REQUIRE(ds[0] != nullptr);
    dfr_threadpool *pool = dfr_threadpool_new(0, 1, "ffi");
    REQUIRE(dfr_threadpool_start(pool) == 0);
    ds[1] = dfr_reactor_defer_to_threadpool_ffi(r, pool, on_pool, &t2, task_destroyed);
    REQUIRE(ds[1] != nullptr);
    test::Recorder rec;
    REQUIRE(dfr_deferred_add_callback_ffi(ds[1], record, &rec, nullptr) == 0);
    dfr_deferred *both = dfr_deferred_list(ds, 2, 0);
    StopWhenBoth stopper{r};
    REQUIRE(dfr_deferred_add_both_ffi(both, stop_reactor, &stopper, nullptr) == 0);
    dfr_deferred_unref(both);
    dfr_deferred_unref(ds[0]);
    dfr_deferred_unref(ds[1]);

    double answer = 2.5;
    dfr_value from_thread = {};
    int rc_thread = 1;
    int rc_null = 1;
    std::thread helper([&] {
        rc_thread = dfr_reactor_blocking_call_from_thread_ffi(r, on_reactor, &answer,
                                                              &from_thread);
        rc_null = dfr_reactor_blocking_call_from_thread_ffi(r, on_reactor, &answer, nullptr);
        dfr_reactor_call_from_thread(r, stop_when_both, &stopper, nullptr);
    });
    REQUIRE(dfr_reactor_run(r) == 0);
    helper.join();
    CHECK(rc_thread == 0);
    CHECK(rc_null == DFR_EINVAL);
    CHECK(dfr_value_get_f64(&from_thread) == 2.5);
    REQUIRE(rec.seen.size() == 1);
    CHECK(rec.seen[0] == "bytes from the pool");
    CHECK(t.ran == 1);
    CHECK(t2.ran == 1);
    CHECK(t.destroyed == 1);
    CHECK(t2.destroyed == 1);
    CHECK(t2.where != std::this_thread::get_id());
    dfr_threadpool_free(pool);

    // On the reactor thread: a DFR_EDEADLK failure in *out.
    dfr_value out = {};
    CHECK(dfr_reactor_blocking_call_from_thread_ffi(r, on_reactor, &answer, &out) == 0);
    CHECK(test::show(out) == test::fail_text(DFR_DOMAIN, DFR_EDEADLK));
    dfr_value_set_none(&out);
    dfr_reactor_free(r);

    int count = 0;
    CHECK(test::refused_with(dfr_reactor_defer_to_thread_ffi(nullptr, on_pool, &count, test::count_destroy),
                             DFR_EINVAL));
    CHECK(count == 1);
}
