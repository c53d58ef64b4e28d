/* The Node-API addon over libdeferred.  Design (docs/node.md): the reactor
 * is attached to Node's own libuv loop (dfr_reactor_options.uv_loop), so
 * every C callback, and so every JS callback, runs on the JS thread, inside
 * Node's loop; JS is entered from libuv through a callback scope
 * (microtasks and nextTicks drain after it, async hooks see it).
 *
 * Ownership: a JS value travelling through a C chain is a dfr_value of type
 * `js_type` holding a napi_ref, released exactly once by the type's drop.
 * JS functions C calls live in a JS-side table; C holds their index ("JS
 * functions C holds").  A JS Deferred names its C deferred by an integer
 * handle and holds one C reference, released once: when the object is
 * collected, or when it detaches ("handles"). */
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <deferred.h>
#include <deferred/ffi.h>
#include <node_api.h>
#include <uv.h>

#ifndef LIB_UV_MAJOR
#define LIB_UV_MAJOR UV_VERSION_MAJOR
#define LIB_UV_MINOR UV_VERSION_MINOR
#endif

/* ---- state (one addon instance: the main thread's env) ---- */

static napi_env g_env;
static dfr_reactor *g_reactor;
static napi_ref g_make_deferred, g_error_ctor, g_on_unhandled, g_dispatch;
static napi_ref g_shared; /* the ArrayBuffer behind g_mbox and g_freed_out */
static int32_t *g_mbox;   /* shared with JS: see MB_* */
static int32_t *g_freed_out;
static int32_t *g_queue; /* see add_queued */
/* A number crossing between JS and C in shared memory (MB_ARG, RET_NUM,
 * MB_DETACHED 2, MB_A2): no Node-API call to make or read it. */
static double *g_num;
#define QUEUE_MAX 16384
static napi_async_context g_async;
static napi_ref g_async_resource;
static int g_depth;          /* > 0 while JS (or a native call from JS) is on the stack */
static int64_t g_live_values; /* JS values held by C chains */
static int64_t g_live_callbacks;

/* Every struct the addon attaches to a JS object (napi_wrap) starts with one
 * of these, checked before use: a method called on the wrong kind of object
 * is a TypeError, never a wrong cast.  (Cheaper than Node-API type tags.) */
enum {
    KIND_FAILURE = 0x64667231,
    KIND_CLOCK,
    KIND_LC,
    KIND_LOCK,
    KIND_SEM,
    KIND_QUEUE
};

typedef struct wrapped {
    uint32_t kind;
} wrapped;

/* The struct of `kind` attached to v, or NULL. */
static void *unwrap_kind(napi_env env, napi_value v, uint32_t kind)
{
    void *p = NULL;
    napi_valuetype t = napi_undefined;
    if (napi_typeof(env, v, &t) != napi_ok || (t != napi_object && t != napi_function) ||
        napi_unwrap(env, v, &p) != napi_ok || !p || ((wrapped *)p)->kind != kind)
        return NULL;
    return p;
}

/* A simple holder for a pointer attached to a JS object. */
typedef struct holder {
    uint32_t kind;
    void *p;
} holder;

static holder *holder_new(uint32_t kind, void *p)
{
    holder *h = malloc(sizeof *h);
    if (h) {
        h->kind = kind;
        h->p = p;
    }
    return h;
}

#define JS_DOMAIN "js"

#define CHECK(call)                                                                   \
    do {                                                                              \
        if ((call) != napi_ok)                                                        \
            return NULL;                                                              \
    } while (0)

#define ARGS(n)                                                                       \
    size_t argc = (n);                                                                \
    napi_value argv[(n) > 0 ? (n) : 1];                                               \
    napi_value self;                                                                  \
    CHECK(napi_get_cb_info(env, info, &argc, argv, &self, NULL));                     \
    for (size_t i_ = argc; i_ < (n); i_++)                                            \
        napi_get_undefined(env, &argv[i_]);                                           \
    (void)self

static napi_value throw_type(napi_env env, const char *msg)
{
    napi_throw_type_error(env, NULL, msg);
    return NULL;
}

static napi_value undefined(napi_env env)
{
    napi_value u;
    napi_get_undefined(env, &u);
    return u;
}

/* The dispatcher (index.js) as a handle of the innermost open handle scope,
 * or NULL: fetched once per native call, not once per callback (reset
 * wherever a scope opens: ENTRY, enter_js). */
static napi_value g_dispatch_fn;

static napi_value ref_value(napi_env env, napi_ref r)
{
    napi_value v = NULL;
    napi_get_reference_value(env, r, &v);
    return v;
}

static napi_valuetype type_of(napi_env env, napi_value v)
{
    napi_valuetype t = napi_undefined;
    napi_typeof(env, v, &t);
    return t;
}

static bool is_function(napi_env env, napi_value v)
{
    return type_of(env, v) == napi_function;
}

/* ---- JS values as dfr_values ---- */

typedef struct jsbox {
    napi_ref ref;
    int refs;   /* clones share the box */
    bool boxed; /* a primitive: ref is a holder object, the value at [0] */
} jsbox;

/* The JS value held by a box. */
static napi_value unbox(napi_env env, const jsbox *b)
{
    napi_value v = NULL;
    napi_get_reference_value(env, b->ref, &v);
    if (b->boxed && v)
        napi_get_element(env, v, 0, &v);
    return v;
}

static void js_drop(void *p)
{
    jsbox *b = p;
    if (--b->refs > 0)
        return;
    napi_delete_reference(g_env, b->ref);
    free(b);
    g_live_values--;
}

static dfr_value js_clone(const dfr_value *v);

static const dfr_type js_type = {sizeof(dfr_type), "js", js_drop, js_clone};

static dfr_value js_clone(const dfr_value *v)
{
    jsbox *b = v->u.ptr;
    b->refs++;
    return dfr_obj(&js_type, b);
}

static dfr_value box_js(napi_env env, napi_value v)
{
    jsbox *b = malloc(sizeof *b);
    if (!b)
        return dfr_value_failure(dfr_failure_new(DFR_DOMAIN, DFR_ENOMEM, "out of memory"));
    /* Node-API (<= 9) references only objects, functions and symbols. */
    napi_valuetype t = type_of(env, v);
    b->boxed = t != napi_object && t != napi_function && t != napi_symbol && t != napi_external;
    napi_value target = v;
    if (b->boxed && (napi_create_array_with_length(env, 1, &target) != napi_ok ||
                     napi_set_element(env, target, 0, v) != napi_ok)) {
        free(b);
        return dfr_value_failure(dfr_failure_new(DFR_DOMAIN, DFR_EINVAL, "cannot hold value"));
    }
    if (napi_create_reference(env, target, 1, &b->ref) != napi_ok) {
        free(b);
        return dfr_value_failure(dfr_failure_new(DFR_DOMAIN, DFR_EINVAL, "cannot hold value"));
    }
    b->refs = 1;
    g_live_values++;
    return dfr_obj(&js_type, b);
}

/* A JS value as the result a chain carries: undefined is none, a safe
 * integer is i64 and another number f64 (so C code can read them), anything
 * else is held by reference and comes back as the very same value.  (A
 * returned Deferred or thenable is recognised by the JS dispatcher.) */
static dfr_value num_to_dfr(double x)
{
    /* a cast, not trunc(): no libm call on the commonest path */
    if (x >= -9007199254740991.0 && x <= 9007199254740991.0 && (double)(int64_t)x == x &&
        !(x == 0 && signbit(x)))
        return dfr_i64((int64_t)x);
    return dfr_f64(x);
}

/* A dfr_value JS reads as a plain number (see num_to_dfr): into g_num[0]. */
static bool put_num(const dfr_value *v)
{
    if (dfr_is_f64(*v))
        g_num[0] = v->u.f64;
    else if (dfr_is_i64(*v) && v->u.i64 >= -9007199254740991LL && v->u.i64 <= 9007199254740991LL)
        g_num[0] = (double)v->u.i64;
    else
        return false;
    return true;
}

static dfr_value js_to_dfr(napi_env env, napi_value v)
{
    double x = 0;
    /* Numbers first: one call instead of two for the commonest value. */
    napi_valuetype t = napi_get_value_double(env, v, &x) == napi_ok ? napi_number : type_of(env, v);
    if (t == napi_undefined)
        return dfr_none();
    if (t == napi_number)
        return num_to_dfr(x);
    return box_js(env, v);
}

/* ---- failures ---- */

static const char *code_name_rc(int rc)
{
    switch (rc) {
    case DFR_EINVAL: return "EINVAL";
    case DFR_ENOMEM: return "ENOMEM";
    case DFR_EALREADY: return "EALREADY";
    case DFR_ECANCELLED: return "ECANCELED";
    case DFR_ETIMEDOUT: return "ETIMEDOUT";
    case DFR_EFIRST: return "EFIRST";
    case DFR_ENOTRUNNING: return "ENOTRUNNING";
    case DFR_EALREADY_CANCELLED: return "EALREADY_CANCELLED";
    case DFR_EALREADY_RAN: return "EALREADY_CALLED";
    case DFR_EDEADLK: return "EDEADLK";
    case DFR_EOVERFLOW: return "EOVERFLOW";
    case DFR_EUNDERFLOW: return "EUNDERFLOW";
    case DFR_ENOTOWNER: return "ENOTOWNER";
    case DFR_ECONNREFUSED: return "ECONNREFUSED";
    case DFR_EUNREACHABLE: return "EUNREACHABLE";
    case DFR_ENOTFOUND: return "ENOTFOUND";
    case DFR_ECONNRESET: return "ECONNRESET";
    case DFR_ECONNDONE: return "ECONNDONE";
    case DFR_ECONNLOST: return "ECONNLOST";
    case DFR_EFRAME: return "EFRAME";
    case DFR_EADDRINUSE: return "EADDRINUSE";
    case DFR_EALREADY_RUNNING: return "EALREADY_RUNNING";
    case DFR_ENOTRESTARTABLE: return "ENOTRESTARTABLE";
    case DFR_EALREADY_STARTED: return "EALREADY_STARTED";
    case DFR_EINUSE: return "EINUSE";
    default: return NULL;
    }
}

static const char *code_name(const dfr_failure *f)
{
    if (strcmp(dfr_failure_domain(f), DFR_DOMAIN) != 0)
        return NULL;
    return code_name_rc(dfr_failure_code(f));
}

static void failure_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    holder *h = data;
    dfr_failure_unref(h->p);
    free(h);
}

static napi_value dfr_to_js(napi_env env, dfr_value v);

/* One failure as a JS Error (see failure_to_js), with `cause` made. */
static napi_value one_failure_to_js(napi_env env, const dfr_failure *f, napi_value cause)
{
    const dfr_value *payload = dfr_failure_payload(f);
    if (payload && payload->type == &js_type)
        return unbox(env, payload->u.ptr);
    napi_value args[5], err;
    napi_create_string_utf8(env, dfr_failure_message(f), NAPI_AUTO_LENGTH, &args[0]);
    napi_create_string_utf8(env, dfr_failure_domain(f), NAPI_AUTO_LENGTH, &args[1]);
    const char *name = code_name(f);
    if (name)
        napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &args[2]);
    else
        napi_create_int32(env, dfr_failure_code(f), &args[2]);
    napi_create_int32(env, dfr_failure_code(f), &args[3]);
    args[4] = cause;
    if (napi_new_instance(env, ref_value(env, g_error_ctor), 5, args, &err) != napi_ok)
        return NULL;
    if (dfr_failure_code(f) == DFR_EFIRST) {
        napi_value idx;
        napi_create_int64(env, dfr_failure_index(f), &idx);
        napi_set_named_property(env, err, "index", idx);
    }
    /* The error keeps the failure, so errback(err) passes the same one on. */
    holder *h = holder_new(KIND_FAILURE, dfr_failure_ref((dfr_failure *)f));
    if (!h || napi_wrap(env, err, h, failure_finalize, NULL, NULL) != napi_ok) {
        if (h)
            dfr_failure_unref(h->p);
        free(h);
    }
    return err;
}

/* A C failure as a JS Error: the JS value it was made from (identity), or a
 * DeferredError carrying domain, code, errno, message and cause.  The causes
 * are made innermost first, in a loop: nested gatherResults make a cause
 * chain as deep as the nesting (100,000 would overflow a recursion). */
static napi_value failure_to_js(napi_env env, const dfr_failure *f)
{
    size_t n = 0, cap = 8;
    const dfr_failure **fs = malloc(cap * sizeof *fs);
    if (!fs)
        return one_failure_to_js(env, f, undefined(env));
    for (const dfr_failure *c = f; c; c = dfr_failure_cause(c)) {
        if (n == cap) {
            const dfr_failure **m = realloc(fs, 2 * cap * sizeof *fs);
            if (!m)
                break; /* out of memory: the deepest causes are left out */
            fs = m;
            cap *= 2;
        }
        fs[n++] = c;
        const dfr_value *payload = dfr_failure_payload(c);
        if (payload && payload->type == &js_type)
            break; /* the JS value itself: its own cause is its own */
    }
    napi_value err = undefined(env);
    while (n-- > 0)
        err = one_failure_to_js(env, fs[n], err ? err : undefined(env));
    free(fs);
    return err;
}

