// dfr_reactor_defer_call: deferToThread for any C function through libffi (issue 3:
// arguments copied at call time; issue 11: struct returns of any size and
// the validation of every input).  Twisted: test_threads.py
// test_deferredResult with positional arguments.
#include <catch2/catch.hpp>

#include "reactor_support.h"
#include "support.h"

#include <deferred/ffi.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

namespace {

using test::Reactor;
using test::iterate_until;

// A readable account of a deferred's result.
std::string describe_result(const dfr_deferred *d)
{
    const dfr_value *v = dfr_deferred_result(d);
    if (!v)
        return "pending";
    if (dfr_is_failure(*v))
        return "fail " + std::to_string(dfr_failure_code(dfr_failure_from(v)));
    if (dfr_is_i64(*v))
        return "i64 " + std::to_string(v->u.i64);
    if (dfr_is_none(*v))
        return "none";
    return "other";
}

} // namespace

extern "C" {
static double ffi_mix(int a, double b, const char *s)
{
    return a * 2 + b + static_cast<double>(std::strlen(s));
}
static int64_t ffi_wide(int64_t a, uint8_t b)
{
    return a * b;
}
static int32_t ffi_negative(void)
{
    return -5;
}
static uint32_t ffi_all_ones(void)
{
    return 0xFFFFFFFFu;
}
static void ffi_store(int *out, int v)
{
    *out = v;
}
static const char *ffi_skip(const char *s, int k)
{
    return s + k;
}
static float ffi_half(float x)
{
    return x / 2;
}
}

namespace {

struct FfiCall {
    ffi_cif cif;
    ffi_type *types[3];
    void *args[3];
};

// Prepare `c` for fn(types...) -> rtype.
void prep(FfiCall &c, ffi_type *rtype, std::initializer_list<ffi_type *> types)
{
    unsigned n = 0;
    for (ffi_type *t : types)
        c.types[n++] = t;
    REQUIRE(ffi_prep_cif(&c.cif, FFI_DEFAULT_ABI, n, rtype, c.types) == FFI_OK);
}

// Overwrite everything the caller handed over: the library must have copied
// the cif, the type list and the argument values.
void scribble(FfiCall &c)
{
    std::memset(&c.cif, 0xA5, sizeof c.cif);
    for (auto &t : c.types)
        t = nullptr;
    for (auto &a : c.args)
        a = nullptr;
}

} // namespace

// Header contract of dfr_reactor_defer_call (issue 3: libffi, arguments copied at
// call time).  Twisted: test_threads.py test_deferredResult with positional
// arguments.
TEST_CASE("defer_call: any C function through libffi, arguments copied at call time",
          "[thread][ffi]")
{
    const char *text = "hello, world";
    int stored = 0;
    Reactor R;
    std::vector<dfr_deferred *> ds;

    { // double (int, double, const char *)
        FfiCall c{};
        int a = 20;
        double b = 0.25;
        const char *s = "four";
        prep(c, &ffi_type_double, {&ffi_type_sint, &ffi_type_double, &ffi_type_pointer});
        c.args[0] = &a;
        c.args[1] = &b;
        c.args[2] = &s;
        ds.push_back(dfr_reactor_defer_call(R.r, &c.cif, FFI_FN(ffi_mix), c.args));
        a = -1000;
        b = NAN;
        s = "a much longer string than before";
        scribble(c);
    }
    { // int64_t (int64_t, uint8_t)
        FfiCall c{};
        int64_t a = -3000000000LL;
        uint8_t b = 3;
        prep(c, &ffi_type_sint64, {&ffi_type_sint64, &ffi_type_uint8});
        c.args[0] = &a;
        c.args[1] = &b;
        ds.push_back(dfr_reactor_defer_call(R.r, &c.cif, FFI_FN(ffi_wide), c.args));
        a = 1;
        b = 0;
        scribble(c);
    }
    { // int32_t (void): sign-extended
        FfiCall c{};
        prep(c, &ffi_type_sint32, {});
        ds.push_back(dfr_reactor_defer_call(R.r, &c.cif, FFI_FN(ffi_negative), nullptr));
    }
    { // uint32_t (void): zero-extended
        FfiCall c{};
        prep(c, &ffi_type_uint32, {});
        ds.push_back(dfr_reactor_defer_call(R.r, &c.cif, FFI_FN(ffi_all_ones), nullptr));
    }
    { // void (int *, int)
        FfiCall c{};
        int *out = &stored;
        int v = 1234;
        prep(c, &ffi_type_void, {&ffi_type_pointer, &ffi_type_sint});
        c.args[0] = &out;
        c.args[1] = &v;
        ds.push_back(dfr_reactor_defer_call(R.r, &c.cif, FFI_FN(ffi_store), c.args));
        out = nullptr;
        v = -1;
        scribble(c);
    }
    { // const char * (const char *, int)
        FfiCall c{};
        const char *s = text;
        int k = 7;
        prep(c, &ffi_type_pointer, {&ffi_type_pointer, &ffi_type_sint});
        c.args[0] = &s;
        c.args[1] = &k;
        ds.push_back(dfr_reactor_defer_call(R.r, &c.cif, FFI_FN(ffi_skip), c.args));
        s = nullptr;
        k = 0;
        scribble(c);
    }
    { // float (float)
        FfiCall c{};
        float x = 5.0f;
        prep(c, &ffi_type_float, {&ffi_type_float});
        c.args[0] = &x;
        ds.push_back(dfr_reactor_defer_call(R.r, &c.cif, FFI_FN(ffi_half), c.args));
        x = 0;
        scribble(c);
    }
    for (auto *d : ds)
        REQUIRE(d != nullptr);
    REQUIRE(iterate_until(R.r, [&] {
        for (auto *d : ds)
            if (dfr_deferred_state(d) == DFR_PENDING)
                return false;
        return true;
    }));

    const dfr_value *v = dfr_deferred_result(ds[0]);
    REQUIRE(v != nullptr);
    REQUIRE(dfr_is_f64(*v));
    CHECK(v->u.f64 == 44.25);
    CHECK(describe_result(ds[1]) == "i64 -9000000000");
    CHECK(describe_result(ds[2]) == "i64 -5");
    CHECK(describe_result(ds[3]) == "i64 4294967295");
    CHECK(describe_result(ds[4]) == "none");
    CHECK(stored == 1234);
    v = dfr_deferred_result(ds[5]);
    REQUIRE(v != nullptr);
    REQUIRE(v->type == &dfr_type_ptr);
    CHECK(v->u.ptr == text + 7);
    v = dfr_deferred_result(ds[6]);
    REQUIRE(v != nullptr);
    REQUIRE(dfr_is_f64(*v));
    CHECK(v->u.f64 == 2.5);
    for (auto *d : ds)
        dfr_deferred_unref(d);
}

