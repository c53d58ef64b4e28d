// Test helpers: describe values as short strings, and record what callbacks
// see.  Each recorder passes the value through unchanged.
#pragma once

#include <deferred.h>

#include <cstdio>
#include <string>
#include <vector>

namespace test {

inline std::string show(const dfr_value &v)
{
    if (dfr_is_none(v))
        return "none";
    if (dfr_is_i64(v))
        return "i64 " + std::to_string(v.u.i64);
    if (dfr_is_f64(v))
        return "f64 " + std::to_string(v.u.f64);
    if (dfr_is_bytes(v))
        return "bytes " + std::string(static_cast<const char *>(dfr_bytes_data(&v)), dfr_bytes_len(&v));
    if (dfr_is_failure(v)) {
        const dfr_failure *f = dfr_failure_from(&v);
        return std::string("fail ") + dfr_failure_domain(f) + " " + std::to_string(dfr_failure_code(f));
    }
    if (dfr_is_list(v))
        return "list " + std::to_string(dfr_list_len(dfr_list_from(&v)));
    if (v.type == &dfr_type_ptr)
        return "ptr";
    return std::string("obj ") + (v.type->name ? v.type->name : "?");
}

inline std::string show(const dfr_value *v)
{
    return v ? show(*v) : "pending";
}

// What a deferred holds now: "pending" or its result.
inline std::string state(const dfr_deferred *d)
{
    return show(dfr_deferred_result(d));
}

struct Recorder {
    std::vector<std::string> seen;
    std::string last() const { return seen.empty() ? "(nothing)" : seen.back(); }
};

// Record and pass through.
inline dfr_value record(dfr_value v, void *data)
{
    static_cast<Recorder *>(data)->seen.push_back(show(v));
    return v;
}

// Record and switch to the callback path with none (an errback that handles).
inline dfr_value record_and_handle(dfr_value v, void *data)
{
    static_cast<Recorder *>(data)->seen.push_back(show(v));
    dfr_value_drop(v);
    return dfr_none();
}

inline std::string fail_text(const char *domain, int code)
{
    return std::string("fail ") + domain + " " + std::to_string(code);
}

inline dfr_failure *failure(int code, const char *message = "boom")
{
    return dfr_failure_new("test", code, message);
}

} // namespace test
