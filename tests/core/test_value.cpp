// Values: constructors and predicates, the drop and clone rules of every
// built-in type and of user types, bytes, the borrowing accessors, and the
// exported twins of the header's inline helpers (for FFI users).
// Twisted has no counterpart: Python values need none of this.
#include <catch2/catch.hpp>

#include "recorder.h"
#include "support.h"

#include <dlfcn.h>

#include <cstdint>
#include <cstring>

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
// A user type with nothing to free: a NULL drop is allowed.
const dfr_type tag_type = {sizeof(dfr_type), "tag", nullptr, nullptr};

void reset_counts() { drops = clones = 0; }

// Which predicates hold for v, as a string of letters.
std::string kinds(dfr_value v)
{
    std::string s;
    if (dfr_is_none(v))
        s += 'n';
    if (dfr_is_i64(v))
        s += 'i';
    if (dfr_is_f64(v))
        s += 'f';
    if (dfr_is_bytes(v))
        s += 'b';
    if (dfr_is_failure(v))
        s += 'F';
    if (dfr_is_deferred(v))
        s += 'D';
    if (dfr_is_list(v))
        s += 'L';
    return s;
}

} // namespace

TEST_CASE("constructors set the type and payload; predicates tell them apart", "[value]")
{
    CHECK(sizeof(dfr_value) == 16);
    dfr_value zero = {};
    CHECK(kinds(zero) == "n");
    CHECK(kinds(dfr_none()) == "n");
    CHECK(dfr_none().type == nullptr);

    dfr_value i = dfr_i64(INT64_MIN);
    CHECK(kinds(i) == "i");
    CHECK(i.type == &dfr_type_i64);
    CHECK(i.u.i64 == INT64_MIN);
    CHECK(dfr_i64(-5).u.i64 == -5);

    dfr_value f = dfr_f64(1.5);
    CHECK(kinds(f) == "f");
    CHECK(f.type == &dfr_type_f64);
    CHECK(f.u.f64 == 1.5);

    int target = 0;
    dfr_value p = dfr_ptr(&target);
    CHECK(kinds(p).empty()); // no predicate of its own
    CHECK(p.type == &dfr_type_ptr);
    CHECK(p.u.ptr == &target);

    Box *bx = new Box{1};
    dfr_value o = dfr_obj(&box_type, bx);
    CHECK(kinds(o).empty());
    CHECK(o.type == &box_type);
    CHECK(o.u.ptr == bx);
    reset_counts();
    dfr_value_drop(o);
    CHECK(drops == 1);

    dfr_failure *fl = test::failure(1);
    dfr_value fv = dfr_value_failure(fl);
    CHECK(kinds(fv) == "F");
    CHECK(fv.type == &dfr_type_failure);
    CHECK(fv.u.ptr == fl);
    dfr_value_drop(fv); // the value owned the only reference

    dfr_deferred *d = dfr_deferred_new();
    dfr_value dv = dfr_value_deferred(d);
    CHECK(kinds(dv) == "D");
    CHECK(dv.type == &dfr_type_deferred);
    CHECK(dv.u.ptr == d);
    dfr_value_drop(dv);

    dfr_value b = dfr_bytes_new("x", 1);
    CHECK(kinds(b) == "b");
    CHECK(b.type == &dfr_type_bytes);
    dfr_value_drop(b);

    // The built-in types describe themselves.
    for (const dfr_type *t : {&dfr_type_i64, &dfr_type_f64, &dfr_type_ptr, &dfr_type_bytes,
                              &dfr_type_failure, &dfr_type_deferred, &dfr_type_list}) {
        CHECK(t->size == sizeof(dfr_type));
        CHECK(t->name != nullptr);
    }
}

