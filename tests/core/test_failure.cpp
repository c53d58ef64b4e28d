// Failures (Twisted's Failure): construction, accessors, cause chains, check,
// payloads, describe, reference counting, the DeferredList index, and the
// names of the library's codes.
#include <catch2/catch.hpp>

#include "recorder.h"
#include "support.h"

#include <climits>
#include <cstdlib>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

namespace {

const char kDomain[] = "test";

using test::count_drop;
using test::counted;
using test::counted_value;
using test::drops;

using test::describe;

const int all_codes[] = {DFR_OK,
                         DFR_EINVAL,
                         DFR_ENOMEM,
                         DFR_EALREADY,
                         DFR_ECANCELLED,
                         DFR_ETIMEDOUT,
                         DFR_EFIRST,
                         DFR_ENOTRUNNING,
                         DFR_EALREADY_CANCELLED,
                         DFR_EALREADY_RAN,
                         DFR_ENOTCORO,
                         DFR_EDEADLK,
                         DFR_EOVERFLOW,
                         DFR_EUNDERFLOW,
                         DFR_ENOTOWNER};

} // namespace

// Failure's constructor: the type (domain + code) and the message travel.
TEST_CASE("new: domain is kept as given, message is copied", "[failure]")
{
    char message[] = "three";
    dfr_failure *f = dfr_failure_new(kDomain, 3, message);
    REQUIRE(f != nullptr);
    std::memcpy(message, "XXXXX", 5);
    CHECK(dfr_failure_domain(f) == kDomain); // static string: not copied
    CHECK(dfr_failure_code(f) == 3);
    CHECK(std::string(dfr_failure_message(f)) == "three");
    CHECK(dfr_failure_message(f) != message);
    CHECK(dfr_failure_cause(f) == nullptr);
    CHECK(dfr_failure_index(f) == -1);
    CHECK(dfr_failure_payload(f) == nullptr);
    dfr_failure_unref(f);

    dfr_failure *h = dfr_failure_new(nullptr, DFR_ECANCELLED, nullptr);
    REQUIRE(h != nullptr);
    CHECK(std::string(dfr_failure_domain(h)) == DFR_DOMAIN);
    CHECK(dfr_failure_code(h) == DFR_ECANCELLED);
    REQUIRE(dfr_failure_message(h) != nullptr);
    CHECK(std::string(dfr_failure_message(h)).empty());
    dfr_failure_unref(h);

    dfr_failure *neg = dfr_failure_new(kDomain, INT_MIN + 1, "");
    CHECK(dfr_failure_code(neg) == INT_MIN + 1);
    dfr_failure_unref(neg);
}

TEST_CASE("newf formats short and long messages", "[failure]")
{
    dfr_failure *f = dfr_failure_newf(kDomain, 1, "%s=%d", "x", 42);
    REQUIRE(f != nullptr);
    CHECK(std::string(dfr_failure_message(f)) == "x=42");
    CHECK(dfr_failure_code(f) == 1);
    CHECK(dfr_failure_domain(f) == kDomain);
    dfr_failure_unref(f);

    std::string big(5000, 'x');
    dfr_failure *g = dfr_failure_newf(kDomain, 4, "%s #%d", big.c_str(), 9);
    REQUIRE(g != nullptr);
    CHECK(std::string(dfr_failure_message(g)) == big + " #9");
    dfr_failure_unref(g);

    dfr_failure *e = dfr_failure_newf(nullptr, 2, "%s", "");
    CHECK(std::string(dfr_failure_domain(e)) == DFR_DOMAIN);
    CHECK(std::string(dfr_failure_message(e)).empty());
    dfr_failure_unref(e);
}

TEST_CASE("accessors on NULL give NULL, 0, empty, -1", "[failure]")
{
    CHECK(dfr_failure_domain(nullptr) == nullptr);
    CHECK(dfr_failure_code(nullptr) == 0);
    REQUIRE(dfr_failure_message(nullptr) != nullptr);
    CHECK(std::string(dfr_failure_message(nullptr)).empty());
    CHECK(dfr_failure_cause(nullptr) == nullptr);
    CHECK(dfr_failure_index(nullptr) == -1);
    CHECK(dfr_failure_payload(nullptr) == nullptr);
    CHECK_FALSE(dfr_failure_check(nullptr, kDomain, DFR_ANY));
    CHECK_FALSE(dfr_failure_check(nullptr, DFR_DOMAIN, DFR_ANY));
    CHECK(dfr_failure_describe(nullptr) == nullptr);
    CHECK(dfr_failure_ref(nullptr) == nullptr);
    dfr_failure_unref(nullptr);
}

