// Values: constructors, predicates, drop and clone rules, bytes, and the
// exported twins of the inline helpers.
#include <catch2/catch.hpp>

#include "recorder.h"
#include "support.h"

#include <dlfcn.h>

namespace {

int drops, clones;

struct Box {
    int v;
};

void box_drop(void *p)
{
    drops++;
    delete static_cast<Box *>(p);
}

dfr_value box_clone(const dfr_value *v)
{
    clones++;
    return dfr_obj(v->type, new Box(*static_cast<Box *>(v->u.ptr)));
}

const dfr_type box_type = {sizeof(dfr_type), "box", box_drop, box_clone};
const dfr_type box_noclone = {sizeof(dfr_type), "box-noclone", box_drop, nullptr};

} // namespace

TEST_CASE("constructors and predicates", "[value]")
{
    dfr_value zero = {};
    CHECK(dfr_is_none(zero));
    CHECK(dfr_is_none(dfr_none()));
    CHECK(dfr_is_i64(dfr_i64(-5)));
    CHECK(dfr_i64(-5).u.i64 == -5);
    CHECK(dfr_is_f64(dfr_f64(1.5)));
    CHECK(dfr_ptr(&zero).u.ptr == &zero);
    CHECK(dfr_ptr(&zero).type == &dfr_type_ptr);
    CHECK(sizeof(dfr_value) == 16);
    dfr_value f = dfr_value_failure(test::failure(1));
    CHECK(dfr_is_failure(f));
    CHECK(dfr_failure_from(&f) == f.u.ptr);
    CHECK(dfr_deferred_from(&f) == nullptr);
    dfr_value_drop(f);
    dfr_value d = dfr_value_deferred(dfr_deferred_new());
    CHECK(dfr_is_deferred(d));
    CHECK(dfr_deferred_from(&d) == d.u.ptr);
    dfr_value_drop(d);
}

TEST_CASE("clone: plain copies, refcounted share, user types use clone or give none", "[value]")
{
    dfr_value i = dfr_i64(3);
    CHECK(dfr_value_clone(&i).u.i64 == 3);
    dfr_value b = dfr_bytes_new("abc", 3);
    dfr_value b2 = dfr_value_clone(&b);
    CHECK(b2.u.ptr == b.u.ptr); // shared
    dfr_value_drop(b);
    CHECK(test::show(b2) == "bytes abc");
    dfr_value_drop(b2);

    drops = clones = 0;
    dfr_value x = dfr_obj(&box_type, new Box{7});
    dfr_value y = dfr_value_clone(&x);
    CHECK(clones == 1);
    CHECK(y.u.ptr != x.u.ptr);
    CHECK(static_cast<Box *>(y.u.ptr)->v == 7);
    dfr_value_drop(x);
    dfr_value_drop(y);
    CHECK(drops == 2);

    dfr_value z = dfr_obj(&box_noclone, new Box{1});
    CHECK(dfr_is_none(dfr_value_clone(&z)));
    dfr_value_drop(z);
    CHECK(dfr_is_none(dfr_value_clone(nullptr)));
    dfr_value none = dfr_none();
    CHECK(dfr_is_none(dfr_value_clone(&none)));
}

TEST_CASE("bytes", "[value]")
{
    dfr_value e = dfr_bytes_new(nullptr, 0);
    CHECK(dfr_is_bytes(e));
    CHECK(dfr_bytes_len(&e) == 0);
    dfr_value_drop(e);
    dfr_value bad = dfr_bytes_new(nullptr, 3);
    CHECK(test::show(bad) == test::fail_text(DFR_DOMAIN, DFR_EINVAL));
    dfr_value_drop(bad);
    dfr_value i = dfr_i64(1);
    CHECK(dfr_bytes_data(&i) == nullptr);
    CHECK(dfr_bytes_len(&i) == 0);
    CHECK(dfr_bytes_len(nullptr) == 0);
}

TEST_CASE("the inline helpers are exported for FFI", "[value][abi]")
{
    using i64_fn = dfr_value (*)(int64_t);
    using pred_fn = bool (*)(dfr_value);
    auto mk = reinterpret_cast<i64_fn>(dlsym(RTLD_DEFAULT, "dfr_i64"));
    auto is_failure = reinterpret_cast<pred_fn>(dlsym(RTLD_DEFAULT, "dfr_is_failure"));
    REQUIRE(mk != nullptr);
    REQUIRE(is_failure != nullptr);
    dfr_value v = mk(41);
    CHECK(v.type == &dfr_type_i64);
    CHECK(v.u.i64 == 41);
    CHECK_FALSE(is_failure(v));
    for (const char *name : {"dfr_none", "dfr_f64", "dfr_ptr", "dfr_obj", "dfr_value_failure",
                             "dfr_value_deferred", "dfr_is_none", "dfr_is_deferred"})
        CHECK(dlsym(RTLD_DEFAULT, name) != nullptr);
}
