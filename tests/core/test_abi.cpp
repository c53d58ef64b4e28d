// The shared library's ABI: only dfr_* symbols leave it (no dfr__ internals),
// its SONAME is libdeferred.so.0, and the header's inline helpers are also
// real exported functions (for FFI users); the exported symbols and the
// public headers' declarations are the same set.
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
#include <fstream>
#include <map>
#include <regex>
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

// Every function and object the public headers declare (DFR_API or
// DFR_INLINE: the inline helpers are exported too), read from the headers
// themselves so that the list cannot drift.
std::set<std::string> declared_api()
{
    std::set<std::string> names;
    std::string dir = DFR_INCLUDE_DIR;
    std::istringstream files(run("ls " + shell_quote(dir) + "/deferred.h " + shell_quote(dir) +
                                 "/deferred/*.h"));
    std::string path;
    const std::regex decl(R"(\bDFR_(?:API|INLINE)\b[^;{(#]*?\b(dfr_[a-z0-9_]+)\s*[(;\[])");
    while (std::getline(files, path)) {
        std::ifstream in(path);
        REQUIRE(in);
        std::stringstream text;
        text << in.rdbuf();
        std::string src = text.str();
        for (std::sregex_iterator it(src.begin(), src.end(), decl), end; it != end; ++it)
            names.insert((*it)[1].str());
    }
    return names;
}

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

// No Twisted counterpart (the ABI rules: deferred/common.h, docs/design.md).
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

// No Twisted counterpart (the ABI rules: deferred/common.h, docs/design.md).
TEST_CASE("ABI: every symbol the headers declare is exported and every exported symbol is declared, inline helpers as functions", "[abi]")
{
    std::string lib = library_path();
    INFO("library " << lib);
    auto syms = exported_symbols(lib);
    auto api = declared_api();
    REQUIRE(api.size() >= 200);
    REQUIRE(api.count("dfr_reactor_call_later") == 1); // a sanity check of the scan
    REQUIRE(api.count("dfr_type_i64") == 1);
    for (const std::string &name : api) {
        INFO("declared in a public header: " << name);
        CHECK(syms.count(name) == 1);
    }
    for (const auto &entry : syms) {
        if (entry.first == "LIBDEFERRED_0")
            continue;
        INFO("exported: " << entry.first);
        CHECK(api.count(entry.first) == 1);
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

// No Twisted counterpart (the ABI rules: deferred/common.h, docs/design.md).
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

// No Twisted counterpart (the ABI rules: deferred/common.h, docs/design.md).
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
// The queries' answers for NULL kept the value 0.2 returned (DFR_EINVAL).
static_assert(sizeof(dfr_state) == sizeof(int) && DFR_STATE_INVALID == -1, "dfr_state: int, -1 for NULL");
static_assert(sizeof(dfr_kind) == sizeof(int) && DFR_KIND_INVALID == -1, "dfr_kind: int, -1 for NULL");