// Failure.check: by type; here domain (compared as strings) and code.
TEST_CASE("check compares domains by content and codes; DFR_ANY matches the domain", "[failure]")
{
    char domain_copy[] = "test";
    dfr_failure *f = dfr_failure_new(kDomain, 3, "x");
    CHECK(dfr_failure_check(f, kDomain, 3));
    CHECK(dfr_failure_check(f, domain_copy, 3)); // another pointer, same text
    CHECK(dfr_failure_check(f, kDomain, DFR_ANY));
    CHECK(dfr_failure_check(f, domain_copy, DFR_ANY));
    CHECK_FALSE(dfr_failure_check(f, kDomain, 4));
    CHECK_FALSE(dfr_failure_check(f, kDomain, -3));
    CHECK_FALSE(dfr_failure_check(f, "other", 3));
    CHECK_FALSE(dfr_failure_check(f, "other", DFR_ANY));
    CHECK_FALSE(dfr_failure_check(f, "Test", 3));   // case matters
    CHECK_FALSE(dfr_failure_check(f, "tes", 3));    // no prefix match
    CHECK_FALSE(dfr_failure_check(f, "tests", 3));
    CHECK_FALSE(dfr_failure_check(f, DFR_DOMAIN, 3));

    // A wrapper is checked by its own domain and code, not its cause's.
    dfr_failure *w = dfr_failure_wrap(f, "app", 1, "wrapped");
    CHECK(dfr_failure_check(w, "app", 1));
    CHECK_FALSE(dfr_failure_check(w, kDomain, 3));
    CHECK(dfr_failure_check(dfr_failure_cause(w), kDomain, 3));
    dfr_failure_unref(w);

    // The library's own failures are in the "dfr" domain.
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_cancel(d);
    const dfr_value *r = dfr_deferred_result(d);
    REQUIRE(r != nullptr);
    const dfr_failure *c = dfr_failure_from(r);
    CHECK(dfr_failure_check(c, DFR_DOMAIN, DFR_ECANCELLED));
    CHECK(dfr_failure_check(c, "dfr", DFR_ANY));
    CHECK_FALSE(dfr_failure_check(c, DFR_DOMAIN, DFR_EINVAL));
    CHECK_FALSE(dfr_failure_check(c, kDomain, DFR_ANY));
    CHECK(dfr_failure_index(c) == -1);
    test::Recorder eb;
    dfr_deferred_add_errback(d, test::record_and_handle, &eb, nullptr);
    dfr_deferred_unref(d);
}

TEST_CASE("wrap builds a cause chain and takes the cause's reference", "[failure]")
{
    drops = 0;
    dfr_failure *root = dfr_failure_new("io", 5, "disk on fire");
    REQUIRE(dfr_failure_set_payload(root, counted_value(1)) == 0);
    dfr_failure *mid = dfr_failure_wrap(root, "store", 2, "could not write");
    REQUIRE(mid != nullptr);
    dfr_failure *top = dfr_failure_wrap(mid, "app", 1, "could not save");
    REQUIRE(top != nullptr);
    CHECK(dfr_failure_cause(top) == mid);
    CHECK(dfr_failure_cause(mid) == root);
    CHECK(dfr_failure_cause(root) == nullptr);
    CHECK(std::string(dfr_failure_domain(dfr_failure_cause(dfr_failure_cause(top)))) == "io");
    CHECK(dfr_failure_code(dfr_failure_cause(top)) == 2);
    CHECK(dfr_failure_index(top) == -1);

    // Keep the root alive past the chain.
    dfr_failure_ref(root);
    dfr_failure_unref(top); // releases top, then mid, then mid's reference to root
    CHECK(drops == 0);
    CHECK(std::string(dfr_failure_message(root)) == "disk on fire");
    dfr_failure_unref(root);
    CHECK(drops == 1);
}

TEST_CASE("wrap releases the cause when it cannot allocate", "[failure][alloc]")
{
    drops = 0;
    dfr_failure *cause = test::failure(1);
    REQUIRE(dfr_failure_set_payload(cause, counted_value(1)) == 0);
    test::fail_allocation_at(1);
    dfr_failure *w = dfr_failure_wrap(cause, "app", 1, "wrapped");
    bool failed = test::allocation_failed();
    test::fail_allocation_at(0);
    REQUIRE(failed);
    CHECK(w == nullptr);
    CHECK(drops == 1); // the cause's reference went with the failed call
}