/* Errors whose stack could not be formatted when C took them (thrown at a
 * stack overflow: formatting needs stack too): each box is held (a refs)
 * until retry_stacks formats it, once the stack has unwound.  Without
 * that the cycle js_to_failure describes is never broken. */
static jsbox **g_unformatted;
static size_t g_nunformatted, g_unformatted_cap;

static void defer_stack(const dfr_value *payload)
{
    if (!payload || payload->type != &js_type)
        return;
    if (g_nunformatted == g_unformatted_cap) {
        size_t cap = g_unformatted_cap ? g_unformatted_cap * 2 : 16;
        jsbox **n = realloc(g_unformatted, cap * sizeof *n);
        if (!n)
            return; /* as before: that error keeps its frames */
        g_unformatted = n;
        g_unformatted_cap = cap;
    }
    jsbox *b = payload->u.ptr;
    b->refs++;
    g_unformatted[g_nunformatted++] = b;
}

/* Formats the stacks defer_stack kept (one more try each), at the end of
 * an outermost call into C, where the JS stack is short again. */
static void retry_stacks(napi_env env)
{
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) != napi_ok || pending)
        return; /* the call is throwing: next time */
    /* Taken first: formatting may run JS (Error.prepareStackTrace) that
     * throws into a chain again. */
    jsbox **list = g_unformatted;
    size_t n = g_nunformatted;
    g_unformatted = NULL;
    g_nunformatted = g_unformatted_cap = 0;
    for (size_t i = 0; i < n; i++) {
        napi_value v = unbox(env, list[i]), stack, exc;
        if (v && napi_get_named_property(env, v, "stack", &stack) != napi_ok)
            napi_get_and_clear_last_exception(env, &exc);
        js_drop(list[i]);
    }
    free(list);
}

static dfr_failure *js_to_failure(napi_env env, napi_value err)
{
    holder *h = unwrap_kind(env, err, KIND_FAILURE);
    if (h)
        return dfr_failure_ref(h->p);
    char msg[512] = "";
    napi_value m = NULL;
    size_t len = 0;
    bool is_err = false;
    napi_is_error(env, err, &is_err);
    /* An Error keeps the receivers of the frames it was thrown from (often
     * a Deferred: d.callback) until its stack is formatted; held by C
     * through the failure, that cycle is never collected, so an unhandled
     * failure would go unreported (and leak).  Formatting drops them. */
    napi_value stack;
    bool unformatted = false;
    if (is_err && napi_get_named_property(env, err, "stack", &stack) != napi_ok) {
        napi_value exc;
        napi_get_and_clear_last_exception(env, &exc);
        unformatted = true;
    }
    if (is_err && napi_get_named_property(env, err, "message", &m) == napi_ok &&
        type_of(env, m) == napi_string)
        napi_get_value_string_utf8(env, m, msg, sizeof msg, &len);
    else if (napi_coerce_to_string(env, err, &m) == napi_ok)
        napi_get_value_string_utf8(env, m, msg, sizeof msg, &len);
    else {
        napi_value exc;
        napi_get_and_clear_last_exception(env, &exc);
    }
    dfr_failure *f = dfr_failure_new(JS_DOMAIN, 1, msg);
    if (f) {
        dfr_failure_set_payload(f, box_js(env, err));
        if (unformatted)
            defer_stack(dfr_failure_payload(f));
    }
    return f;
}

/* A list value (taken) as [[ok, value], ...], lists inside lists with a
 * stack of our own: a DeferredList of a DeferredList ... 100,000 deep would
 * overflow the C stack by recursion. */
typedef struct list_frame {
    dfr_value v; /* the list (dropped when done) */
    napi_value arr;
    size_t i;
} list_frame;

static napi_value list_to_js(napi_env env, dfr_value v)
{
    size_t cap = 16, top = 0;
    list_frame *st = malloc(cap * sizeof *st);
    napi_value root;
    napi_create_array_with_length(env, dfr_list_len(dfr_list_from(&v)), &root);
    if (!st) {
        dfr_value_drop(v);
        return root; /* out of memory: an empty array */
    }
    st[top++] = (list_frame){v, root, 0};
    while (top > 0) {
        list_frame *f = &st[top - 1];
        dfr_list *l = dfr_list_from(&f->v);
        if (f->i == dfr_list_len(l)) {
            dfr_value_drop(f->v);
            top--;
            continue;
        }
        size_t i = f->i++;
        napi_value pair, ok, item;
        napi_create_array_with_length(env, 2, &pair);
        napi_get_boolean(env, dfr_list_ok(l, i), &ok);
        napi_set_element(env, pair, 0, ok);
        napi_set_element(env, f->arr, (uint32_t)i, pair);
        /* A copy of the entry, not the entry taken out: the list value may be
         * shared (then() and later callbacks, a list inside another list, an
         * input's chain and its list) and each must see it all. */
        dfr_value e = dfr_value_clone(dfr_list_get(l, i));
        if (!dfr_is_list(e)) {
            napi_set_element(env, pair, 1, dfr_to_js(env, e));
            continue;
        }
        napi_create_array_with_length(env, dfr_list_len(dfr_list_from(&e)), &item);
        napi_set_element(env, pair, 1, item);
        if (top == cap) {
            list_frame *n = realloc(st, 2 * cap * sizeof *st);
            if (!n) {
                dfr_value_drop(e); /* out of memory: that list stays empty */
                continue;
            }
            st = n;
            cap *= 2;
        }
        st[top++] = (list_frame){e, item, 0};
    }
    free(st);
    return root;
}

/* A dfr_value (taken) as a JS value. */
static napi_value dfr_to_js(napi_env env, dfr_value v)
{
    napi_value out = NULL;
    if (v.type == &js_type) {
        out = unbox(env, v.u.ptr);
    } else if (dfr_is_none(v)) {
        out = undefined(env);
    } else if (dfr_is_i64(v)) {
        if (v.u.i64 >= INT32_MIN && v.u.i64 <= INT32_MAX)
            napi_create_int32(env, (int32_t)v.u.i64, &out); /* a small integer: cheapest */
        else if (v.u.i64 >= -9007199254740991LL && v.u.i64 <= 9007199254740991LL)
            napi_create_int64(env, v.u.i64, &out);
        else
            napi_create_bigint_int64(env, v.u.i64, &out);
    } else if (dfr_is_f64(v)) {
        napi_create_double(env, v.u.f64, &out);
    } else if (dfr_is_failure(v)) {
        out = failure_to_js(env, dfr_failure_from(&v));
    } else if (dfr_is_bytes(v)) {
        void *data;
        napi_create_buffer_copy(env, dfr_bytes_len(&v), dfr_bytes_data(&v), &data, &out);
    } else if (dfr_is_list(v)) {
        return list_to_js(env, v);
    } else if (v.type == &dfr_type_ptr) {
        out = undefined(env);
    } else {
        out = undefined(env);
    }
    dfr_value_drop(v);
    return out;
}

/* ---- entering JS from C ---- */

typedef struct {
    napi_handle_scope hs; /* NULL: none opened */
    napi_value dispatch_fn; /* g_dispatch_fn of the outer scope */
    napi_callback_scope cs;
    bool outer;
} js_scope;

/* Callbacks run inside the current outermost native call without a handle
 * scope of their own (see enter_js). */
static unsigned g_unscoped;

/* From libuv (no JS on the stack) open a callback scope on Node's loop, so
 * the microtask queue and nextTicks drain when it closes. */
static void enter_js(js_scope *s)
{
    /* Inside a native call from JS, the call's own handle scope holds the
     * few handles a callback makes (opening one costs an allocation, and
     * the dispatcher's handle again); past a bound (a long chain) each
     * callback gets its own again.  16384 callbacks leave at most a few
     * hundred KB of handles (a number argument or result makes none). */
    s->hs = NULL;
    if (g_depth == 0 || ++g_unscoped > 16384) {
        napi_open_handle_scope(g_env, &s->hs);
        s->dispatch_fn = g_dispatch_fn;
        g_dispatch_fn = NULL;
    }
    s->outer = g_depth == 0;
    if (s->outer)
        napi_open_callback_scope(g_env, ref_value(g_env, g_async_resource), g_async, &s->cs);
    g_depth++;
}

static void leave_js(js_scope *s)
{
    /* g_depth stays up while the scope closes: the microtasks that run then
     * run with the C chain that called us still on the stack. */
    if (s->outer) {
        if (g_nunformatted > 0)
            retry_stacks(g_env);
        napi_close_callback_scope(g_env, s->cs);
        /* An exception nobody caught at the top (from a microtask) is fatal,
         * as for any Node callback. */
        bool pending = false;
        napi_is_exception_pending(g_env, &pending);
        if (pending) {
            napi_value exc;
            napi_get_and_clear_last_exception(g_env, &exc);
            napi_fatal_exception(g_env, exc);
        }
    }
    g_depth--;
    if (s->hs) {
        napi_close_handle_scope(g_env, s->hs);
        g_dispatch_fn = s->dispatch_fn;
    }
}

/* ---- handles: JS objects name C objects by an integer ----
 * A JS Deferred (or DelayedCall) holds a small integer naming a slot of this
 * slab, not a napi_wrap.  A handle is (generation << 24) | index, so a stale
 * or forged one is an error, never another object.  The C reference a slot
 * holds is dropped exactly once: by the finalizer of the JS object
 * (slot_finalize), or earlier by a detach (see settle()).
 *
 * Finalizers are the main per-object cost of Node-API, so a Deferred made
 * by JS (new Deferred, succeed, fail, and a resumed one) gets its finalizer
 * only if it still holds a C deferred at the end of the current JS job
 * (index.js attaches them in batches, n_attach): most never need one. */

enum { SLOT_FREE, SLOT_DEFERRED, SLOT_DC, SLOT_DETACHED, SLOT_DC_DEAD };

/* The mailbox shared with index.js (g_mbox). */
enum {
    MB_RET,     /* what dispatch returned: RET_* */
    MB_HANDLE,  /* RET_DEFERRED: the returned Deferred's handle */
    MB_FREED,   /* how many k's wait in g_freed */
    MB_OBSERVE, /* n_observe: 0 queued, 1 ran with a success, 2 with a failure */
    MB_DETACHED, /* settle() detached the deferred: the value returned is its result */
    MB_NEW,      /* slot_or_new() or n_callback made a Deferred: its handle */
    MB_K,        /* dispatch's k << 3 | mode (in memory: cheaper than an argument) */
    MB_A0,       /* the hot entry points' integer arguments, written by JS just */
    MB_A1,       /* before the call (n_callback, n_add_callbacks): no Node-API */
    MB_A2,       /* call to read them */
    MB_ARG,      /* dispatch: 1 when its argument is g_num[0] (not passed) */
    MB_SIZE = 16
};

static napi_value throw_code(napi_env env, int rc);

/* A refusal of the library (rc, its code name) thrown as a DeferredError
 * (domain "dfr", code, errno), as failures reach JS: one class to catch. */
static napi_value throw_dfr(napi_env env, const char *code, int rc, const char *msg)
{
    napi_value args[5], err;
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &args[0]);
    napi_create_string_utf8(env, DFR_DOMAIN, NAPI_AUTO_LENGTH, &args[1]);
    napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &args[2]);
    napi_create_int32(env, rc, &args[3]);
    napi_get_undefined(env, &args[4]);
    bool pending = false;
    if (napi_new_instance(env, ref_value(env, g_error_ctor), 5, args, &err) == napi_ok)
        napi_throw(env, err);
    else if (napi_is_exception_pending(env, &pending) == napi_ok && !pending)
        napi_throw_error(env, code, msg);
    return NULL;
}


typedef struct slot {
    void *p;                     /* dfr_deferred * or dfr_delayed_call * */
    const dfr_failure *observed; /* last failure handed to a `then` */
    uint32_t next_free;
    uint16_t refs; /* the JS object + each pending `then` link */
    uint8_t gen;
    uint8_t kind;
    bool js;  /* the JS object still holds it */
    bool own; /* only the JS object refers to the C deferred (not C code) */
    bool fin; /* a finalizer is attached: the slot stays until it runs */
    uint8_t dc_end; /* SLOT_DC: 0 pending, 1 it ran, 2 JS cancelled it */
} slot;

#define SLOT_BITS 24
#define SLOT_MAX (1u << SLOT_BITS)
static slot *g_slots;
static uint32_t g_nslots, g_slots_cap, g_free_slot = UINT32_MAX;

