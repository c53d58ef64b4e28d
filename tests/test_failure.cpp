// Failures: construction, accessors, causes, check, payloads, describe.
#include <catch2/catch.hpp>

#include "recorder.h"
#include "support.h"

#include <cstdlib>
#include <cstring>

TEST_CASE("new, newf, accessors", "[failure]")
{
    dfr_failure *f = dfr_failure_new("test", 3, "three");
    CHECK(std::string(dfr_failure_domain(f)) == "test");
    CHECK(dfr_failure_code(f) == 3);
    CHECK(std::string(dfr_failure_message(f)) == "three");
    CHECK(dfr_failure_cause(f) == nullptr);
    CHECK(dfr_failure_index(f) == -1);
    CHECK(dfr_failure_payload(f) == nullptr);
    dfr_failure_unref(f);

    std::string big(1000, 'x');
    dfr_failure *g = dfr_failure_newf("test", 4, "%s #%d", big.c_str(), 9);
    CHECK(std::string(dfr_failure_message(g)) == big + " #9");
    dfr_failure_unref(g);

    dfr_failure *h = dfr_failure_new(nullptr, DFR_ECANCELLED, nullptr);
    CHECK(std::string(dfr_failure_domain(h)) == DFR_DOMAIN);
    CHECK(std::string(dfr_failure_message(h)).empty());
    dfr_failure_unref(h);
}

TEST_CASE("check compares domains by content and codes, DFR_ANY matches all", "[failure]")
{
    char domain[] = "test";
    dfr_failure *f = dfr_failure_new("test", 3, "x");
    CHECK(dfr_failure_check(f, domain, 3));
    CHECK(dfr_failure_check(f, "test", DFR_ANY));
    CHECK_FALSE(dfr_failure_check(f, "test", 4));
    CHECK_FALSE(dfr_failure_check(f, "other", DFR_ANY));
    CHECK_FALSE(dfr_failure_check(nullptr, "test", 3));
    dfr_failure_unref(f);
}

TEST_CASE("wrap builds a cause chain and describe shows it", "[failure]")
{
    dfr_failure *root = dfr_failure_new("io", 5, "disk on fire");
    dfr_failure *top = dfr_failure_wrap(root, "app", 1, "could not save");
    CHECK(dfr_failure_cause(top) == root);
    char *text = dfr_failure_describe(top);
    REQUIRE(text != nullptr);
    std::string s(text);
    std::free(text);
    CHECK(s.find("app error 1: could not save") != std::string::npos);
    CHECK(s.find("Caused by: io error 5: disk on fire") != std::string::npos);
    dfr_failure_unref(top);
    CHECK(dfr_failure_describe(nullptr) == nullptr);
}

TEST_CASE("payload: set, replace (the old one is dropped)", "[failure]")
{
    dfr_failure *f = test::failure(1);
    CHECK(dfr_failure_set_payload(f, dfr_bytes_new("one", 3)) == 0);
    CHECK(test::show(dfr_failure_payload(f)) == "bytes one");
    CHECK(dfr_failure_set_payload(f, dfr_bytes_new("two", 3)) == 0);
    CHECK(test::show(dfr_failure_payload(f)) == "bytes two");
    CHECK(dfr_failure_set_payload(nullptr, dfr_bytes_new("x", 1)) == DFR_EINVAL);
    dfr_failure_unref(f);
}

TEST_CASE("references", "[failure]")
{
    dfr_failure *f = test::failure(1);
    CHECK(dfr_failure_ref(f) == f);
    dfr_failure_unref(f);
    dfr_failure_unref(f);
    dfr_failure_unref(nullptr);
    CHECK(dfr_failure_ref(nullptr) == nullptr);
}

TEST_CASE("strerror names every code", "[failure]")
{
    for (int c = DFR_ENOTOWNER; c <= 0; c++)
        CHECK(std::string(dfr_strerror(c)) != "unknown error");
    CHECK(std::string(dfr_strerror(12345)) == "unknown error");
    CHECK(std::string(dfr_version()) == "0.1.0");
}
