#pragma once
#include <catch2/catch.hpp>

namespace test {

template <class F> int for_each_allocation_failure(F step)
{
    int runs = 0;
    for (long k = 1; k < 100000; k++) {
        long before = live_allocations();
        fail_allocation_at(k);
        step(k);
        bool failed = allocation_failed();
        fail_allocation_at(0);
        runs++;
        INFO("allocation " << k << " failed");
        REQUIRE(live_allocations() == before);
        if (!failed)
            break;
    }
    return runs;
}

inline std::string describe(const dfr_failure *f)
{
    char *text = dfr_failure_describe(f);
    REQUIRE(text != nullptr);
    std::string s(text);
    dfr_free(text);
    return s;
}

} // namespace test