/* A new slot for p (kind), held by a JS object; its handle, or -1. */
static int32_t slot_new(uint8_t kind, void *p)
{
    uint32_t i;
    if (g_free_slot != UINT32_MAX) {
        i = g_free_slot;
        g_free_slot = g_slots[i].next_free;
    } else {
        if (g_nslots == g_slots_cap) {
            uint32_t cap = g_slots_cap ? g_slots_cap * 2 : 1024;
            slot *n = cap <= SLOT_MAX ? realloc(g_slots, cap * sizeof *n) : NULL;
            if (!n)
                return -1;
            g_slots = n;
            g_slots_cap = cap;
        }
        i = g_nslots++;
        g_slots[i].gen = 0;
    }
    slot *s = &g_slots[i];
    s->gen = (uint8_t)(s->gen % 127 + 1); /* 1..127: a handle is never 0 */
    s->p = p;
    s->observed = NULL;
    s->refs = 1;
    s->kind = kind;
    s->js = true;
    s->own = false;
    s->fin = false;
    s->dc_end = 0;
    return (int32_t)(((uint32_t)s->gen << SLOT_BITS) | i);
}

static void slot_unref(uint32_t i)
{
    if (--g_slots[i].refs > 0)
        return;
    g_slots[i].kind = SLOT_FREE;
    g_slots[i].p = NULL;
    g_slots[i].next_free = g_free_slot;
    g_free_slot = i;
}

/* The live slot handle v names, or NULL. */
static slot *slot_of(int32_t v, uint8_t kind)
{
    if (v <= 0)
        return NULL;
    uint32_t i = (uint32_t)v & (SLOT_MAX - 1);
    if (i >= g_nslots)
        return NULL;
    slot *s = &g_slots[i];
    if (s->kind != kind || !s->js || s->gen != (uint32_t)v >> SLOT_BITS)
        return NULL;
    return s;
}

/* The live slot a JS handle names, or NULL. */
static slot *slot_at(napi_env env, napi_value h, uint8_t kind)
{
    int32_t v = 0;
    if (napi_get_value_int32(env, h, &v) != napi_ok)
        return NULL;
    return slot_of(v, kind);
}

static dfr_value swallow(dfr_value r, void *data)
{
    (void)data;
    dfr_value_drop(r);
    return dfr_none();
}

/* The JS Deferred was collected (or detached): drop its C reference
 * (exactly once). */
static void slot_release(slot *s)
{
    dfr_deferred *d = s->p;
    s->js = false;
    /* A failure `then` delivered (to await / a Promise) was handled there:
     * the chain's own result stays, but it is not reported again. */
    if (s->observed && dfr_deferred_state(d) == DFR_FAILED) {
        const dfr_value *res = dfr_deferred_result(d);
        if (res && dfr_failure_from(res) == s->observed)
            dfr_deferred_add_errback(d, swallow, NULL, NULL);
    }
    s->p = NULL;
    slot_unref((uint32_t)(s - g_slots));
    dfr_deferred_unref(d);
}

/* The JS object of handle h was collected (a Node-API finalizer: a weak
 * handle V8 clears in young-generation GCs, so short-lived Deferreds die
 * young, which a FinalizationRegistry does not allow). */
static void slot_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    uint32_t h = (uint32_t)(uintptr_t)data, i = h & (SLOT_MAX - 1);
    if (i >= g_nslots || g_slots[i].gen != h >> SLOT_BITS)
        return;
    slot *s = &g_slots[i];
    if (s->kind == SLOT_DETACHED) /* the reference went at the detach */
        slot_unref(i);
    else if (s->js && s->kind == SLOT_DEFERRED)
        slot_release(s);
}

/* Ties handle h to obj's lifetime; on failure releases the slot. */
static bool slot_attach(napi_env env, napi_value obj, int32_t h)
{
    if (napi_add_finalizer(env, obj, (void *)(uintptr_t)h, slot_finalize, NULL, NULL) == napi_ok) {
        g_slots[(uint32_t)h & (SLOT_MAX - 1)].fin = true;
        return true;
    }
    slot_release(&g_slots[(uint32_t)h & (SLOT_MAX - 1)]);
    return false;
}

/* attach(objects, handles): finalizers for the Deferreds JS made in this job
 * that still hold a C deferred. */
static napi_value n_attach(napi_env env, napi_callback_info info)
{
    ARGS(2);
    uint32_t n = 0, m = 0;
    if (napi_get_array_length(env, argv[0], &n) != napi_ok ||
        napi_get_array_length(env, argv[1], &m) != napi_ok || n != m)
        return throw_type(env, "attach(objects, handles)");
    for (uint32_t i = 0; i < n; i++) {
        napi_value obj, h;
        napi_get_element(env, argv[0], i, &obj);
        napi_get_element(env, argv[1], i, &h);
        slot *s = slot_at(env, h, SLOT_DEFERRED);
        if (!s || s->fin || type_of(env, obj) != napi_object)
            continue;
        int32_t hv = 0;
        napi_get_value_int32(env, h, &hv);
        if (!slot_attach(env, obj, hv))
            return throw_code(env, DFR_ENOMEM);
    }
    return undefined(env);
}

static dfr_value tramp_cb(dfr_value result, void *data);
static dfr_value tramp_eb(dfr_value result, void *data);
static void *fn_hold(uint32_t k);
static void fn_destroy(void *p);
static void give_back(uint32_t k);

/* Adds the callbacks a JS Deferred queued before it had a C deferred: n,
 * the number of (k, which) pairs JS wrote to the shared
 * g_queue (FN slots; which: 1 callback, 2 errback, 3 both), in order.
 * Shared memory, as a JS array costs a Node-API call per element.  On
 * failure the k's C did not take go back; with d NULL (no deferred could be
 * made) all of them do. */
static int add_queued(dfr_deferred *d, uint32_t n)
{
    if (n > QUEUE_MAX)
        return DFR_EINVAL; /* JS never writes more: nothing to give back */
    int rc = d ? 0 : DFR_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k = (uint32_t)g_queue[2 * i], which = (uint32_t)g_queue[2 * i + 1];
        if (k >= 1u << 29)
            continue; /* not a slot: nothing to give back */
        if (rc == 0 && (which < 1 || which > 3))
            rc = DFR_EINVAL;
        if (rc != 0) {
            give_back(k);
            continue;
        }
        rc = dfr_deferred_add_callbacks(d, which & 1 ? tramp_cb : NULL, which & 2 ? tramp_eb : NULL,
                                        fn_hold(k), fn_destroy);
    }
    return rc;
}

/* The slot handle h names; for h = 0, a new Deferred (a JS Deferred
 * that had not needed one yet) with the callbacks it queued (q, see
 * add_queued), its handle in MB_NEW.  NULL has thrown. */
static slot *slot_or_new(napi_env env, int32_t v, uint32_t q)
{
    if (v != 0) {
        slot *s = slot_of(v, SLOT_DEFERRED);
        if (!s)
            throw_type(env, "expected a Deferred");
        return s;
    }
    dfr_deferred *d = dfr_deferred_new();
    int32_t nh = d ? slot_new(SLOT_DEFERRED, d) : -1;
    if (nh < 0) {
        dfr_deferred_unref(d);
        add_queued(NULL, q);
        throw_code(env, DFR_ENOMEM);
        return NULL;
    }
    slot *s = &g_slots[(uint32_t)nh & (SLOT_MAX - 1)];
    s->own = true;
    int rc = add_queued(d, q);
    if (rc) {
        slot_release(s);
        throw_code(env, rc);
        return NULL;
    }
    g_mbox[MB_NEW] = nh;
    return s;
}

/* Marks a deferred C code now refers to: never detached again. */
static dfr_deferred *escape(slot *s)
{
    s->own = false;
    return s->p;
}

static bool round_trips(const dfr_value *v)
{
    return v->type == &js_type || dfr_is_none(*v) || dfr_is_f64(*v) ||
           (dfr_is_i64(*v) && v->u.i64 >= -9007199254740991LL && v->u.i64 <= 9007199254740991LL);
}

/* The end of an operation on slot i from JS: when JS made the deferred and
 * only JS refers to it, no chain is running (the outermost native call),
 * and it now has a success result with nothing left to run (fired, not
 * paused, not waiting), the JS object can keep the result itself: the C
 * deferred is released (detached) and its result returned, with
 * MB_DETACHED set (2: a number, in g_num[0]).  The JS object makes a new C deferred with that result
 * (dfr_succeed: the very same state) if it is used again.  Otherwise
 * returns undefined. */
/* d's result if it can be detached, else NULL. */
static const dfr_value *detachable(const dfr_deferred *d)
{
    if (g_depth != 1)
        return NULL;
    const dfr_value *r = dfr_deferred_result(d);
    return r && !dfr_is_failure(*r) && round_trips(r) && dfr_deferred_paused(d) == 0 ? r : NULL;
}

/* A detachable deferred's result r for the JS object: MB_DETACHED, and the
 * value unless it is a number (in g_num[0], MB_DETACHED 2: nothing to
 * make).  The caller drops its reference to the deferred. */
static napi_value detached_result(napi_env env, const dfr_value *r)
{
    bool num = put_num(r);
    g_mbox[MB_DETACHED] = num ? 2 : 1;
    return num ? NULL : dfr_to_js(env, dfr_value_clone(r));
}

static napi_value settle(napi_env env, uint32_t i)
{
    slot *s = &g_slots[i];
    const dfr_value *r;
    if (s->kind != SLOT_DEFERRED || !s->own || !s->js || !(r = detachable(s->p)))
        return undefined(env);
    dfr_deferred *d = s->p;
    napi_value out = detached_result(env, r);
    s->js = false;
    s->p = NULL;
    if (s->fin)
        s->kind = SLOT_DETACHED;
    else
        slot_unref(i);
    dfr_deferred_unref(d);
    return out;
}

/* A new JS Deferred around d (taking the reference), made by the JS
 * factory from its handle, with its finalizer; NULL d throws. */
static napi_value wrap_new(napi_env env, dfr_deferred *d)
{
    int32_t h = d ? slot_new(SLOT_DEFERRED, d) : -1;
    if (h < 0) {
        dfr_deferred_unref(d);
        return throw_dfr(env, "ENOMEM", DFR_ENOMEM, "libdeferred: out of memory or invalid input");
    }
    napi_value arg, obj;
    napi_create_int32(env, h, &arg);
    if (napi_call_function(env, undefined(env), ref_value(env, g_make_deferred), 1, &arg, &obj) !=
        napi_ok) {
        slot_release(&g_slots[(uint32_t)h & (SLOT_MAX - 1)]);
        return NULL;
    }
    if (!slot_attach(env, obj, h)) {
        return throw_dfr(env, "ENOMEM", DFR_ENOMEM, "cannot attach a finalizer");
    }
    return obj;
}

#define GET_D(v)                                                                      \
    slot *s_ = slot_at(env, (v), SLOT_DEFERRED);                                      \
    if (!s_)                                                                          \
        return throw_type(env, "expected a Deferred");                                \
    dfr_deferred *d = s_->p

static napi_value throw_code(napi_env env, int rc)
{
    if (rc == DFR_EALREADY)
        return throw_dfr(env, "EALREADY", rc, "AlreadyCalledError: the Deferred has already been called");
    const char *name = code_name_rc(rc);
    char code[32];
    if (name)
        snprintf(code, sizeof code, "%s", name);
    else
        snprintf(code, sizeof code, "E%d", -rc);
    return throw_dfr(env, code, rc, dfr_strerror(rc));
}

/* ---- JS functions C holds: slots of a JS-side table ----
 * JS keeps every function C may call in a table (index.js, FN), and C holds
 * only its index k: no napi_ref per callback.  C calls them all through one
 * JS dispatcher, dispatch(value) (k and the mode in the mailbox), which also catches exceptions and
 * recognises returned Deferreds and thenables, telling C through the shared
 * mailbox (g_mbox, an Int32Array both sides see).  When C drops a k (its
 * destroy hook), k goes to g_freed; JS takes them back in batches
 * (n_drain) and reuses them. */

enum { RET_VALUE, RET_THREW, RET_DEFERRED, RET_PASS, RET_NUM, RET_UNDEFINED };
enum { MODE_CB, MODE_EB, MODE_OBS_OK, MODE_OBS_FAIL, MODE_TASK, MODE_TIMER };
#define FREED_OUT 4096

static uint32_t *g_freed;
static size_t g_nfreed, g_freed_cap;
/* Slots of DelayedCalls their reactor dropped (see "DelayedCall"). */
static uint32_t *g_dead_dc;
static size_t g_ndead_dc, g_dead_dc_cap;

/* k goes back to JS (with the next drain). */
static void give_back(uint32_t k)
{
    if (g_nfreed == g_freed_cap) {
        size_t cap = g_freed_cap ? g_freed_cap * 2 : 1024;
        uint32_t *n = realloc(g_freed, cap * sizeof *n);
        if (!n)
            return; /* k is never reused: a table slot lost, nothing unsafe */
        g_freed = n;
        g_freed_cap = cap;
    }
    g_freed[g_nfreed++] = k;
    if (g_mbox)
        g_mbox[MB_FREED] = (int32_t)g_nfreed;
}