TEST_CASE("defer_call: bad input gives a DFR_EINVAL failed deferred", "[thread][ffi]")
{
    Reactor R;
    FfiCall c{};
    int a = 1;
    double b = 2;
    const char *s = "x";
    prep(c, &ffi_type_double, {&ffi_type_sint, &ffi_type_double, &ffi_type_pointer});
    c.args[0] = &a;
    c.args[1] = &b;
    c.args[2] = &s;
    CHECK(test::refused_with(dfr_reactor_defer_call(nullptr, &c.cif, FFI_FN(ffi_mix), c.args), DFR_EINVAL));
    CHECK(test::refused_with(dfr_reactor_defer_call(R.r, nullptr, FFI_FN(ffi_mix), c.args), DFR_EINVAL));
    CHECK(test::refused_with(dfr_reactor_defer_call(R.r, &c.cif, nullptr, c.args), DFR_EINVAL));
    CHECK(test::refused_with(dfr_reactor_defer_call(R.r, &c.cif, FFI_FN(ffi_mix), nullptr), DFR_EINVAL));
    c.args[1] = nullptr;
    CHECK(test::refused_with(dfr_reactor_defer_call(R.r, &c.cif, FFI_FN(ffi_mix), c.args), DFR_EINVAL));
}

namespace {

struct Small {
    int32_t a, b;
};
struct Big { // larger than the job's inline return space (64 bytes)
    int32_t v[40];
};

// libffi describes a struct by its element list; ffi_prep_cif fills in size
// and alignment.
struct StructType {
    ffi_type type{};
    std::vector<ffi_type *> elements;
    StructType(ffi_type *element, size_t n) : elements(n, element)
    {
        elements.push_back(nullptr);
        type.type = FFI_TYPE_STRUCT;
        type.elements = elements.data();
    }
};

} // namespace

extern "C" {
static Small ffi_small(int32_t x)
{
    return Small{x, -x};
}
static Big ffi_big(int32_t x)
{
    Big b;
    for (int i = 0; i < 40; i++)
        b.v[i] = x + i;
    return b;
}
}