TEST_CASE("plain values: i64 and f64 copy on clone, drop frees nothing", "[value]")
{
    dfr_value i = dfr_i64(42);
    dfr_value ic = dfr_value_clone(&i);
    CHECK(ic.type == &dfr_type_i64);
    CHECK(ic.u.i64 == 42);
    dfr_value_drop(i);
    dfr_value_drop(ic);

    dfr_value f = dfr_f64(-0.25);
    dfr_value fc = dfr_value_clone(&f);
    CHECK(fc.type == &dfr_type_f64);
    CHECK(fc.u.f64 == -0.25);
    dfr_value_drop(f);
    dfr_value_drop(fc);

    // none, zeroed, NULL
    dfr_value none = dfr_none();
    CHECK(dfr_is_none(dfr_value_clone(&none)));
    CHECK(dfr_is_none(dfr_value_clone(nullptr)));
    dfr_value_drop(none);
    dfr_value zero = {};
    dfr_value_drop(zero);
}

TEST_CASE("ptr values are borrowed: clone copies the pointer, drop never frees it", "[value]")
{
    Box *owned = new Box{9};
    dfr_value p = dfr_ptr(owned);
    dfr_value c = dfr_value_clone(&p);
    CHECK(c.type == &dfr_type_ptr);
    CHECK(c.u.ptr == owned);
    dfr_value_drop(p);
    dfr_value_drop(c);
    CHECK(owned->v == 9); // still ours (ASan would flag a free)
    delete owned;
}

TEST_CASE("bytes: an owned copy, shared on clone, freed with the last reference", "[value][bytes]")
{
    long before = test::live_allocations();
    char buf[] = {'a', '\0', 'c', 'd'};
    dfr_value b = dfr_bytes_new(buf, sizeof buf);
    REQUIRE(dfr_is_bytes(b));
    CHECK(test::live_allocations() == before + 1);
    std::memset(buf, 'z', sizeof buf); // the value made its own copy
    REQUIRE(dfr_bytes_len(&b) == 4);
    const char *data = static_cast<const char *>(dfr_bytes_data(&b));
    REQUIRE(data != nullptr);
    CHECK(data != buf);
    CHECK(std::memcmp(data, "a\0cd", 4) == 0); // embedded NUL kept

    dfr_value c = dfr_value_clone(&b);
    CHECK(c.type == &dfr_type_bytes);
    CHECK(c.u.ptr == b.u.ptr);                 // shared, not copied
    CHECK(dfr_bytes_data(&c) == data);
    CHECK(test::live_allocations() == before + 1);
    dfr_value_drop(b);
    CHECK(test::live_allocations() == before + 1); // the clone keeps it
    CHECK(dfr_bytes_len(&c) == 4);
    CHECK(std::memcmp(dfr_bytes_data(&c), "a\0cd", 4) == 0);
    dfr_value_drop(c);
    CHECK(test::live_allocations() == before);
}

TEST_CASE("bytes: empty, bad arguments and accessors on other values", "[value][bytes]")
{
    dfr_value e = dfr_bytes_new(nullptr, 0);
    CHECK(dfr_is_bytes(e));
    CHECK(dfr_bytes_len(&e) == 0);
    dfr_value_drop(e);
    dfr_value e2 = dfr_bytes_new("ignored", 0);
    CHECK(dfr_is_bytes(e2));
    CHECK(dfr_bytes_len(&e2) == 0);
    dfr_value_drop(e2);

    // NULL data with a length: a DFR_EINVAL failure value, never none.
    dfr_value bad = dfr_bytes_new(nullptr, 3);
    CHECK(test::show(bad) == test::fail_text(DFR_DOMAIN, DFR_EINVAL));
    dfr_value_drop(bad);

    dfr_value i = dfr_i64(1);
    CHECK(dfr_bytes_data(&i) == nullptr);
    CHECK(dfr_bytes_len(&i) == 0);
    dfr_value none = dfr_none();
    CHECK(dfr_bytes_data(&none) == nullptr);
    CHECK(dfr_bytes_len(&none) == 0);
    CHECK(dfr_bytes_data(nullptr) == nullptr);
    CHECK(dfr_bytes_len(nullptr) == 0);
}

TEST_CASE("bytes: out of memory gives a DFR_ENOMEM failure value, never none", "[value][bytes][alloc]")
{
    test::fail_allocation_at(1);
    dfr_value v = dfr_bytes_new("abc", 3);
    bool failed = test::allocation_failed();
    test::fail_allocation_at(0);
    REQUIRE(failed);
    CHECK(test::show(v) == test::fail_text(DFR_DOMAIN, DFR_ENOMEM));
    dfr_value_drop(v);

    // A size that cannot be allocated at all.
    static const char one = 'x';
    dfr_value huge = dfr_bytes_new(&one, SIZE_MAX);
    CHECK(test::show(huge) == test::fail_text(DFR_DOMAIN, DFR_ENOMEM));
    dfr_value_drop(huge);
}