/* The k of the callback that just ran, if the dispatcher took it back
 * itself (see run_cb): its destroy hook, which the C library runs right
 * after, then has nothing to hand back. */
static uint32_t g_ran_k = UINT32_MAX;

static void fn_destroy(void *p)
{
    uint32_t k = (uint32_t)(uintptr_t)p;
    g_live_callbacks--;
    if (k == g_ran_k) {
        g_ran_k = UINT32_MAX;
        return;
    }
    give_back(k);
}

/* A throw from an entry point that was handed k before C took it. */
static napi_value give_back_throw(uint32_t k, napi_value thrown)
{
    give_back(k);
    return thrown;
}

static void *fn_hold(uint32_t k)
{
    g_live_callbacks++;
    return (void *)(uintptr_t)k;
}

/* drain() -> count: moves up to FREED_OUT freed k's into the shared buffer. */
static napi_value n_drain(napi_env env, napi_callback_info info)
{
    (void)info;
    size_t n = g_nfreed < FREED_OUT ? g_nfreed : FREED_OUT;
    for (size_t i = 0; i < n; i++)
        g_freed_out[i] = (int32_t)g_freed[--g_nfreed];
    g_mbox[MB_FREED] = (int32_t)g_nfreed;
    /* JS marks the DelayedCalls of these k's before anything else runs. */
    if (g_nfreed == 0) {
        while (g_ndead_dc > 0)
            slot_unref(g_dead_dc[--g_ndead_dc]);
    }
    napi_value out;
    napi_create_uint32(env, (uint32_t)n, &out);
    return out;
}

static bool get_k(napi_env env, napi_value v, uint32_t *k)
{
    if (napi_get_value_uint32(env, v, k) != napi_ok || *k >= 1u << 29) {
        napi_throw_type_error(env, "EINVAL", "expected a function slot");
        return false;
    }
    return true;
}

/* Whether the dispatcher took back the k of the last callback or errback
 * dispatch() ran (it wrote -1 over MB_K): see run_cb. */
static bool g_recycled;

/* Calls dispatch(arg) with k << 3 | mode in MB_K (arg NULL: undefined, or
 * with num the number in g_num[0]); *ret is what it returned, the mailbox says
 * what that is (RET_NUM: the number in g_num[0]).  A throw from dispatch itself (it catches the callback's)
 * is RET_THREW too.  MB_K is restored afterwards: a callback may make
 * nested calls (a Clock's timer, a task, a `then`) that write their own k
 * there, and the outer call must still see its own -1 (g_recycled). */
static int dispatch(uint32_t k, napi_value arg, bool num, int mode, napi_value *ret)
{
    int32_t outer_k = g_mbox[MB_K];
    g_mbox[MB_K] = (int32_t)(k << 3 | (uint32_t)mode);
    g_mbox[MB_RET] = RET_VALUE;
    g_mbox[MB_ARG] = num;
    if (!g_dispatch_fn)
        g_dispatch_fn = ref_value(g_env, g_dispatch);
    /* No argument is undefined (or g_num[0], MB_ARG), and the receiver
     * does not matter: the global object, made by no call. */
    napi_status st = napi_call_function(g_env, g_dispatch_fn, g_dispatch_fn, arg ? 1 : 0, &arg, ret);
    g_recycled = g_mbox[MB_K] == -1;
    g_mbox[MB_K] = outer_k;
    if (st != napi_ok) {
        napi_get_and_clear_last_exception(g_env, ret);
        return RET_THREW;
    }
    int r = g_mbox[MB_RET];
    g_mbox[MB_RET] = RET_VALUE;
    return r;
}

/* What a callback, errback or task returned, as the chain's result; `in` is
 * the failure an errback was given (taken). */
static dfr_value dispatch_result(int r, napi_value ret, dfr_failure *in)
{
    dfr_value out;
    switch (r) {
    case RET_THREW: {
        dfr_failure *f = js_to_failure(g_env, ret);
        out = f ? dfr_value_failure(f) : dfr_none();
        break;
    }
    case RET_DEFERRED: {
        napi_value h;
        napi_create_int32(g_env, g_mbox[MB_HANDLE], &h);
        slot *s = slot_at(g_env, h, SLOT_DEFERRED);
        dfr_deferred *d = s ? escape(s) : NULL;
        out = d ? dfr_value_deferred(dfr_deferred_ref(d))
                : dfr_value_failure(dfr_failure_new(DFR_DOMAIN, DFR_EINVAL, "bad Deferred"));
        break;
    }
    case RET_NUM:
        out = num_to_dfr(g_num[0]);
        break;
    case RET_UNDEFINED:
        out = dfr_none();
        break;
    case RET_PASS:
        if (in) {
            out = dfr_value_failure(in);
            in = NULL;
            break;
        }
        /* fall through */
    default:
        out = js_to_dfr(g_env, ret);
    }
    dfr_failure_unref(in);
    return out;
}

/* Runs JS callback k on the chain's result.  Returning the very error an
 * errback was given passes the failure on (as `return failure` in
 * Twisted); any other return value is a success. */
static dfr_value run_cb(dfr_value result, uint32_t k, int mode)
{
    js_scope s;
    enter_js(&s);
    dfr_failure *in = dfr_is_failure(result) ? dfr_failure_ref(dfr_failure_from(&result)) : NULL;
    /* A number goes in g_num[0]: nothing to make. */
    bool num = put_num(&result);
    napi_value arg = num ? NULL : dfr_to_js(g_env, result), ret;
    int r = dispatch(k, arg, num, mode, &ret);
    /* The dispatcher writes -1 over MB_K once it has taken a callback's k
     * back for reuse (at once: the chain drops the entry right after this
     * returns, fn_destroy). */
    bool recycled = g_recycled;
    dfr_value out = dispatch_result(r, ret, in);
    leave_js(&s);
    if (recycled)
        g_ran_k = k;
    return out;
}

static dfr_value tramp_cb(dfr_value result, void *data)
{
    return run_cb(result, (uint32_t)(uintptr_t)data, MODE_CB);
}

static dfr_value tramp_eb(dfr_value result, void *data)
{
    return run_cb(result, (uint32_t)(uintptr_t)data, MODE_EB);
}

/* addCallbacks(), with mailbox arguments h, k, which (MB_A0..2): the JS
 * functions are FN slot k (callback, errback); which: 1 callback, 2
 * errback, 3 both; h 0 makes the C deferred. */
static napi_value n_add_callbacks(napi_env env, napi_callback_info info)
{
    (void)info;
    uint32_t k = (uint32_t)g_mbox[MB_A1], which = (uint32_t)g_mbox[MB_A2];
    if (k >= 1u << 29)
        return throw_type(env, "expected a function slot");
    slot *s_ = which >= 1 && which <= 3 ? slot_or_new(env, g_mbox[MB_A0], 0) : NULL;
    if (!s_)
        return give_back_throw(k, which >= 1 && which <= 3 ? NULL : throw_type(env, "callback and errback must be functions (or null)"));
    dfr_deferred *d = s_->p;
    uint32_t i = (uint32_t)(s_ - g_slots);
    int rc = dfr_deferred_add_callbacks(d, which & 1 ? tramp_cb : NULL, which & 2 ? tramp_eb : NULL,
                                        fn_hold(k), fn_destroy);
    if (rc)
        return throw_code(env, rc);
    return settle(env, i);
}

/* ---- then: observe a copy of the result ---- */

typedef struct observer {
    uint32_t k;    /* FN slot of resolve/reject (when queued) */
    uint32_t slot; /* the Deferred's slot (a reference), for `observed` */
    bool now;      /* ran inside n_observe: the copy goes back directly */
} observer;

static bool g_observed_ran; /* an observer with `now` ran */
static dfr_value g_observed_now; /* ... and this is the copy n_observe hands back */

static void observer_destroy(void *p)
{
    observer *o = p;
    if (!o->now) { /* JS took k back itself when it ran at once */
        g_live_callbacks++;
        fn_destroy((void *)(uintptr_t)o->k);
    }
    slot_unref(o->slot);
    free(o);
}

static dfr_value observe(dfr_value result, observer *o, bool failed)
{
    if (failed)
        g_slots[o->slot].observed = dfr_failure_from(&result);
    if (o->now) {
        g_observed_ran = true;
        g_observed_now = dfr_value_clone(&result);
        return result;
    }
    js_scope s;
    enter_js(&s);
    napi_value arg = dfr_to_js(g_env, dfr_value_clone(&result)), ret;
    dispatch(o->k, arg, false, failed ? MODE_OBS_FAIL : MODE_OBS_OK, &ret);
    leave_js(&s);
    return result;
}

static dfr_value observe_cb(dfr_value r, void *data)
{
    return observe(r, data, false);
}

static dfr_value observe_eb(dfr_value r, void *data)
{
    return observe(r, data, true);
}

/* observe(h, k): when the chain reaches this point, a copy of its result
 * goes to FN slot k (resolve/reject) and the result itself goes on.  If the
 * Deferred has its result now (fired, not paused, not running: the observer
 * runs inside dfr_deferred_add_callbacks), the copy is returned at once
 * (mailbox MB_OBSERVE 1 success, 2 failure) and JS keeps k. */
static napi_value n_observe(napi_env env, napi_callback_info info)
{
    ARGS(2);
    uint32_t k;
    if (!get_k(env, argv[1], &k))
        return NULL;
    slot *s_ = slot_at(env, argv[0], SLOT_DEFERRED);
    if (!s_)
        return give_back_throw(k, throw_type(env, "expected a Deferred"));
    dfr_deferred *d = s_->p;
    observer *o = malloc(sizeof *o);
    if (!o)
        return give_back_throw(k, throw_code(env, DFR_ENOMEM));
    o->k = k;
    o->slot = (uint32_t)(s_ - g_slots);
    o->now = true;
    s_->refs++;
    g_observed_ran = false;
    int rc = dfr_deferred_add_callbacks(d, observe_cb, observe_eb, o, observer_destroy);
    if (rc) /* o was destroyed with `now` set: k is still ours */
        return give_back_throw(k, throw_code(env, rc));
    if (!g_observed_ran) { /* queued: o lives on, k is C's now */
        o->now = false;
        g_mbox[MB_OBSERVE] = 0;
        return undefined(env);
    }
    g_observed_ran = false;
    dfr_value v = g_observed_now;
    g_observed_now = dfr_none();
    g_mbox[MB_OBSERVE] = dfr_is_failure(v) ? 2 : 1;
    return dfr_to_js(env, v);
}

/* ---- construction, firing ---- */

typedef struct canceller_data {
    napi_ref fn; /* JS: calls the user's canceller with the Deferred (a WeakRef) */
} canceller_data;

static void canceller_destroy(void *p)
{
    canceller_data *c = p;
    napi_delete_reference(g_env, c->fn);
    free(c);
    g_live_callbacks--;
}

static void canceller_tramp(dfr_deferred *d, void *data)
{
    canceller_data *c = data;
    js_scope s;
    enter_js(&s);
    napi_value ret;
    if (napi_call_function(g_env, undefined(g_env), ref_value(g_env, c->fn), 0, NULL, &ret) !=
        napi_ok) {
        /* Twisted: a canceller that raises leaves the cancel to go on. */
        napi_value exc;
        napi_get_and_clear_last_exception(g_env, &exc);
        dfr_failure *f = js_to_failure(g_env, exc);
        if (f && dfr_deferred_state(d) == DFR_PENDING)
            dfr_deferred_errback(d, f);
        else
            dfr_failure_unref(f);
    }
    leave_js(&s);
}

/* init(canceller?, queued?) -> handle */
static napi_value n_init(napi_env env, napi_callback_info info)
{
    ARGS(2);
    dfr_deferred *d;
    uint32_t q = 0;
    if (type_of(env, argv[1]) == napi_number)
        napi_get_value_uint32(env, argv[1], &q);
    napi_valuetype t = type_of(env, argv[0]);
    if (t == napi_function) {
        canceller_data *c = calloc(1, sizeof *c);
        if (!c) {
            add_queued(NULL, q);
            return throw_code(env, DFR_ENOMEM);
        }
        napi_create_reference(env, argv[0], 1, &c->fn);
        g_live_callbacks++;
        d = dfr_deferred_new_cancellable(canceller_tramp, c, canceller_destroy);
    } else if (t == napi_undefined || t == napi_null) {
        d = dfr_deferred_new();
    } else {
        add_queued(NULL, q);
        return throw_type(env, "canceller must be a function");
    }
    int32_t h = d ? slot_new(SLOT_DEFERRED, d) : -1;
    if (h < 0) {
        dfr_deferred_unref(d);
        add_queued(NULL, q);
        return throw_code(env, DFR_ENOMEM);
    }
    slot *s = &g_slots[(uint32_t)h & (SLOT_MAX - 1)];
    s->own = true;
    int rc = add_queued(d, q);
    if (rc) {
        slot_release(s);
        return throw_code(env, rc);
    }
    napi_value out;
    napi_create_int32(env, h, &out);
    return out;
}

