// The shared library's ABI: only dfr_* symbols leave it (no dfr__ internals),
// its SONAME is libdeferred.so.0, and the header's inline helpers are also
// real exported functions (for FFI users).
//
// The library is found through $DFR_LIBPATH, else at ../src/libdeferred.so.0
// next to this test program's directory (the build tree layout).
#include <catch2/catch.hpp>

#include "support.h"

#include <dlfcn.h>
#include <limits.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>

namespace {

std::string library_path()
{
    if (const char *env = std::getenv("DFR_LIBPATH"))
        if (*env)
            return env;
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    REQUIRE(n > 0);
    buf[n] = '\0';
    std::string exe(buf);
    std::string dir = exe.substr(0, exe.rfind('/'));
    return dir + "/../src/libdeferred.so.0";
}

std::string shell_quote(const std::string &s)
{
    std::string q = "'";
    for (char c : s) {
        if (c == '\'')
            q += "'\\''";
        else
            q += c;
    }
    return q + "'";
}

// Output of a command; REQUIREs that it ran and exited with 0.
std::string run(const std::string &cmd)
{
    INFO(cmd);
    FILE *p = popen((cmd + " 2>/dev/null").c_str(), "r");
    REQUIRE(p != nullptr);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
        out.append(buf, n);
    int status = pclose(p);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    return out;
}

// name -> nm type letter, for every defined dynamic symbol.
std::map<std::string, char> exported_symbols(const std::string &lib)
{
    std::map<std::string, char> syms;
    std::istringstream in(run("nm -D --defined-only " + shell_quote(lib)));
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string a, b, c;
        fields >> a >> b >> c;
        // "ADDRESS TYPE NAME" (or "TYPE NAME" without an address).
        std::string type = c.empty() ? a : b;
        std::string name = c.empty() ? b : c;
        if (name.empty())
            continue;
        size_t at = name.find('@'); // name@@VERSION
        if (at != std::string::npos)
            name = name.substr(0, at);
        syms[name] = type.empty() ? '?' : type[0];
    }
    return syms;
}

// Every function and object the core public headers declare.
const char *const core_api[] = {
    "dfr_bytes_data", "dfr_bytes_len", "dfr_bytes_new", "dfr_debug_enabled",
    "dfr_deferred_add_both", "dfr_deferred_add_callback", "dfr_deferred_add_callbacks",
    "dfr_deferred_add_errback", "dfr_deferred_callback", "dfr_deferred_cancel",
    "dfr_deferred_chain", "dfr_deferred_errback", "dfr_deferred_from", "dfr_deferred_list",
    "dfr_deferred_new", "dfr_deferred_new_cancellable", "dfr_deferred_pause",
    "dfr_deferred_paused", "dfr_deferred_ref", "dfr_deferred_result", "dfr_deferred_state",
    "dfr_deferred_unpause", "dfr_deferred_unref", "dfr_f64", "dfr_fail", "dfr_failure_cause",
    "dfr_failure_check", "dfr_failure_code", "dfr_failure_describe", "dfr_failure_domain",
    "dfr_failure_from", "dfr_failure_index", "dfr_failure_message", "dfr_failure_new",
    "dfr_failure_newf", "dfr_failure_payload", "dfr_failure_ref", "dfr_failure_set_payload",
    "dfr_failure_unref", "dfr_failure_wrap", "dfr_free", "dfr_gather_results", "dfr_i64",
    "dfr_is_bytes", "dfr_is_deferred", "dfr_is_f64", "dfr_is_failure", "dfr_is_i64",
    "dfr_is_list", "dfr_is_none", "dfr_list_from", "dfr_list_get", "dfr_list_len",
    "dfr_list_ok", "dfr_list_take", "dfr_lock_acquire", "dfr_lock_free", "dfr_lock_locked",
    "dfr_lock_new", "dfr_lock_release", "dfr_lock_run", "dfr_lock_waiting",
    "dfr_maybe_deferred", "dfr_none", "dfr_obj", "dfr_ptr", "dfr_queue_free", "dfr_queue_get",
    "dfr_queue_new", "dfr_queue_pending", "dfr_queue_put", "dfr_queue_waiting",
    "dfr_semaphore_acquire", "dfr_semaphore_free", "dfr_semaphore_new",
    "dfr_semaphore_release", "dfr_semaphore_run", "dfr_semaphore_tokens",
    "dfr_semaphore_waiting", "dfr_set_allocator", "dfr_set_debug",
    "dfr_set_unhandled_error_hook", "dfr_strerror", "dfr_succeed", "dfr_value_clone",
    "dfr_value_deferred", "dfr_value_drop", "dfr_value_failure", "dfr_version",
    "dfr_type_i64", "dfr_type_f64", "dfr_type_ptr", "dfr_type_bytes", "dfr_type_failure",
    "dfr_type_deferred", "dfr_type_list",
};