TEST_CASE("failure values hold a reference: clone shares it, drop releases it", "[value]")
{
    reset_counts();
    dfr_failure *f = test::failure(1, "shared");
    // The payload is dropped exactly when the failure is freed.
    REQUIRE(dfr_failure_set_payload(f, dfr_obj(&box_type, new Box{1})) == 0);
    dfr_value v = dfr_value_failure(f);
    dfr_value c = dfr_value_clone(&v);
    CHECK(c.type == &dfr_type_failure);
    CHECK(c.u.ptr == f);
    CHECK(clones == 0); // the payload is not cloned: the failure is shared
    dfr_value_drop(v);
    CHECK(drops == 0);
    CHECK(std::string(dfr_failure_message(dfr_failure_from(&c))) == "shared");
    dfr_value_drop(c);
    CHECK(drops == 1);
}

TEST_CASE("deferred values hold a reference: clone shares it, drop releases it", "[value]")
{
    int destroyed = 0;
    dfr_deferred *d = dfr_deferred_new();
    // A pending callback's destroy runs exactly when the deferred is freed.
    REQUIRE(dfr_deferred_add_both(d, [](dfr_value v, void *) { return v; }, &destroyed,
                                  test::count_destroy) == 0);
    dfr_value v = dfr_value_deferred(d);
    dfr_value c = dfr_value_clone(&v);
    CHECK(c.type == &dfr_type_deferred);
    CHECK(c.u.ptr == d);
    dfr_value_drop(v);
    CHECK(destroyed == 0);
    CHECK(dfr_deferred_state(dfr_deferred_from(&c)) == DFR_PENDING);
    dfr_value_drop(c);
    CHECK(destroyed == 1);
}

TEST_CASE("list values hold a reference: clone shares it, drop releases it", "[value][list]")
{
    reset_counts();
    dfr_deferred *input = dfr_succeed(dfr_obj(&box_type, new Box{5}));
    dfr_deferred *dl = dfr_deferred_list(&input, 1, 0);
    REQUIRE(dl != nullptr);
    // The list keeps the input's result; the input continues with a clone.
    CHECK(clones == 1);
    dfr_value list = dfr_none();
    REQUIRE(dfr_deferred_add_callback(dl, [](dfr_value v, void *slot) -> dfr_value {
        *static_cast<dfr_value *>(slot) = v; // take it out of the chain
        return dfr_none();
    }, &list, nullptr) == 0);
    dfr_deferred_unref(dl);
    dfr_deferred_unref(input);
    CHECK(drops == 1); // the input's clone went with the input
    REQUIRE(dfr_is_list(list));
    CHECK(kinds(list) == "L");
    dfr_value c = dfr_value_clone(&list);
    CHECK(c.type == &dfr_type_list);
    CHECK(c.u.ptr == list.u.ptr);
    CHECK(dfr_list_from(&c) == dfr_list_from(&list));
    CHECK(clones == 1); // the entries are shared, not cloned
    dfr_value_drop(list);
    CHECK(drops == 1);
    REQUIRE(dfr_list_len(dfr_list_from(&c)) == 1);
    CHECK(static_cast<Box *>(dfr_list_get(dfr_list_from(&c), 0)->u.ptr)->v == 5);
    dfr_value_drop(c);
    CHECK(drops == 2);
}

TEST_CASE("user types: clone makes an independent copy, each value is dropped once", "[value]")
{
    reset_counts();
    dfr_value x = dfr_obj(&box_type, new Box{7});
    dfr_value y = dfr_value_clone(&x);
    CHECK(clones == 1);
    CHECK(y.type == &box_type);
    CHECK(y.u.ptr != x.u.ptr);
    static_cast<Box *>(x.u.ptr)->v = 8; // independent
    CHECK(static_cast<Box *>(y.u.ptr)->v == 7);
    dfr_value_drop(x);
    CHECK(drops == 1);
    dfr_value_drop(y);
    CHECK(drops == 2);
}