/* The new deferreds n_callback is firing, innermost first (on the C stack):
 * a slot (handle) is made for one only if JS uses it meanwhile (n_firing),
 * or at the end if it is not detached then. */
typedef struct firing {
    dfr_deferred *d;
    int32_t h; /* 0: none yet */
    struct firing *outer;
} firing;
static firing *g_firing;
static uint32_t g_nfiring;

/* The value n_callback fires with (MB_A2 1: a number, in g_num[0]: no
 * argument to read). */
static dfr_value callback_value(napi_env env, napi_callback_info info)
{
    if (g_mbox[MB_A2] == 1)
        return num_to_dfr(g_num[0]);
    size_t argc = 1;
    napi_value arg;
    if (napi_get_cb_info(env, info, &argc, &arg, NULL, NULL) != napi_ok)
        return dfr_value_failure(dfr_failure_new(DFR_DOMAIN, DFR_EINVAL, "cannot read the value"));
    if (argc < 1)
        return dfr_none();
    return js_to_dfr(env, arg);
}

/* callback(value), with mailbox arguments h, queued, number (MB_A0..2): JS
 * has refused a Deferred as the value.  h 0: a new JS Deferred (its #h is
 * -depth meanwhile): the C deferred is made now with the queued callbacks
 * (add_queued) and fired; its handle goes in MB_NEW unless it is detached. */
static napi_value n_callback(napi_env env, napi_callback_info info)
{
    int32_t hv = g_mbox[MB_A0];
    if (hv != 0) {
        slot *s_ = slot_of(hv, SLOT_DEFERRED);
        if (!s_)
            return throw_type(env, "expected a Deferred");
        uint32_t i = (uint32_t)(s_ - g_slots);
        int rc = dfr_deferred_callback(s_->p, callback_value(env, info));
        if (rc)
            return throw_code(env, rc);
        return settle(env, i);
    }
    uint32_t q = (uint32_t)g_mbox[MB_A1];
    dfr_deferred *d = dfr_deferred_new();
    int rc = add_queued(d, q);
    if (rc) {
        dfr_deferred_unref(d);
        return throw_code(env, rc);
    }
    firing f = {d, 0, g_firing};
    g_firing = &f;
    g_nfiring++;
    rc = dfr_deferred_callback(d, callback_value(env, info));
    g_firing = f.outer;
    g_nfiring--;
    const dfr_value *r;
    if (f.h == 0 && rc == 0 && (r = detachable(d))) {
        napi_value out = detached_result(env, r);
        dfr_deferred_unref(d);
        return out;
    }
    uint32_t i;
    if (f.h == 0) { /* JS keeps it: now it needs a handle */
        f.h = slot_new(SLOT_DEFERRED, d);
        if (f.h < 0) {
            dfr_deferred_unref(d);
            return throw_code(env, DFR_ENOMEM);
        }
        g_slots[(uint32_t)f.h & (SLOT_MAX - 1)].own = true;
    }
    i = (uint32_t)f.h & (SLOT_MAX - 1);
    g_mbox[MB_NEW] = f.h;
    if (rc) { /* not for a new deferred: JS drops it (#h 0), so the slot goes */
        slot_release(&g_slots[i]);
        return throw_code(env, rc);
    }
    return settle(env, i);
}

/* firing(depth) -> the handle of the new deferred n_callback is firing at
 * that depth (1 the outermost), made now: JS uses it during its run. */
static napi_value n_firing(napi_env env, napi_callback_info info)
{
    ARGS(1);
    uint32_t depth = 0;
    napi_get_value_uint32(env, argv[0], &depth);
    if (depth < 1 || depth > g_nfiring)
        return throw_type(env, "expected a Deferred being fired");
    firing *f = g_firing;
    for (uint32_t n = g_nfiring; n > depth; n--)
        f = f->outer;
    if (f->h == 0) {
        f->h = slot_new(SLOT_DEFERRED, f->d);
        if (f->h < 0) {
            f->h = 0;
            return throw_code(env, DFR_ENOMEM);
        }
        /* Only JS refers to it, as to any Deferred JS made. */
        /* The slot takes n_callback's reference (it stays till its end). */
        g_slots[(uint32_t)f->h & (SLOT_MAX - 1)].own = true;
    }
    napi_value out;
    napi_create_int32(env, f->h, &out);
    return out;
}

static napi_value n_errback(napi_env env, napi_callback_info info)
{
    ARGS(2);
    GET_D(argv[0]);
    dfr_failure *f = js_to_failure(env, argv[1]);
    if (!f)
        return throw_code(env, DFR_ENOMEM);
    int rc = dfr_deferred_errback(d, f);
    if (rc)
        return throw_code(env, rc);
    return undefined(env);
}

static napi_value n_cancel(napi_env env, napi_callback_info info)
{
    ARGS(1);
    GET_D(argv[0]);
    /* Never detached from now on: cancelled without a canceller, the C
     * deferred swallows one late callback/errback (Twisted's
     * _suppressAlreadyCalled), which a detached JS object would forget. */
    escape(s_);
    dfr_deferred_cancel(d);
    return undefined(env);
}

static napi_value n_pause(napi_env env, napi_callback_info info)
{
    ARGS(2);
    GET_D(argv[0]);
    bool un = false;
    napi_get_value_bool(env, argv[1], &un);
    uint32_t i = (uint32_t)(s_ - g_slots);
    int rc = un ? dfr_deferred_unpause(d) : dfr_deferred_pause(d);
    if (rc == DFR_EINVAL)
        return throw_type(env, "unpause without a matching pause");
    if (rc == DFR_EOVERFLOW) {
        napi_throw_range_error(env, "EOVERFLOW", "too many pause() calls without unpause() (at most 32767)");
        return NULL;
    }
    if (rc)
        return throw_code(env, rc);
    return settle(env, i);
}

static napi_value n_state(napi_env env, napi_callback_info info)
{
    ARGS(1);
    GET_D(argv[0]);
    napi_value out;
    napi_create_int32(env, dfr_deferred_state(d), &out);
    return out;
}

static napi_value n_paused(napi_env env, napi_callback_info info)
{
    ARGS(1);
    GET_D(argv[0]);
    napi_value out;
    napi_create_int32(env, dfr_deferred_paused(d), &out);
    return out;
}

/* chain(h, otherHandle) */
static napi_value n_chain(napi_env env, napi_callback_info info)
{
    ARGS(2);
    GET_D(argv[0]);
    slot *os = slot_at(env, argv[1], SLOT_DEFERRED);
    if (!os)
        return throw_type(env, "chainDeferred expects a Deferred");
    dfr_deferred *o = escape(os);
    escape(s_);
    int rc = dfr_deferred_chain(d, o);
    if (rc)
        return throw_code(env, rc);
    return undefined(env);
}

/* A handle for d (taken), made for JS and referred to by JS only. */
static napi_value own_handle(napi_env env, dfr_deferred *d, uint32_t *i)
{
    int32_t h = d ? slot_new(SLOT_DEFERRED, d) : -1;
    if (h < 0) {
        dfr_deferred_unref(d);
        return throw_code(env, DFR_ENOMEM);
    }
    *i = (uint32_t)h & (SLOT_MAX - 1);
    g_slots[*i].own = true;
    napi_value out;
    napi_create_int32(env, h, &out);
    return out;
}

/* succeed(value) -> its result (detached, MB_DETACHED) or a handle.  JS has
 * handled a Deferred value. */
static napi_value n_succeed(napi_env env, napi_callback_info info)
{
    ARGS(1);
    uint32_t i;
    napi_value h = own_handle(env, dfr_succeed(js_to_dfr(env, argv[0])), &i);
    if (!h)
        return NULL;
    napi_value r = settle(env, i);
    return g_mbox[MB_DETACHED] ? r : h;
}

/* resume(value) -> handle: a detached Deferred used again.  It is not
 * detached again (a Deferred used after firing tends to be used more). */
static napi_value n_resume(napi_env env, napi_callback_info info)
{
    ARGS(1);
    uint32_t i;
    napi_value h = own_handle(env, dfr_succeed(js_to_dfr(env, argv[0])), &i);
    if (h)
        g_slots[i].own = false;
    return h;
}

/* fail(error) -> handle */
static napi_value n_fail(napi_env env, napi_callback_info info)
{
    ARGS(1);
    uint32_t i;
    return own_handle(env, dfr_fail(js_to_failure(env, argv[0])), &i);
}

/* ---- DeferredList / gatherResults ---- */

static dfr_deferred **deferred_array(napi_env env, napi_value arr, uint32_t *n)
{
    bool is_array = false;
    napi_is_array(env, arr, &is_array);
    if (!is_array) {
        napi_throw_type_error(env, "EINVAL", "expected an array of Deferreds");
        return NULL;
    }
    napi_get_array_length(env, arr, n);
    dfr_deferred **ds = calloc(*n ? *n : 1, sizeof *ds);
    for (uint32_t i = 0; ds && i < *n; i++) {
        napi_value e;
        napi_get_element(env, arr, i, &e);
        slot *s = slot_at(env, e, SLOT_DEFERRED);
        ds[i] = s ? escape(s) : NULL;
        if (!ds[i]) {
            free(ds);
            napi_throw_type_error(env, "EINVAL", "every element must be a Deferred");
            return NULL;
        }
    }
    return ds;
}

static napi_value n_list(napi_env env, napi_callback_info info)
{
    ARGS(3);
    uint32_t n = 0, flags = 0;
    bool gather = false;
    napi_get_value_uint32(env, argv[1], &flags);
    napi_get_value_bool(env, argv[2], &gather);
    dfr_deferred **ds = deferred_array(env, argv[0], &n);
    if (!ds)
        return NULL;
    dfr_deferred *d = gather ? dfr_gather_results(ds, n, flags & DFR_CONSUME_ERRORS)
                             : dfr_deferred_list(ds, n, flags);
    free(ds);
    return wrap_new(env, d);
}

/* ---- reactor: the default one on Node's loop, or a manual Clock ---- */

typedef struct clockw {
    uint32_t kind;
    dfr_reactor *r;
} clockw;

static dfr_reactor *get_reactor(napi_env env, napi_value v)
{
    napi_valuetype t = type_of(env, v);
    if (t == napi_undefined || t == napi_null)
        return g_reactor;
    clockw *c = unwrap_kind(env, v, KIND_CLOCK);
    if (c)
        return c->r;
    napi_throw_type_error(env, "EINVAL", "expected a Clock");
    return NULL;
}

/* The library refuses spans over about 146 years (2^62 ns, see
 * dfr__seconds_to_ns) with a bare EINVAL: said here, as a RangeError. */
#define MAX_SECONDS 4.6e9

static bool get_seconds(napi_env env, napi_value v, double *out, const char *what)
{
    if (type_of(env, v) != napi_number || napi_get_value_double(env, v, out) != napi_ok ||
        !isfinite(*out) || *out < 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s must be a finite number of seconds >= 0", what);
        napi_throw_range_error(env, "EINVAL", msg);
        return false;
    }
    if (*out > MAX_SECONDS) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s must be at most 4.6e9 seconds (about 146 years)", what);
        napi_throw_range_error(env, "EINVAL", msg);
        return false;
    }
    return true;
}

static void clock_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    clockw *c = data;
    dfr_reactor_free(c->r);
    free(c);
}

static napi_value n_clock_init(napi_env env, napi_callback_info info)
{
    ARGS(1);
    uv_loop_t *loop;
    napi_get_uv_event_loop(env, &loop);
    dfr_reactor_options o = {.size = sizeof o, .manual_clock = true, .uv_loop = loop};
    clockw *c = malloc(sizeof *c);
    if (!c || !(c->r = dfr_reactor_new(&o))) {
        free(c);
        return throw_code(env, DFR_ENOMEM);
    }
    c->kind = KIND_CLOCK;
    if (napi_wrap(env, argv[0], c, clock_finalize, NULL, NULL) != napi_ok) {
        dfr_reactor_free(c->r);
        free(c);
        return NULL;
    }
    return undefined(env);
}

static napi_value n_clock_advance(napi_env env, napi_callback_info info)
{
    ARGS(2);
    dfr_reactor *r = get_reactor(env, argv[0]);
    double s;
    if (!r || !get_seconds(env, argv[1], &s, "amount"))
        return NULL;
    int rc = dfr_reactor_advance(r, s);
    if (rc)
        return throw_code(env, rc);
    return undefined(env);
}