// ffi.h: a struct return fires with its bytes, whatever its size (it gave
// none for small structs and NULL above 64 bytes).
TEST_CASE("defer_call: a struct return fires with its bytes, any size", "[thread][ffi]")
{
    Reactor R;
    StructType small(&ffi_type_sint32, 2), big(&ffi_type_sint32, 40);
    FfiCall cs{}, cb{};
    prep(cs, &small.type, {&ffi_type_sint32});
    prep(cb, &big.type, {&ffi_type_sint32});
    REQUIRE(small.type.size == sizeof(Small));
    REQUIRE(big.type.size == sizeof(Big));
    int32_t x = 7, y = 100;
    cs.args[0] = &x;
    cb.args[0] = &y;
    dfr_deferred *ds = dfr_reactor_defer_call(R.r, &cs.cif, FFI_FN(ffi_small), cs.args);
    dfr_deferred *db = dfr_reactor_defer_call(R.r, &cb.cif, FFI_FN(ffi_big), cb.args);
    REQUIRE(ds != nullptr);
    REQUIRE(db != nullptr);
    REQUIRE(iterate_until(R.r, [&] {
        return dfr_deferred_state(ds) != DFR_PENDING && dfr_deferred_state(db) != DFR_PENDING;
    }));
    const dfr_value *vs = dfr_deferred_result(ds);
    REQUIRE(vs != nullptr);
    REQUIRE(dfr_is_bytes(*vs));
    REQUIRE(dfr_bytes_len(vs) == sizeof(Small));
    Small s;
    std::memcpy(&s, dfr_bytes_data(vs), sizeof s);
    CHECK(s.a == 7);
    CHECK(s.b == -7);
    const dfr_value *vb = dfr_deferred_result(db);
    REQUIRE(vb != nullptr);
    REQUIRE(dfr_is_bytes(*vb));
    REQUIRE(dfr_bytes_len(vb) == sizeof(Big));
    Big b;
    std::memcpy(&b, dfr_bytes_data(vb), sizeof b);
    CHECK(b.v[0] == 100);
    CHECK(b.v[39] == 139);
    dfr_deferred_unref(ds);
    dfr_deferred_unref(db);
}

// Every input dfr_reactor_defer_call reads is checked before anything is queued.
TEST_CASE("defer_call: a bad type, too many arguments or an unprepared cif gives NULL",
          "[thread][ffi]")
{
    Reactor R;
    int a = 1;
    double b = 2;
    const char *s = "x";
    FfiCall c{};
    prep(c, &ffi_type_double, {&ffi_type_sint, &ffi_type_double, &ffi_type_pointer});
    c.args[0] = &a;
    c.args[1] = &b;
    c.args[2] = &s;
    ffi_cif good = c.cif;
    ffi_type *types[3] = {&ffi_type_sint, &ffi_type_double, &ffi_type_pointer};

    SECTION("a NULL return type") { c.cif.rtype = nullptr; }
    SECTION("an unknown return type code")
    {
        static ffi_type bogus = ffi_type_sint;
        bogus.type = FFI_TYPE_LAST + 7;
        c.cif.rtype = &bogus;
    }
    SECTION("an unprepared struct return (size 0)")
    {
        static StructType never_prepared(&ffi_type_sint32, 2);
        c.cif.rtype = &never_prepared.type;
    }
    SECTION("a NULL argument type")
    {
        types[1] = nullptr;
        c.cif.arg_types = types;
    }
    SECTION("a void argument")
    {
        types[1] = &ffi_type_void;
        c.cif.arg_types = types;
    }
    SECTION("an unknown argument type code")
    {
        static ffi_type bogus = ffi_type_sint;
        bogus.type = 200;
        types[0] = &bogus;
        c.cif.arg_types = types;
    }
    SECTION("more arguments than any ABI passes")
    {
        static std::vector<ffi_type *> many(5000, &ffi_type_sint);
        static std::vector<void *> many_args(5000, &a);
        c.cif.nargs = 5000;
        c.cif.arg_types = many.data();
        CHECK(test::refused_with(dfr_reactor_defer_call(R.r, &c.cif, FFI_FN(ffi_mix), many_args.data()), DFR_EINVAL));
        return;
    }
    SECTION("no type list for the arguments") { c.cif.arg_types = nullptr; }
    CHECK(test::refused_with(dfr_reactor_defer_call(R.r, &c.cif, FFI_FN(ffi_mix), c.args), DFR_EINVAL));
    // The same call with the prepared cif still works.
    dfr_deferred *d = dfr_reactor_defer_call(R.r, &good, FFI_FN(ffi_mix), c.args);
    REQUIRE(d != nullptr);
    REQUIRE(iterate_until(R.r, [&] { return dfr_deferred_state(d) != DFR_PENDING; }));
    const dfr_value *v = dfr_deferred_result(d);
    REQUIRE(v != nullptr);
    REQUIRE(dfr_is_f64(*v));
    CHECK(v->u.f64 == 5.0);
    dfr_deferred_unref(d);
}