bool is_function_type(char t)
{
    return t == 'T' || t == 't' || t == 'W' || t == 'i';
}

struct Library {
    explicit Library(const std::string &path) : handle(dlopen(path.c_str(), RTLD_NOW)) {}
    ~Library()
    {
        if (handle)
            dlclose(handle);
    }
    void *handle;
};

} // namespace

// No Twisted counterpart (ABI rules of API.md).
TEST_CASE("ABI: every exported symbol is dfr_* (never a dfr__ internal)", "[abi]")
{
    std::string lib = library_path();
    INFO("library " << lib);
    REQUIRE(access(lib.c_str(), R_OK) == 0);
    auto syms = exported_symbols(lib);
    REQUIRE(syms.size() >= 50);
    for (const auto &entry : syms) {
        const std::string &name = entry.first;
        INFO("exported symbol " << name);
        if (name == "LIBDEFERRED_0")
            continue; // the version node
        CHECK(name.compare(0, 4, "dfr_") == 0);
        CHECK(name.compare(0, 5, "dfr__") != 0);
    }
}

// No Twisted counterpart (ABI rules of API.md).
TEST_CASE("ABI: the whole core API is exported, inline helpers as functions", "[abi]")
{
    std::string lib = library_path();
    INFO("library " << lib);
    auto syms = exported_symbols(lib);
    for (const char *name : core_api) {
        INFO("public symbol " << name);
        CHECK(syms.count(name) == 1);
    }
    for (const char *name : {"dfr_i64", "dfr_is_failure", "dfr_none", "dfr_f64", "dfr_ptr",
                             "dfr_obj", "dfr_value_failure", "dfr_value_deferred", "dfr_is_none",
                             "dfr_is_deferred"}) {
        INFO("inline twin " << name);
        REQUIRE(syms.count(name) == 1);
        CHECK(is_function_type(syms[name]));
    }
    for (const char *name : {"dfr_type_i64", "dfr_type_list"}) {
        INFO("type object " << name);
        REQUIRE(syms.count(name) == 1);
        CHECK_FALSE(is_function_type(syms[name]));
    }
}

// No Twisted counterpart (ABI rules of API.md).
TEST_CASE("ABI: SONAME is libdeferred.so.0 and symbols carry the version node", "[abi]")
{
    std::string lib = library_path();
    INFO("library " << lib);
    std::string dyn = run("readelf -d " + shell_quote(lib));
    INFO(dyn);
    CHECK(dyn.find("Library soname: [libdeferred.so.0]") != std::string::npos);

    std::string vers = run("readelf -V " + shell_quote(lib));
    CHECK(vers.find("LIBDEFERRED_0") != std::string::npos);
    std::string dynsyms = run("readelf -W --dyn-syms " + shell_quote(lib));
    CHECK(dynsyms.find("dfr_deferred_new@@LIBDEFERRED_0") != std::string::npos);
}

// No Twisted counterpart (ABI rules of API.md).
TEST_CASE("ABI: the exported inline twins behave like the header's inlines", "[abi]")
{
    std::string lib = library_path();
    Library l(lib);
    INFO("dlopen " << lib << ": " << (l.handle ? "" : dlerror()));
    REQUIRE(l.handle != nullptr);

    using i64_fn = dfr_value (*)(int64_t);
    using none_fn = dfr_value (*)(void);
    using pred_fn = bool (*)(dfr_value);
    auto i64 = reinterpret_cast<i64_fn>(dlsym(l.handle, "dfr_i64"));
    auto none = reinterpret_cast<none_fn>(dlsym(l.handle, "dfr_none"));
    auto is_failure = reinterpret_cast<pred_fn>(dlsym(l.handle, "dfr_is_failure"));
    REQUIRE(i64 != nullptr);
    REQUIRE(none != nullptr);
    REQUIRE(is_failure != nullptr);

    dfr_value v = i64(-1234567890123LL);
    CHECK(v.type == &dfr_type_i64); // the same library object as the one linked
    CHECK(v.u.i64 == -1234567890123LL);
    CHECK(none().type == nullptr);
    CHECK_FALSE(is_failure(v));
    dfr_failure *f = dfr_failure_new("test", 1, "x");
    CHECK(is_failure(dfr_value_failure(f)));
    dfr_failure_unref(f);

    // Internals are not reachable.
    CHECK(dlsym(l.handle, "dfr__malloc") == nullptr);
    CHECK(dlsym(l.handle, "dfr__failure_static") == nullptr);
}

// The API's enum types pass as int: their size is part of the ABI that the
// bindings mirror (a trigger's phase/event, DeferredList flags).
static_assert(sizeof(dfr_trigger_phase) == sizeof(int), "dfr_trigger_phase is int-sized");
static_assert(sizeof(dfr_trigger_event) == sizeof(int), "dfr_trigger_event is int-sized");
static_assert(sizeof(dfr_list_flags) == sizeof(int), "dfr_list_flags is int-sized");