static napi_value n_seconds(napi_env env, napi_callback_info info)
{
    ARGS(1);
    dfr_reactor *r = get_reactor(env, argv[0]);
    if (!r)
        return NULL;
    napi_value out;
    napi_create_double(env, dfr_reactor_seconds(r), &out);
    return out;
}

static napi_value n_pending_calls(napi_env env, napi_callback_info info)
{
    ARGS(1);
    dfr_reactor *r = get_reactor(env, argv[0]);
    if (!r)
        return NULL;
    napi_value out;
    napi_create_int64(env, (int64_t)dfr_reactor_pending_calls(r), &out);
    return out;
}

/* ---- DelayedCall: a handle with no C reference and no finalizer ----
 * The reactor holds the call while it is pending; the slot borrows the
 * pointer until the call ends (dc_destroy) and keeps k (FN slot of the
 * function, in next_free).  The JS DelayedCall knows how it ended — the
 * dispatcher marks it when it runs it, cancel() when it cancels it — and
 * never passes its handle to C afterwards, so the slot is freed at once.  A
 * call dropped by its reactor (a collected Clock, exit) is neither: its
 * slot is kept (SLOT_DC_DEAD, which C answers as cancelled) until JS takes
 * back k, which tells the JS object, and then freed (n_drain). */


/* A timer's fn: an exception is an uncaught exception, as in setTimeout. */
static void timer_tramp(void *data)
{
    uint32_t i = (uint32_t)(uintptr_t)data;
    g_slots[i].dc_end = 1;
    js_scope s;
    enter_js(&s);
    napi_value ret;
    if (dispatch(g_slots[i].next_free, NULL, false, MODE_TIMER, &ret) == RET_THREW)
        napi_fatal_exception(g_env, ret);
    leave_js(&s);
}

static void dc_destroy(void *data)
{
    uint32_t i = (uint32_t)(uintptr_t)data;
    slot *s = &g_slots[i];
    fn_destroy((void *)(uintptr_t)s->next_free);
    s->p = NULL;
    if (s->dc_end != 0) {
        slot_unref(i);
        return;
    }
    s->kind = SLOT_DC_DEAD;
    if (g_ndead_dc == g_dead_dc_cap) {
        size_t cap = g_dead_dc_cap ? g_dead_dc_cap * 2 : 64;
        uint32_t *n = realloc(g_dead_dc, cap * sizeof *n);
        if (!n)
            return; /* the slot stays dead: never reused, never wrong */
        g_dead_dc = n;
        g_dead_dc_cap = cap;
    }
    g_dead_dc[g_ndead_dc++] = i;
}

/* A task's fn (deferLater, LoopingCall, lock.run; FN slot k): its return
 * value or throw is the result. */
static dfr_value task_tramp(void *data)
{
    js_scope s;
    enter_js(&s);
    napi_value ret;
    int r = dispatch((uint32_t)(uintptr_t)data, NULL, false, MODE_TASK, &ret);
    dfr_value v = dispatch_result(r == RET_PASS ? RET_VALUE : r, ret, NULL);
    leave_js(&s);
    return v;
}

/* callLater(clock, seconds, k) -> handle (index.js makes the DelayedCall) */
static napi_value n_call_later(napi_env env, napi_callback_info info)
{
    ARGS(3);
    uint32_t k;
    if (!get_k(env, argv[2], &k))
        return NULL;
    dfr_reactor *r = get_reactor(env, argv[0]);
    double s;
    if (!r || !get_seconds(env, argv[1], &s, "delay"))
        return give_back_throw(k, NULL);
    int32_t h = slot_new(SLOT_DC, NULL);
    if (h < 0)
        return give_back_throw(k, throw_code(env, DFR_ENOMEM));
    uint32_t i = (uint32_t)h & (SLOT_MAX - 1);
    g_slots[i].next_free = k;
    g_slots[i].dc_end = 2; /* if it fails, dc_destroy frees the slot: JS never sees it */
    fn_hold(k);
    dfr_delayed_call *dc = NULL;
    int rc = dfr_reactor_call_later(r, s, timer_tramp, (void *)(uintptr_t)i, dc_destroy, &dc);
    if (rc)
        return throw_code(env, rc);
    g_slots[i].dc_end = 0;
    g_slots[i].p = dc;
    dfr_delayed_call_unref(dc); /* the reactor holds it while it is pending */
    napi_value out;
    napi_create_int32(env, h, &out);
    return out;
}

/* The slot of a DelayedCall handle (pending or dead), or NULL (thrown). */
static slot *get_dc(napi_env env, napi_value v)
{
    int32_t h = 0;
    napi_get_value_int32(env, v, &h);
    uint32_t i = (uint32_t)h & (SLOT_MAX - 1);
    if (h <= 0 || i >= g_nslots || g_slots[i].gen != (uint32_t)h >> SLOT_BITS ||
        (g_slots[i].kind != SLOT_DC && g_slots[i].kind != SLOT_DC_DEAD)) {
        napi_throw_type_error(env, "EINVAL", "expected a DelayedCall");
        return NULL;
    }
    return &g_slots[i];
}

/* dc(handle, op, arg): 0 cancel, 1 reset, 2 delay, 3 active, 4 time */
static napi_value n_dc(napi_env env, napi_callback_info info)
{
    ARGS(3);
    slot *sl = get_dc(env, argv[0]);
    if (!sl)
        return NULL;
    dfr_delayed_call *dc = sl->p;
    int32_t op = -1;
    napi_get_value_int32(env, argv[1], &op);
    napi_value out = undefined(env);
    double x = 0;
    int rc = 0;
    if (!dc) { /* its reactor dropped it: as cancelled */
        if (op == 3) {
            napi_get_boolean(env, false, &out);
            return out;
        }
        if (op == 4) {
            napi_create_double(env, NAN, &out);
            return out;
        }
        return throw_dfr(env, "EALREADY_CANCELLED", DFR_EALREADY_CANCELLED,
                         "AlreadyCancelled: the call was cancelled");
    }
    switch (op) {
    case 0:
        sl->dc_end = 2; /* before: the destroy hook frees the slot */
        rc = dfr_delayed_call_cancel(dc);
        if (rc) /* not cancelled: the slot (not freed) is still this call's */
            sl->dc_end = 0;
        break;
    case 1:
        if (!get_seconds(env, argv[2], &x, "delay"))
            return NULL;
        rc = dfr_delayed_call_reset(dc, x);
        break;
    case 2:
        if (type_of(env, argv[2]) != napi_number)
            return throw_type(env, "delay() needs a number of seconds");
        napi_get_value_double(env, argv[2], &x);
        if (!isfinite(x)) {
            napi_throw_range_error(env, "EINVAL", "delay() needs a finite number of seconds");
            return NULL;
        }
        if (fabs(x) > MAX_SECONDS) {
            napi_throw_range_error(env, "EINVAL", "delay() moves a call by at most 4.6e9 seconds");
            return NULL;
        }
        rc = dfr_delayed_call_delay(dc, x);
        break;
    case 3:
        napi_get_boolean(env, dfr_delayed_call_active(dc), &out);
        return out;
    case 4:
        napi_create_double(env, dfr_delayed_call_time(dc), &out);
        return out;
    default:
        return throw_type(env, "bad op");
    }
    if (rc == DFR_EALREADY_CANCELLED)
        return throw_dfr(env, "EALREADY_CANCELLED", rc, "AlreadyCancelled: the call was cancelled");
    if (rc == DFR_EALREADY_RAN)
        return throw_dfr(env, "EALREADY_CALLED", rc, "AlreadyCalled: the call already ran");
    if (rc)
        return throw_code(env, rc);
    return out;
}

/* deferLater(clock, seconds, k|undefined) */
static napi_value n_defer_later(napi_env env, napi_callback_info info)
{
    ARGS(3);
    uint32_t k = 0;
    bool has = type_of(env, argv[2]) != napi_undefined;
    if (has && !get_k(env, argv[2], &k))
        return NULL;
    dfr_reactor *r = get_reactor(env, argv[0]);
    double s;
    if (!r || !get_seconds(env, argv[1], &s, "delay")) {
        if (has)
            give_back(k);
        return NULL;
    }
    dfr_deferred *d = dfr_reactor_defer_later(r, s, has ? task_tramp : NULL, has ? fn_hold(k) : NULL,
                                              has ? fn_destroy : NULL);
    return wrap_new(env, d);
}

/* addTimeout's onTimeoutCancel: JS function slot k on whatever the chain
 * holds when the timeout cancelled it (a failure as an errback: returning
 * the error it was given passes it on).  Its entry outlives the run (the
 * timeout's second entry releases it, maybe after a returned Deferred), so
 * it notes here that JS took k back at once instead of leaning on g_ran_k. */
typedef struct timeout_fn {
    uint32_t k;
    bool ran;
} timeout_fn;

static dfr_value tramp_timeout(dfr_value result, void *data)
{
    timeout_fn *t = data;
    dfr_value out = run_cb(result, t->k, dfr_is_failure(result) ? MODE_EB : MODE_CB);
    if (g_ran_k == t->k) {
        g_ran_k = UINT32_MAX;
        t->ran = true;
    }
    return out;
}

static void timeout_fn_destroy(void *data)
{
    timeout_fn *t = data;
    g_live_callbacks--;
    if (!t->ran)
        give_back(t->k);
    free(t);
}

/* addTimeout(d, clock, seconds[, k]): k is onTimeoutCancel's slot. */
static napi_value n_add_timeout(napi_env env, napi_callback_info info)
{
    ARGS(4);
    uint32_t k = 0;
    bool has = type_of(env, argv[3]) != napi_undefined;
    if (has && !get_k(env, argv[3], &k))
        return NULL;
    slot *s_ = slot_at(env, argv[0], SLOT_DEFERRED);
    dfr_reactor *r = s_ ? get_reactor(env, argv[1]) : NULL;
    double s;
    if (!s_ || !r || !get_seconds(env, argv[2], &s, "timeout")) {
        if (has)
            give_back(k);
        return s_ ? NULL : throw_type(env, "expected a Deferred");
    }
    dfr_deferred *d = escape(s_);
    int rc;
    if (has) {
        timeout_fn *t = malloc(sizeof *t);
        if (!t) {
            give_back(k);
            return throw_code(env, DFR_ENOMEM);
        }
        t->k = k;
        t->ran = false;
        g_live_callbacks++;
        rc = dfr_deferred_add_timeout_with(d, r, s, tramp_timeout, t, timeout_fn_destroy);
    } else {
        rc = dfr_deferred_add_timeout(d, r, s);
    }
    if (rc)
        return throw_code(env, rc);
    return argv[0];
}

/* ---- LoopingCall ---- */

static void lc_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    holder *h = data;
    dfr_looping_call_unref(h->p);
    free(h);
}

/* lcInit(obj, clock, k) */
static napi_value n_lc_init(napi_env env, napi_callback_info info)
{
    ARGS(3);
    uint32_t k;
    if (!get_k(env, argv[2], &k))
        return NULL;
    dfr_reactor *r = get_reactor(env, argv[1]);
    if (!r)
        return give_back_throw(k, NULL);
    dfr_looping_call *lc = dfr_looping_call_new(r, task_tramp, fn_hold(k), fn_destroy);
    if (!lc)
        return throw_code(env, DFR_ENOMEM);
    holder *h = holder_new(KIND_LC, lc);
    if (!h || napi_wrap(env, argv[0], h, lc_finalize, NULL, NULL) != napi_ok) {
        free(h);
        dfr_looping_call_unref(lc);
        return throw_code(env, DFR_ENOMEM);
    }
    return undefined(env);
}

/* lc(obj, op, interval, now): 0 start, 1 stop, 2 reset, 3 running */
static napi_value n_lc(napi_env env, napi_callback_info info)
{
    ARGS(4);
    holder *h = unwrap_kind(env, argv[0], KIND_LC);
    if (!h)
        return throw_type(env, "expected a LoopingCall");
    dfr_looping_call *lc = h->p;
    int32_t op = -1;
    napi_get_value_int32(env, argv[1], &op);
    napi_value out = undefined(env);
    int rc = 0;
    switch (op) {
    case 0: {
        double s;
        bool now = true;
        if (!get_seconds(env, argv[2], &s, "interval"))
            return NULL;
        napi_get_value_bool(env, argv[3], &now);
        if (dfr_looping_call_running(lc)) {
            return throw_dfr(env, "EALREADY", DFR_EALREADY, "LoopingCall is already running");
        }
            return wrap_new(env, dfr_looping_call_start(lc, s, now));
    }
    case 1:
        rc = dfr_looping_call_stop(lc);
        break;
    case 2:
        rc = dfr_looping_call_reset(lc);
        break;
    case 3:
        napi_get_boolean(env, dfr_looping_call_running(lc), &out);
        return out;
    case 4: /* withCount, before the first start */
        rc = dfr_looping_call_with_count(lc);
        if (rc)
            return throw_code(env, rc);
        return out;
    case 5: /* the count of the call now running */
        napi_create_double(env, (double)dfr_looping_call_count(lc), &out);
        return out;
    default:
        return throw_type(env, "bad op");
    }
    if (rc) {
        return throw_dfr(env, "ENOTRUNNING", DFR_ENOTRUNNING, "LoopingCall is not running");
    }
    return out;
}

