/* Design (b) of docs/node.md, for measurement only (not shipped): a
 * libdeferred reactor on its own thread, results delivered to JS through a
 * napi_threadsafe_function.  It measures the hops design (b) needs at the
 * least, with the C work of a deferred cycle in between:
 *   pipelined(n, fn, done): n times JS -> reactor thread (create a deferred,
 *     add a C callback, fire it; the callback posts to JS) -> fn(i) on the
 *     JS thread; done() after the n-th.  Throughput: the floor of
 *     deferred_cycle and of each link of callback_link under (b).
 *   pingpong(n, fn, done): the same, one at a time (the next hop after fn
 *     ran): the floor of await_fired under (b), whose `then` must ask the
 *     reactor thread for the result.
 *   timers(n, seconds, fn, done): n callLater on the reactor thread, each
 *     delivered to fn: call_later under (b). */
#include <deferred.h>
#include <node_api.h>
#include <pthread.h>
#include <stdlib.h>

static dfr_reactor *g_r;
static pthread_t g_thread;
static napi_threadsafe_function g_tsfn;
static napi_ref g_fn, g_done;
static int64_t g_n, g_got;
static int g_mode; /* 0 pipelined, 1 pingpong, 2 timers */
static double g_secs;

static void *run(void *arg)
{
    (void)arg;
    dfr_reactor_run(g_r);
    return NULL;
}

static dfr_value post(dfr_value v, void *data)
{
    (void)data;
    napi_call_threadsafe_function(g_tsfn, (void *)(intptr_t)v.u.i64, napi_tsfn_nonblocking);
    return v;
}

/* On the reactor thread: one deferred cycle whose callback posts to JS. */
static void cycle(void *data)
{
    dfr_deferred *d = dfr_deferred_new();
    dfr_deferred_add_callback(d, post, NULL, NULL);
    dfr_deferred_callback(d, dfr_i64((int64_t)(intptr_t)data));
    dfr_deferred_unref(d);
}

static void fire(void *data)
{
    napi_call_threadsafe_function(g_tsfn, data, napi_tsfn_nonblocking);
}

static void arm(void *data)
{
    dfr_reactor_call_later(g_r, g_secs, fire, data, NULL, NULL);
}

/* On the JS thread, for each delivery. */
static void call_js(napi_env env, napi_value js_cb, void *context, void *data)
{
    (void)js_cb;
    (void)context;
    if (!env)
        return;
    napi_value fn, arg, ret, undef;
    napi_get_undefined(env, &undef);
    napi_get_reference_value(env, g_fn, &fn);
    napi_create_int64(env, (int64_t)(intptr_t)data, &arg);
    napi_call_function(env, undef, fn, 1, &arg, &ret);
    if (++g_got == g_n) {
        napi_get_reference_value(env, g_done, &fn);
        napi_call_function(env, undef, fn, 0, NULL, &ret);
        napi_unref_threadsafe_function(env, g_tsfn);
    } else if (g_mode == 1) {
        dfr_reactor_call_from_thread(g_r, cycle, (void *)(intptr_t)g_got, NULL);
    }
}

static napi_value start_run(napi_env env, napi_callback_info info, int mode)
{
    size_t argc = 4;
    napi_value argv[4];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    napi_get_value_int64(env, argv[0], &g_n);
    int a = 1;
    if (mode == 2) {
        napi_get_value_double(env, argv[1], &g_secs);
        a = 2;
    }
    if (g_fn)
        napi_delete_reference(env, g_fn);
    if (g_done)
        napi_delete_reference(env, g_done);
    napi_create_reference(env, argv[a], 1, &g_fn);
    napi_create_reference(env, argv[a + 1], 1, &g_done);
    g_got = 0;
    g_mode = mode;
    napi_ref_threadsafe_function(env, g_tsfn);
    int64_t first = mode == 1 ? 1 : g_n;
    for (int64_t i = 0; i < first; i++)
        dfr_reactor_call_from_thread(g_r, mode == 2 ? arm : cycle, (void *)(intptr_t)i, NULL);
    return NULL;
}

static napi_value pipelined(napi_env env, napi_callback_info info) { return start_run(env, info, 0); }
static napi_value pingpong(napi_env env, napi_callback_info info) { return start_run(env, info, 1); }
static napi_value timers(napi_env env, napi_callback_info info) { return start_run(env, info, 2); }

static void cleanup(void *arg)
{
    (void)arg;
    dfr_reactor_stop(g_r);
    pthread_join(g_thread, NULL);
    dfr_reactor_free(g_r);
}

NAPI_MODULE_INIT()
{
    dfr_reactor_options o = {.size = sizeof o};
    g_r = dfr_reactor_new(&o);
    napi_value name;
    napi_create_string_utf8(env, "design_b", NAPI_AUTO_LENGTH, &name);
    napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, NULL, call_js, &g_tsfn);
    napi_unref_threadsafe_function(env, g_tsfn);
    pthread_create(&g_thread, NULL, run, NULL);
    napi_add_env_cleanup_hook(env, cleanup, NULL);
    napi_property_descriptor props[] = {
        {"pipelined", NULL, pipelined, NULL, NULL, NULL, napi_default, NULL},
        {"pingpong", NULL, pingpong, NULL, NULL, NULL, napi_default, NULL},
        {"timers", NULL, timers, NULL, NULL, NULL, napi_default, NULL},
    };
    napi_define_properties(env, exports, 3, props);
    return exports;
}