TEST_CASE("constructors return NULL when out of memory", "[failure][alloc]")
{
    test::fail_allocation_at(1);
    dfr_failure *f = dfr_failure_new(kDomain, 1, "x");
    test::fail_allocation_at(0);
    CHECK(f == nullptr);
    std::string big(1000, 'y');
    test::for_each_allocation_failure([&](long) {
        dfr_failure *g = dfr_failure_newf(kDomain, 1, "%s", big.c_str());
        if (g) {
            CHECK(std::string(dfr_failure_message(g)) == big);
            dfr_failure_unref(g);
        }
    });
}

TEST_CASE("payload: set, borrow, replace (the old one is dropped), freed with the failure", "[failure]")
{
    drops = 0;
    dfr_failure *f = test::failure(1);
    CHECK(dfr_failure_payload(f) == nullptr);
    dfr_value one = counted_value(1);
    REQUIRE(dfr_failure_set_payload(f, one) == 0);
    const dfr_value *p = dfr_failure_payload(f);
    REQUIRE(p != nullptr);
    CHECK(p->type == &counted);
    CHECK(p->u.ptr == one.u.ptr); // borrowed, not cloned
    CHECK(drops == 0);

    REQUIRE(dfr_failure_set_payload(f, counted_value(2)) == 0);
    CHECK(drops == 1); // the first payload was dropped
    REQUIRE(dfr_failure_payload(f) != nullptr);
    CHECK(*static_cast<int *>(dfr_failure_payload(f)->u.ptr) == 2);

    // Built-in values work as payloads too.
    REQUIRE(dfr_failure_set_payload(f, dfr_bytes_new("two", 3)) == 0);
    CHECK(drops == 2);
    CHECK(test::show(dfr_failure_payload(f)) == "bytes two");

    // Setting none removes it.
    REQUIRE(dfr_failure_set_payload(f, dfr_none()) == 0);
    CHECK(dfr_failure_payload(f) == nullptr);

    REQUIRE(dfr_failure_set_payload(f, counted_value(3)) == 0);
    dfr_failure_unref(f);
    CHECK(drops == 3); // dropped with the failure

    // NULL failure: DFR_EINVAL and the payload is dropped.
    CHECK(dfr_failure_set_payload(nullptr, counted_value(4)) == DFR_EINVAL);
    CHECK(drops == 4);
}

TEST_CASE("describe shows domain, code and message of the failure and its causes", "[failure]")
{
    dfr_failure *root = dfr_failure_new("io", 5, "disk on fire");
    dfr_failure *mid = dfr_failure_wrap(root, "store", 27, "could not write");
    dfr_failure *top = dfr_failure_wrap(mid, "app", 1, "could not save");
    std::string s = describe(top);
    INFO(s);
    size_t a = s.find("app"), b = s.find("could not save");
    size_t c = s.find("store"), d = s.find("could not write");
    size_t e = s.find("io"), g = s.find("disk on fire");
    CHECK(a != std::string::npos);
    CHECK(b != std::string::npos);
    CHECK(c != std::string::npos);
    CHECK(d != std::string::npos);
    CHECK(e != std::string::npos);
    CHECK(g != std::string::npos);
    CHECK(s.find("27") != std::string::npos);
    CHECK(s.find('5') != std::string::npos);
    // Outermost first, then the causes in order.
    CHECK(b < d);
    CHECK(d < g);
    // The format used by the library: "<domain> error <code>: <message>".
    CHECK(s.find("app error 1: could not save") != std::string::npos);
    CHECK(s.find("Caused by: store error 27: could not write") != std::string::npos);
    CHECK(s.find("Caused by: io error 5: disk on fire") != std::string::npos);

    // dfr_free releases it too.
    char *text = dfr_failure_describe(root);
    REQUIRE(text != nullptr);
    CHECK(std::string(text).find("disk on fire") != std::string::npos);
    CHECK(std::string(text).find("Caused by") == std::string::npos);
    dfr_free(text);
    dfr_failure_unref(top);

    // An empty message and a negative library code.
    dfr_failure *lib = dfr_failure_new(nullptr, DFR_ETIMEDOUT, nullptr);
    std::string t = describe(lib);
    CHECK(t.find(DFR_DOMAIN) != std::string::npos);
    CHECK(t.find(std::to_string(DFR_ETIMEDOUT)) != std::string::npos);
    dfr_failure_unref(lib);
}