/* ---- DeferredLock / DeferredSemaphore / DeferredQueue ---- */

enum { K_LOCK = KIND_LOCK, K_SEM = KIND_SEM, K_QUEUE = KIND_QUEUE };

typedef holder syncw;

static void sync_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    syncw *s = data;
    if (s->kind == K_LOCK)
        dfr_lock_free(s->p);
    else if (s->kind == K_SEM)
        dfr_semaphore_free(s->p);
    else
        dfr_queue_free(s->p);
    free(s);
}

/* syncInit(obj, kind, a, b) */
static napi_value n_sync_init(napi_env env, napi_callback_info info)
{
    ARGS(4);
    int32_t kind = -1;
    napi_get_value_int32(env, argv[1], &kind);
    if (kind < 0 || kind > 2)
        return throw_type(env, "syncInit(obj, kind 0..2)");
    kind += KIND_LOCK; /* 0, 1, 2 from JS */
    syncw *s = malloc(sizeof *s);
    if (!s)
        return throw_code(env, DFR_ENOMEM);
    s->kind = (uint32_t)kind;
    s->p = NULL;
    if (kind == K_LOCK) {
        s->p = dfr_lock_new();
    } else if (kind == K_SEM) {
        uint32_t tokens = 0;
        double x = 0;
        napi_get_value_double(env, argv[2], &x);
        if (type_of(env, argv[2]) != napi_number) {
            free(s);
            napi_throw_range_error(env, "EINVAL", "tokens must be a number (an integer from 1 to 1e9)");
            return NULL;
        }
        if (!(x >= 1) || x != trunc(x) || x > 1e9) {
            free(s);
            napi_throw_range_error(env, "EINVAL", "tokens must be an integer from 1 to 1e9");
            return NULL;
        }
        tokens = (uint32_t)x;
        s->p = dfr_semaphore_new(tokens);
    } else if (kind == K_QUEUE) {
        size_t lim[2];
        for (int i = 0; i < 2; i++) {
            double x = INFINITY;
            if (type_of(env, argv[2 + i]) == napi_number)
                napi_get_value_double(env, argv[2 + i], &x);
            else if (type_of(env, argv[2 + i]) != napi_undefined) {
                free(s);
                napi_throw_range_error(env, "EINVAL", "size and backlog must be numbers");
                return NULL;
            }
            if (!(x >= 0) || (isfinite(x) && x != trunc(x))) {
                free(s);
                napi_throw_range_error(env, "EINVAL", "size and backlog must be integers >= 0");
                return NULL;
            }
            /* Past 2^53 (no queue gets there) it is no limit: no
             * out-of-range cast to size_t. */
            lim[i] = x < 9007199254740992.0 ? (size_t)x : DFR_UNLIMITED;
        }
        s->p = dfr_queue_new(lim[0], lim[1]);
    }
    if (!s->p) {
        free(s);
        return throw_code(env, DFR_ENOMEM);
    }
    if (napi_wrap(env, argv[0], s, sync_finalize, NULL, NULL) != napi_ok) {
        sync_finalize(env, s, NULL);
        return NULL;
    }
    return undefined(env);
}

/* sync(obj, op, arg, kind): 0 acquire/get, 1 release/put, 2
 * locked/tokens/pending, 3 waiting, 4 run(fn: FN slot arg); kind 0 lock, 1
 * semaphore, 2 queue: the class whose method this is, so that a method
 * called on another kind of object (Lock.prototype.release.call(sem)) is a
 * TypeError, not that object's operation. */
static napi_value n_sync(napi_env env, napi_callback_info info)
{
    ARGS(4);
    static const char *const names[] = {"a DeferredLock", "a DeferredSemaphore", "a DeferredQueue"};
    int32_t op = -1, kind = -1;
    napi_get_value_int32(env, argv[1], &op);
    napi_get_value_int32(env, argv[3], &kind);
    syncw *s = kind >= 0 && kind <= 2 ? unwrap_kind(env, argv[0], KIND_LOCK + (uint32_t)kind) : NULL;
    if (!s) {
        uint32_t k;
        if (op == 4 && napi_get_value_uint32(env, argv[2], &k) == napi_ok && k < 1u << 29)
            give_back(k); /* run's function: C never took it */
        char msg[64];
        snprintf(msg, sizeof msg, "expected %s", kind >= 0 && kind <= 2 ? names[kind] : "a lock");
        return throw_type(env, msg);
    }
    napi_value out = undefined(env);
    int rc = 0;
    switch (op) {
    case 0:
        return wrap_new(env, s->kind == K_LOCK  ? dfr_lock_acquire(s->p)
                             : s->kind == K_SEM ? dfr_semaphore_acquire(s->p)
                                                : dfr_queue_get(s->p));
    case 1:
        if (s->kind == K_QUEUE) {
            rc = dfr_queue_put(s->p, js_to_dfr(env, argv[2]));
            if (rc == DFR_EOVERFLOW) {
                return throw_dfr(env, "EOVERFLOW", rc, "QueueOverflow: the queue is full");
            }
        } else {
            rc = s->kind == K_LOCK ? dfr_lock_release(s->p) : dfr_semaphore_release(s->p);
            if (rc == DFR_EINVAL)
                return throw_type(env, s->kind == K_LOCK ? "release of an unlocked DeferredLock"
                                                         : "release of a DeferredSemaphore with "
                                                           "every token back");
        }
        break;
    case 2:
        if (s->kind == K_LOCK)
            napi_get_boolean(env, dfr_lock_locked(s->p), &out);
        else if (s->kind == K_SEM)
            napi_create_uint32(env, dfr_semaphore_tokens(s->p), &out);
        else
            napi_create_int64(env, (int64_t)dfr_queue_pending(s->p), &out);
        return out;
    case 3:
        napi_create_int64(env,
                          (int64_t)(s->kind == K_LOCK  ? dfr_lock_waiting(s->p)
                                    : s->kind == K_SEM ? dfr_semaphore_waiting(s->p)
                                                       : dfr_queue_waiting(s->p)),
                          &out);
        return out;
    case 4: {
        uint32_t k;
        if (!get_k(env, argv[2], &k))
            return NULL;
        if (s->kind == K_QUEUE)
            return give_back_throw(k, throw_type(env, "a DeferredQueue has no run"));
        return wrap_new(env, s->kind == K_LOCK
                                 ? dfr_lock_run(s->p, task_tramp, fn_hold(k), fn_destroy)
                                 : dfr_semaphore_run(s->p, task_tramp, fn_hold(k), fn_destroy));
    }
    default:
        return throw_type(env, "bad op");
    }
    if (rc)
        return throw_code(env, rc);
    return out;
}

/* ---- native code on the reactor's pool (libffi) ---- */

static ffi_type *ffi_type_named(const char *n)
{
    static const struct {
        const char *name;
        ffi_type *t;
    } types[] = {
        {"void", &ffi_type_void},     {"int", &ffi_type_sint},      {"uint", &ffi_type_uint},
        {"int32", &ffi_type_sint32},  {"uint32", &ffi_type_uint32}, {"int64", &ffi_type_sint64},
        {"uint64", &ffi_type_uint64}, {"double", &ffi_type_double}, {"float", &ffi_type_float},
        {"pointer", &ffi_type_pointer},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(n, types[i].name) == 0)
            return types[i].t;
    return NULL;
}

typedef union {
    int64_t i;
    uint64_t u;
    double d;
    float f;
    int32_t i32;
    uint32_t u32;
    int si;
    unsigned ui;
    void *p;
} ffi_arg_slot;

static void lib_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    dlclose(data);
}

/* A JS string as a C string in buf (cap bytes): false unless it is a string
 * that fits whole and has no NUL inside (either would make C read another
 * name than the one JS gave: a truncated path, "libc.so.6\0junk"). */
static bool get_cstr(napi_env env, napi_value v, char *buf, size_t cap)
{
    size_t len = 0;
    if (type_of(env, v) != napi_string || napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok ||
        len >= cap || napi_get_value_string_utf8(env, v, buf, cap, &len) != napi_ok)
        return false;
    return strlen(buf) == len;
}

/* dlopen(path) -> external */
static napi_value n_dlopen(napi_env env, napi_callback_info info)
{
    ARGS(1);
    char path[4096];
    if (type_of(env, argv[0]) != napi_string)
        return throw_type(env, "library path must be a string");
    if (!get_cstr(env, argv[0], path, sizeof path))
        return throw_type(env, "library path must be shorter than 4096 bytes, with no NUL character");
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        napi_throw_error(env, "ENOENT", dlerror());
        return NULL;
    }
    napi_value out;
    napi_create_external(env, h, lib_finalize, NULL, &out);
    return out;
}

/* dlsym(lib, name) -> external fn pointer */
static napi_value n_dlsym(napi_env env, napi_callback_info info)
{
    ARGS(2);
    void *h = NULL;
    char name[1024];
    if (type_of(env, argv[0]) != napi_external || napi_get_value_external(env, argv[0], &h))
        return throw_type(env, "expected a NativeLibrary");
    if (type_of(env, argv[1]) != napi_string)
        return throw_type(env, "the function name must be a string");
    if (!get_cstr(env, argv[1], name, sizeof name))
        return throw_type(env, "the function name must be shorter than 1024 bytes, with no NUL character");
    dlerror(); /* clear: a symbol whose value is NULL leaves none */
    void *sym = dlsym(h, name);
    if (!sym) {
        const char *e = dlerror();
        napi_throw_error(env, "ENOENT", e ? e : "the symbol's address is NULL");
        return NULL;
    }
    napi_value out;
    napi_create_external(env, sym, NULL, NULL, &out);
    return out;
}

/* deferCall(clock, fnptr, ret: string, argTypes: string[], args[]) */
static napi_value n_defer_call(napi_env env, napi_callback_info info)
{
    ARGS(5);
    dfr_reactor *r = get_reactor(env, argv[0]);
    if (!r)
        return NULL;
    void *fn = NULL;
    if (type_of(env, argv[1]) != napi_external || napi_get_value_external(env, argv[1], &fn))
        return throw_type(env, "expected a native function");
    char buf[32];
    if (type_of(env, argv[2]) != napi_string)
        return throw_type(env, "return type must be a string");
    ffi_type *rt = get_cstr(env, argv[2], buf, sizeof buf) ? ffi_type_named(buf) : NULL;
    if (!rt)
        return throw_type(env, "unknown return type");
    uint32_t n = 0, na = 0;
    bool arr1 = false, arr2 = false;
    napi_is_array(env, argv[3], &arr1);
    napi_is_array(env, argv[4], &arr2);
    if (!arr1 || !arr2)
        return throw_type(env, "argument types and arguments must be arrays");
    napi_get_array_length(env, argv[3], &n);
    napi_get_array_length(env, argv[4], &na);
    if (n != na)
        return throw_type(env, "wrong number of arguments for the declared types");
    if (n > 16)
        return throw_type(env, "at most 16 arguments");
    ffi_type *ts[16];
    ffi_arg_slot slots[16];
    void *args[16];
    for (uint32_t i = 0; i < n; i++) {
        napi_value t, a;
        napi_get_element(env, argv[3], i, &t);
        napi_get_element(env, argv[4], i, &a);
        if (!get_cstr(env, t, buf, sizeof buf) || !(ts[i] = ffi_type_named(buf)) ||
            ts[i] == &ffi_type_void)
            return throw_type(env, "unknown argument type");
        memset(&slots[i], 0, sizeof slots[i]);
        args[i] = &slots[i];
        if (ts[i] == &ffi_type_pointer) {
            if (type_of(env, a) != napi_external && type_of(env, a) != napi_null)
                return throw_type(env, "a pointer argument must be an external or null");
            if (type_of(env, a) == napi_external)
                napi_get_value_external(env, a, &slots[i].p);
            continue;
        }
        double x;
        if (type_of(env, a) != napi_number || napi_get_value_double(env, a, &x))
            return throw_type(env, "a numeric argument must be a number");
        /* An integer argument must be one the C type holds: a cast of NaN,
         * 1.5 or 1e300 to an integer type is undefined behaviour in C. */
        if (ts[i] != &ffi_type_double && ts[i] != &ffi_type_float) {
            bool sgn = ts[i] == &ffi_type_sint || ts[i] == &ffi_type_sint32 || ts[i] == &ffi_type_sint64;
            bool wide = ts[i] == &ffi_type_sint64 || ts[i] == &ffi_type_uint64;
            double lo = sgn ? (wide ? -9223372036854775808.0 : -2147483648.0) : 0;
            double hi = wide ? (sgn ? 9223372036854775808.0 : 18446744073709551616.0)
                             : (sgn ? 2147483648.0 : 4294967296.0);
            if (!(x >= lo && x < hi) || x != trunc(x)) {
                char msg[96];
                snprintf(msg, sizeof msg, "argument %u: not an integer the C type holds", (unsigned)i + 1);
                napi_throw_range_error(env, "EINVAL", msg);
                return NULL;
            }
        }
        if (ts[i] == &ffi_type_double)
            slots[i].d = x;
        else if (ts[i] == &ffi_type_float)
            slots[i].f = (float)x;
        else if (ts[i] == &ffi_type_sint || ts[i] == &ffi_type_sint32)
            slots[i].i32 = (int32_t)x;
        else if (ts[i] == &ffi_type_uint || ts[i] == &ffi_type_uint32)
            slots[i].u32 = (uint32_t)x;
        else if (ts[i] == &ffi_type_uint64)
            slots[i].u = (uint64_t)x;
        else
            slots[i].i = (int64_t)x;
    }
    ffi_cif cif;
    if (ffi_prep_cif(&cif, FFI_DEFAULT_ABI, n, rt, ts) != FFI_OK)
        return throw_type(env, "cannot prepare the call");
    return wrap_new(env, dfr_reactor_defer_call(r, &cif, (void (*)(void))fn, args));
}