TEST_CASE("user types without clone clone to none and keep the original", "[value]")
{
    reset_counts();
    dfr_value z = dfr_obj(&box_noclone, new Box{1});
    dfr_value c = dfr_value_clone(&z);
    CHECK(dfr_is_none(c));
    CHECK(drops == 0);
    dfr_value_drop(c);
    CHECK(drops == 0);
    CHECK(static_cast<Box *>(z.u.ptr)->v == 1);
    dfr_value_drop(z);
    CHECK(drops == 1);

    // A type with no drop has nothing to free.
    int tag = 3;
    dfr_value t = dfr_obj(&tag_type, &tag);
    CHECK(dfr_is_none(dfr_value_clone(&t)));
    dfr_value_drop(t);
    CHECK(tag == 3);
}

TEST_CASE("a user value given to a deferred is dropped exactly once", "[value][deferred]")
{
    reset_counts();
    SECTION("a result nobody took")
    {
        dfr_deferred *d = dfr_succeed(dfr_obj(&box_type, new Box{1}));
        CHECK(drops == 0);
        dfr_deferred_unref(d);
        CHECK(drops == 1);
    }
    SECTION("a callback that drops it")
    {
        dfr_deferred *d = dfr_deferred_new();
        dfr_deferred_add_callback(d, [](dfr_value v, void *) {
            dfr_value_drop(v);
            return dfr_i64(1);
        }, nullptr, nullptr);
        REQUIRE(dfr_deferred_callback(d, dfr_obj(&box_type, new Box{1})) == 0);
        CHECK(drops == 1);
        dfr_deferred_unref(d);
        CHECK(drops == 1);
    }
    SECTION("a refused fire")
    {
        CHECK(dfr_deferred_callback(nullptr, dfr_obj(&box_type, new Box{1})) == DFR_EINVAL);
        CHECK(drops == 1);
    }
    CHECK(clones == 0);
}

TEST_CASE("failure_from and deferred_from borrow, and give NULL for other values", "[value]")
{
    dfr_failure *f = test::failure(2);
    dfr_value fv = dfr_value_failure(f);
    dfr_deferred *d = dfr_deferred_new();
    dfr_value dv = dfr_value_deferred(d);

    CHECK(dfr_failure_from(&fv) == f);
    CHECK(dfr_deferred_from(&fv) == nullptr);
    CHECK(dfr_deferred_from(&dv) == d);
    CHECK(dfr_failure_from(&dv) == nullptr);

    dfr_value others[] = {dfr_none(), dfr_i64(1), dfr_f64(2.0), dfr_ptr(f), dfr_ptr(d)};
    for (const dfr_value &o : others) {
        CHECK(dfr_failure_from(&o) == nullptr);
        CHECK(dfr_deferred_from(&o) == nullptr);
    }
    dfr_value b = dfr_bytes_new("b", 1);
    CHECK(dfr_failure_from(&b) == nullptr);
    CHECK(dfr_deferred_from(&b) == nullptr);
    dfr_value_drop(b);
    CHECK(dfr_failure_from(nullptr) == nullptr);
    CHECK(dfr_deferred_from(nullptr) == nullptr);

    // Borrowed: one drop of each value releases everything (checked for leaks).
    dfr_value_drop(fv);
    dfr_value_drop(dv);
}