TEST_CASE("references: ref returns the failure; the last unref frees it", "[failure]")
{
    drops = 0;
    dfr_failure *f = test::failure(1);
    REQUIRE(dfr_failure_set_payload(f, counted_value(1)) == 0);
    CHECK(dfr_failure_ref(f) == f);
    CHECK(dfr_failure_ref(f) == f);
    dfr_failure_unref(f);
    dfr_failure_unref(f);
    CHECK(drops == 0);
    CHECK(dfr_failure_code(f) == 1);
    dfr_failure_unref(f);
    CHECK(drops == 1);
}

TEST_CASE("references are atomic: threads may ref and unref at once", "[failure][threads]")
{
    drops = 0;
    dfr_failure *f = test::failure(1);
    REQUIRE(dfr_failure_set_payload(f, counted_value(1)) == 0);
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; t++)
        ts.emplace_back([f] {
            for (int i = 0; i < 20000; i++) {
                dfr_failure_ref(f);
                dfr_failure_unref(f);
            }
        });
    for (auto &t : ts)
        t.join();
    CHECK(drops == 0);
    dfr_failure_unref(f);
    CHECK(drops == 1);
}

// FirstError's index (testDeferredListFireOnOneError: index == 1,
// subFailure is the input's failure); every other failure says -1.
TEST_CASE("index: the failed input of a DFR_EFIRST failure, -1 otherwise", "[failure][list]")
{
    dfr_failure *inner = dfr_failure_new(kDomain, 2, "from def2");
    dfr_deferred *ds[3] = {dfr_succeed(dfr_i64(1)), dfr_fail(inner), dfr_deferred_new()};
    dfr_deferred *g = dfr_gather_results(ds, 3, true);
    REQUIRE(g != nullptr);
    const dfr_value *r = dfr_deferred_result(g);
    REQUIRE(r != nullptr);
    const dfr_failure *first = dfr_failure_from(r);
    REQUIRE(first != nullptr);
    CHECK(dfr_failure_check(first, DFR_DOMAIN, DFR_EFIRST));
    CHECK(dfr_failure_index(first) == 1);
    CHECK(dfr_failure_cause(first) == inner);
    CHECK(dfr_failure_index(inner) == -1);
    CHECK(describe(first).find("from def2") != std::string::npos);
    test::Recorder eb;
    dfr_deferred_add_errback(g, test::record_and_handle, &eb, nullptr);
    CHECK(eb.seen == std::vector<std::string>{test::fail_text(DFR_DOMAIN, DFR_EFIRST)});
    dfr_deferred_cancel(ds[2]); // let the last input report
    test::Recorder eb2;
    dfr_deferred_add_errback(ds[2], test::record_and_handle, &eb2, nullptr);
    for (dfr_deferred *d : ds)
        dfr_deferred_unref(d);
    dfr_deferred_unref(g);

    dfr_failure *w = dfr_failure_wrap(test::failure(1), kDomain, 2, "w");
    CHECK(dfr_failure_index(w) == -1);
    dfr_failure_unref(w);
    dfr_failure *n = dfr_failure_newf(kDomain, 1, "n");
    CHECK(dfr_failure_index(n) == -1);
    dfr_failure_unref(n);
}

TEST_CASE("strerror names every code, each differently; unknown codes are not NULL", "[failure]")
{
    std::set<std::string> names;
    for (int c : all_codes) {
        const char *s = dfr_strerror(c);
        INFO("code " << c);
        REQUIRE(s != nullptr);
        CHECK(std::strlen(s) > 0);
        names.insert(s);
    }
    CHECK(names.size() == sizeof all_codes / sizeof all_codes[0]);
    CHECK(std::string(dfr_strerror(DFR_EINVAL)) == "invalid argument");
    for (int c : {1, 12345, -15, -1000, INT_MIN, INT_MAX}) {
        const char *s = dfr_strerror(c);
        INFO("code " << c);
        REQUIRE(s != nullptr);
        CHECK(names.count(s) == 0);
    }
    // The library's codes are the negative numbers from -1 to -14.
    CHECK(DFR_ENOTOWNER == -14);
    // One version: the header's macros, the library's string and meson's
    // project version (given by the test runner) agree.
    std::string header = std::to_string(DFR_VERSION_MAJOR) + "." + std::to_string(DFR_VERSION_MINOR) +
                         "." + std::to_string(DFR_VERSION_PATCH);
    CHECK(std::string(dfr_version()) == header);
    if (const char *project = std::getenv("DFR_PROJECT_VERSION"))
        CHECK(header == project);
}