/* callDeferredFn(fnptr, deferreds[]): call a C function
 *   dfr_deferred *fn(dfr_deferred *const *ds, size_t n)
 * on the JS thread (the reactor's) with borrowed inputs; it returns a new
 * reference (the way C code hands a deferred to JS). */
static napi_value n_call_deferred_fn(napi_env env, napi_callback_info info)
{
    ARGS(2);
    void *fn = NULL;
    if (type_of(env, argv[0]) != napi_external || napi_get_value_external(env, argv[0], &fn))
        return throw_type(env, "expected a native function");
    uint32_t n = 0;
    dfr_deferred **ds = deferred_array(env, argv[1], &n);
    if (!ds)
        return NULL;
    dfr_deferred *(*call)(dfr_deferred *const *, size_t) = (dfr_deferred * (*)(dfr_deferred *const *, size_t)) fn;
    dfr_deferred *d = call(ds, n);
    free(ds);
    if (!d) {
        napi_throw_error(env, "EINVAL", "the native function returned no deferred");
        return NULL;
    }
    return wrap_new(env, d);
}

/* ---- unhandled failures: reported as unhandled rejections ---- */

static void report_unhandled(void *data)
{
    js_scope s;
    enter_js(&s);
    napi_value err = failure_to_js(g_env, data), ret;
    if (err)
        napi_call_function(g_env, undefined(g_env), ref_value(g_env, g_on_unhandled), 1, &err,
                           &ret);
    leave_js(&s);
}

static void unref_failure(void *p)
{
    dfr_failure_unref(p);
}

/* Runs when the last reference to a deferred holding an unhandled failure
 * goes, maybe inside a GC finalizer: JS runs on the loop's next turn.  A
 * failure that only says its reactor went away (DFR_ENOTRUNNING: a collected
 * Clock's deferLater, LoopingCall or thread job) is not reported: nothing
 * went wrong but the teardown, and in Twisted such a deferred would simply
 * never fire.  Without this, a test that drops a Clock with work pending
 * would crash the process at some later garbage collection. */
static void on_unhandled(const dfr_failure *f, void *data)
{
    (void)data;
    if (!g_reactor)
        return;
    if (dfr_failure_code(f) == DFR_ENOTRUNNING && strcmp(dfr_failure_domain(f), DFR_DOMAIN) == 0)
        return;
    dfr_reactor_call_later(g_reactor, 0, report_unhandled, dfr_failure_ref((dfr_failure *)f),
                   unref_failure, NULL);
}

/* ---- setup ---- */

/* setup(makeDeferred, DeferredError, dispatch, onUnhandled)
 * -> [mailbox, freed, queue: Int32Arrays over one buffer C reads too] */
static napi_value n_setup(napi_env env, napi_callback_info info)
{
    ARGS(4);
    if (g_dispatch)
        return throw_type(env, "setup runs once");
    for (int i = 0; i < 4; i++)
        if (!is_function(env, argv[i]))
            return throw_type(env, "setup needs functions");
    napi_create_reference(env, argv[0], 1, &g_make_deferred);
    napi_create_reference(env, argv[1], 1, &g_error_ctor);
    napi_create_reference(env, argv[2], 1, &g_dispatch);
    napi_create_reference(env, argv[3], 1, &g_on_unhandled);
    /* Made here, so its memory is off the JS heap and never moves. */
    void *data;
    napi_value buf, mb, fr, out;
    size_t words = MB_SIZE + FREED_OUT + 2 * QUEUE_MAX + 2; /* + g_num (8-aligned) */
    CHECK(napi_create_arraybuffer(env, words * sizeof(int32_t), &data, &buf));
    napi_create_reference(env, buf, 1, &g_shared);
    g_mbox = data;
    g_freed_out = g_mbox + MB_SIZE;
    g_queue = g_freed_out + FREED_OUT;
    g_num = (double *)(void *)(g_queue + 2 * QUEUE_MAX);
    memset(data, 0, words * sizeof(int32_t));
    napi_value qu;
    napi_create_typedarray(env, napi_int32_array, MB_SIZE, buf, 0, &mb);
    napi_create_typedarray(env, napi_int32_array, FREED_OUT, buf, MB_SIZE * sizeof(int32_t), &fr);
    napi_create_typedarray(env, napi_int32_array, 2 * QUEUE_MAX, buf,
                           (MB_SIZE + FREED_OUT) * sizeof(int32_t), &qu);
    napi_value num;
    napi_create_typedarray(env, napi_float64_array, 1, buf,
                           (MB_SIZE + FREED_OUT + 2 * QUEUE_MAX) * sizeof(int32_t), &num);
    napi_create_array_with_length(env, 4, &out);
    napi_set_element(env, out, 0, mb);
    napi_set_element(env, out, 1, fr);
    napi_set_element(env, out, 2, qu);
    napi_set_element(env, out, 3, num);
    return out;
}

/* The benchmarks' floor: one JS->C call that makes one C->JS callback. */
static napi_value n_floor(napi_env env, napi_callback_info info)
{
    ARGS(2);
    napi_value ret;
    if (napi_call_function(env, undefined(env), argv[0], 1, &argv[1], &ret) != napi_ok) {
        bool pending = false;
        napi_is_exception_pending(env, &pending);
        return pending ? NULL : throw_type(env, "_napiFloor(fn, arg): fn must be a function");
    }
    return ret;
}

static napi_value n_stats(napi_env env, napi_callback_info info)
{
    (void)info;
    napi_value out, a, b;
    napi_create_object(env, &out);
    napi_create_int64(env, g_live_values, &a);
    napi_create_int64(env, g_live_callbacks, &b);
    napi_set_named_property(env, out, "values", a);
    napi_set_named_property(env, out, "callbacks", b);
    return out;
}

static void silent_hook(const dfr_failure *f, void *data)
{
    (void)f;
    (void)data;
}

/* Every native function JS calls runs through a wrapper: g_depth tells a
 * JS callback the C library runs whether JS is already on the stack (then a
 * plain call) or it comes from libuv (then a callback scope). */
#define ENTRY(f)                                                                      \
    static napi_value f##_entry(napi_env env, napi_callback_info info)                \
    {                                                                                 \
        napi_value fn = g_dispatch_fn; /* V8 opened a handle scope for this call */  \
        g_dispatch_fn = NULL;                                                         \
        if (g_depth++ == 0)                                                           \
            g_unscoped = 0;                                                           \
        napi_value r = f(env, info);                                                  \
        if (--g_depth == 0 && g_nunformatted > 0)                                     \
            retry_stacks(env);                                                        \
        g_dispatch_fn = fn;                                                           \
        return r;                                                                     \
    }
ENTRY(n_setup)
ENTRY(n_init)
ENTRY(n_add_callbacks)
ENTRY(n_observe)
ENTRY(n_drain)
ENTRY(n_attach)
ENTRY(n_resume)
ENTRY(n_callback)
ENTRY(n_firing)
ENTRY(n_errback)
ENTRY(n_cancel)
ENTRY(n_pause)
ENTRY(n_state)
ENTRY(n_paused)
ENTRY(n_chain)
ENTRY(n_succeed)
ENTRY(n_fail)
ENTRY(n_list)
ENTRY(n_clock_init)
ENTRY(n_clock_advance)
ENTRY(n_seconds)
ENTRY(n_pending_calls)
ENTRY(n_call_later)
ENTRY(n_dc)
ENTRY(n_defer_later)
ENTRY(n_add_timeout)
ENTRY(n_lc_init)
ENTRY(n_lc)
ENTRY(n_sync_init)
ENTRY(n_sync)
ENTRY(n_dlopen)
ENTRY(n_dlsym)
ENTRY(n_defer_call)
ENTRY(n_call_deferred_fn)
ENTRY(n_stats)
ENTRY(n_floor)
#undef ENTRY

static void cleanup(void *arg)
{
    (void)arg;
    /* At exit: drop the reactor (pending calls are released, not run);
     * failures of deferreds collected during teardown are not reported. */
    dfr_set_unhandled_error_hook(silent_hook, NULL);
    dfr_reactor *r = g_reactor;
    g_reactor = NULL;
    dfr_reactor_free(r);
}

NAPI_MODULE_INIT()
{
    if (g_env) {
        napi_throw_error(env, NULL, "deferred: the addon can be loaded in one thread (the main one) only");
        return NULL;
    }
    /* Our libuv calls bind to Node's own libuv (ELF interposition): it must
     * be the same major version and at least the one we compiled against. */
    unsigned v = uv_version();
    if ((v >> 16) != LIB_UV_MAJOR || ((v >> 8) & 0xff) < LIB_UV_MINOR) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "deferred: Node's libuv %s is not ABI-compatible with the libuv %d.%d "
                 "libdeferred was built against",
                 uv_version_string(), LIB_UV_MAJOR, LIB_UV_MINOR);
        napi_throw_error(env, NULL, msg);
        return NULL;
    }
    if (strncmp(dfr_version(), "0.", 2) != 0) {
        napi_throw_error(env, NULL, "deferred: libdeferred major version mismatch (want 0.x)");
        return NULL;
    }
    uv_loop_t *loop = NULL;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) {
        napi_throw_error(env, NULL, "deferred: no libuv loop");
        return NULL;
    }
    dfr_reactor_options o = {.size = sizeof o, .uv_loop = loop};
    g_reactor = dfr_reactor_new(&o);
    if (!g_reactor) {
        napi_throw_error(env, NULL, "deferred: cannot create the reactor");
        return NULL;
    }
    g_env = env;
    napi_value res, name;
    napi_create_object(env, &res);
    napi_create_reference(env, res, 1, &g_async_resource);
    napi_create_string_utf8(env, "Deferred", NAPI_AUTO_LENGTH, &name);
    napi_async_init(env, res, name, &g_async);
    dfr_set_unhandled_error_hook(on_unhandled, NULL);
    napi_add_env_cleanup_hook(env, cleanup, NULL);

    napi_property_descriptor props[] = {
#define FN(n, f) {n, NULL, f##_entry, NULL, NULL, NULL, napi_default, NULL}
        FN("setup", n_setup),
        FN("init", n_init),
        FN("addCallbacks", n_add_callbacks),
        FN("observe", n_observe),
        FN("drain", n_drain),
        FN("attach", n_attach),
        FN("resume", n_resume),
        FN("callback", n_callback),
        FN("firing", n_firing),
        FN("errback", n_errback),
        FN("cancel", n_cancel),
        FN("pause", n_pause),
        FN("state", n_state),
        FN("paused", n_paused),
        FN("chain", n_chain),
        FN("succeed", n_succeed),
        FN("fail", n_fail),
        FN("list", n_list),
        FN("clockInit", n_clock_init),
        FN("advance", n_clock_advance),
        FN("seconds", n_seconds),
        FN("pendingCalls", n_pending_calls),
        FN("callLater", n_call_later),
        FN("dc", n_dc),
        FN("deferLater", n_defer_later),
        FN("addTimeout", n_add_timeout),
        FN("lcInit", n_lc_init),
        FN("lc", n_lc),
        FN("syncInit", n_sync_init),
        FN("sync", n_sync),
        FN("dlopen", n_dlopen),
        FN("dlsym", n_dlsym),
        FN("deferCall", n_defer_call),
        FN("callDeferredFn", n_call_deferred_fn),
        FN("stats", n_stats),
        FN("napiFloor", n_floor),
#undef FN
    };
    napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
    napi_value ver;
    napi_create_string_utf8(env, dfr_version(), NAPI_AUTO_LENGTH, &ver);
    napi_set_named_property(env, exports, "version", ver);
    return exports;
}