TEST_CASE("the inline helpers are exported for FFI with the same signatures", "[value][abi]")
{
    // Function pointers declared with the header's signatures, looked up by name.
    using none_fn = dfr_value (*)(void);
    using i64_fn = dfr_value (*)(int64_t);
    using f64_fn = dfr_value (*)(double);
    using ptr_fn = dfr_value (*)(void *);
    using obj_fn = dfr_value (*)(const dfr_type *, void *);
    using failure_fn = dfr_value (*)(dfr_failure *);
    using deferred_fn = dfr_value (*)(dfr_deferred *);
    using pred_fn = bool (*)(dfr_value);

    auto sym = [](const char *name) {
        void *p = dlsym(RTLD_DEFAULT, name);
        INFO(name);
        CHECK(p != nullptr);
        return p;
    };
    auto mk_none = reinterpret_cast<none_fn>(sym("dfr_none"));
    auto mk_i64 = reinterpret_cast<i64_fn>(sym("dfr_i64"));
    auto mk_f64 = reinterpret_cast<f64_fn>(sym("dfr_f64"));
    auto mk_ptr = reinterpret_cast<ptr_fn>(sym("dfr_ptr"));
    auto mk_obj = reinterpret_cast<obj_fn>(sym("dfr_obj"));
    auto mk_failure = reinterpret_cast<failure_fn>(sym("dfr_value_failure"));
    auto mk_deferred = reinterpret_cast<deferred_fn>(sym("dfr_value_deferred"));
    auto is_none = reinterpret_cast<pred_fn>(sym("dfr_is_none"));
    auto is_failure = reinterpret_cast<pred_fn>(sym("dfr_is_failure"));
    auto is_deferred = reinterpret_cast<pred_fn>(sym("dfr_is_deferred"));
    auto is_i64 = reinterpret_cast<pred_fn>(sym("dfr_is_i64"));
    auto is_f64 = reinterpret_cast<pred_fn>(sym("dfr_is_f64"));
    auto is_list = reinterpret_cast<pred_fn>(sym("dfr_is_list"));
    auto is_bytes = reinterpret_cast<pred_fn>(sym("dfr_is_bytes"));
    REQUIRE(mk_none);
    REQUIRE(mk_i64);
    REQUIRE(mk_f64);
    REQUIRE(mk_ptr);
    REQUIRE(mk_obj);
    REQUIRE(mk_failure);
    REQUIRE(mk_deferred);
    REQUIRE(is_none);
    REQUIRE(is_failure);
    REQUIRE(is_deferred);
    REQUIRE(is_i64);
    REQUIRE(is_f64);
    REQUIRE(is_list);
    REQUIRE(is_bytes);

    dfr_value n = mk_none();
    CHECK(n.type == nullptr);
    CHECK(is_none(n));
    CHECK_FALSE(is_none(dfr_i64(0)));

    dfr_value i = mk_i64(41);
    CHECK(i.type == &dfr_type_i64);
    CHECK(i.u.i64 == 41);
    CHECK(is_i64(i));
    CHECK_FALSE(is_f64(i));
    CHECK_FALSE(is_failure(i));

    dfr_value f = mk_f64(2.5);
    CHECK(f.type == &dfr_type_f64);
    CHECK(f.u.f64 == 2.5);
    CHECK(is_f64(f));
    CHECK_FALSE(is_i64(f));

    int target = 0;
    dfr_value p = mk_ptr(&target);
    CHECK(p.type == &dfr_type_ptr);
    CHECK(p.u.ptr == &target);

    reset_counts();
    dfr_value o = mk_obj(&box_type, new Box{3});
    CHECK(o.type == &box_type);
    CHECK(static_cast<Box *>(o.u.ptr)->v == 3);
    dfr_value_drop(o);
    CHECK(drops == 1);

    dfr_failure *fl = test::failure(1);
    dfr_value fv = mk_failure(fl);
    CHECK(fv.type == &dfr_type_failure);
    CHECK(fv.u.ptr == fl);
    CHECK(is_failure(fv));
    CHECK_FALSE(is_deferred(fv));
    dfr_value_drop(fv);

    dfr_deferred *d = dfr_deferred_new();
    dfr_value dv = mk_deferred(d);
    CHECK(dv.type == &dfr_type_deferred);
    CHECK(dv.u.ptr == d);
    CHECK(is_deferred(dv));
    CHECK_FALSE(is_failure(dv));
    dfr_value_drop(dv);

    dfr_value b = dfr_bytes_new("b", 1);
    CHECK(is_bytes(b));
    CHECK_FALSE(is_list(b));
    dfr_value_drop(b);

    dfr_deferred *dl = dfr_deferred_list(nullptr, 0, 0);
    REQUIRE(dl != nullptr);
    const dfr_value *lv = dfr_deferred_result(dl);
    REQUIRE(lv != nullptr);
    CHECK(is_list(*lv));
    CHECK_FALSE(is_bytes(*lv));
    dfr_deferred_unref(dl);
}
