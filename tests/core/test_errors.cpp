// One error table (src/base/errors.h): the enum in common.h and the table
// agree, every code has its own message, dfr_strerror and the library's own
// failures read the same table, and an unknown code is "unknown error".
#include <catch2/catch.hpp>

#include "support.h"

#include "../../src/base/errors.h"

#include <set>
#include <string>
#include <vector>

namespace {

struct Entry {
    int code;
    const char *name;
    const char *message;
};

#define ENTRY(name, msg) {name, #name, msg},
const std::vector<Entry> table = {DFR__ERRORS(ENTRY)};
#undef ENTRY

} // namespace

TEST_CASE("every code has one table entry, a distinct name and a distinct message", "[errors]")
{
    std::set<int> codes;
    std::set<std::string> names, messages;
    for (const Entry &e : table) {
        CHECK(codes.insert(e.code).second);
        CHECK(names.insert(e.name).second);
        CHECK(messages.insert(e.message).second);
        CHECK(std::string(dfr_strerror(e.code)) == e.message);
        CHECK(std::string(e.message) != "unknown error");
    }
    // The enum is contiguous from 0 down, so the table covers it exactly when
    // its codes are 0 .. -(n-1) and the last enum member is the table's last.
    int n = (int)table.size();
    CHECK(n == DFR__ECOUNT);
    for (int i = 0; i < n; i++)
        CHECK(codes.count(-i) == 1);
    CHECK(table.back().code == DFR_EINUSE); // the enum's last member
}

TEST_CASE("unknown codes read \"unknown error\"", "[errors]")
{
    CHECK(std::string(dfr_strerror(-DFR__ECOUNT)) == "unknown error");
    CHECK(std::string(dfr_strerror(1)) == "unknown error");
    CHECK(std::string(dfr_strerror(-1000)) == "unknown error");
    CHECK(std::string(dfr_strerror(INT32_MIN)) == "unknown error");
}

TEST_CASE("the library's own failures carry the table's message, in debug mode too", "[errors]")
{
    for (bool debug : {false, true}) {
        dfr_set_debug(debug);
        // A cancelled deferred: a library DFR_ECANCELLED failure.
        dfr_deferred *d = dfr_deferred_new();
        REQUIRE(d != nullptr);
        dfr_deferred_cancel(d);
        const dfr_value *v = dfr_deferred_result(d);
        REQUIRE(v != nullptr);
        REQUIRE(dfr_is_failure(*v));
        auto *f = static_cast<dfr_failure *>(v->u.ptr);
        CHECK(dfr_failure_code(f) == DFR_ECANCELLED);
        CHECK(std::string(dfr_failure_message(f)) == dfr_strerror(DFR_ECANCELLED));
        // Chaining into a deferred that already fired: DFR_EALREADY.
        dfr_deferred *a = dfr_deferred_new();
        dfr_deferred *b = dfr_deferred_new();
        REQUIRE(dfr_deferred_callback(b, dfr_none()) == 0);
        REQUIRE(dfr_deferred_chain(a, b) == 0);
        REQUIRE(dfr_deferred_callback(a, dfr_none()) == 0);
        v = dfr_deferred_result(a);
        REQUIRE(v != nullptr);
        REQUIRE(dfr_is_failure(*v));
        f = static_cast<dfr_failure *>(v->u.ptr);
        CHECK(dfr_failure_code(f) == DFR_EALREADY);
        CHECK(std::string(dfr_failure_message(f)) == dfr_strerror(DFR_EALREADY));
        dfr_deferred_add_errback(a, test::swallow, nullptr, nullptr);
        dfr_deferred_add_errback(d, test::swallow, nullptr, nullptr);
        dfr_deferred_unref(a);
        dfr_deferred_unref(b);
        dfr_deferred_unref(d);
    }
    dfr_set_debug(false);
}
