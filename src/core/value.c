/* Values: the built-in types, drop/clone, and owned bytes.  This file also
 * emits the exported twins of the header's inline helpers. */
#define DFR_EMIT_INLINE_SYMBOLS 1
/* The header defines them; here they become exported definitions. */
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#include "core/core_internal.h"

#include <string.h>

struct dfr_bytes {
    atomic_uint refs;
    size_t len;
    unsigned char data[];
};

static dfr_value copy_clone(const dfr_value *v)
{
    return *v;
}

static void bytes_drop(void *p)
{
    dfr_bytes *b = p;
    if (b && dfr__release_last(&b->refs))
        dfr__free(b);
}

static dfr_value bytes_clone(const dfr_value *v)
{
    dfr_bytes *b = v->u.ptr;
    dfr__ref_add(&b->refs);
    return *v;
}

static void failure_drop(void *p)
{
    dfr_failure_unref(p);
}

static dfr_value failure_clone(const dfr_value *v)
{
    dfr_failure_ref(v->u.ptr);
    return *v;
}

static void deferred_drop(void *p)
{
    dfr_deferred_unref(p);
}

static dfr_value deferred_clone(const dfr_value *v)
{
    dfr_deferred_ref(v->u.ptr);
    return *v;
}

static void list_drop(void *p)
{
    dfr__list_unref(p);
}

static dfr_value list_clone(const dfr_value *v)
{
    dfr__list_ref(v->u.ptr);
    return *v;
}

const dfr_type dfr_type_i64 = {sizeof(dfr_type), "i64", NULL, copy_clone};
const dfr_type dfr_type_f64 = {sizeof(dfr_type), "f64", NULL, copy_clone};
const dfr_type dfr_type_ptr = {sizeof(dfr_type), "ptr", NULL, copy_clone};
const dfr_type dfr_type_bytes = {sizeof(dfr_type), "bytes", bytes_drop, bytes_clone};
const dfr_type dfr_type_failure = {sizeof(dfr_type), "failure", failure_drop, failure_clone};
const dfr_type dfr_type_deferred = {sizeof(dfr_type), "deferred", deferred_drop, deferred_clone};
const dfr_type dfr_type_list = {sizeof(dfr_type), "list", list_drop, list_clone};

/* ---- drops that nest: a loop, not recursion ----
 * A million failures nested as payloads, lists of lists, or any mix free in
 * constant C stack: dying containers are frames on an intrusive per-thread
 * stack (core/core_internal.h), taken apart one child at a time.  Each drop
 * drains the frames it pushed before it returns, so frees happen in the same
 * order as a plain recursive drop would do them, and a drop hook that drops
 * values sees them gone when dfr_value_drop returns.  Drop hooks of other
 * types (deferreds, user types) run directly while fewer than DROP_HOOKS_MAX
 * are running on this thread; deeper ones wait on a side stack and run as
 * soon as the drop at that depth returns (only a nesting that deep sees
 * that). */

/* initial-exec: one %fs-relative load instead of a __tls_get_addr call. */
#define FAST_TLS _Thread_local __attribute__((tls_model("initial-exec")))
#define DROP_HOOKS_MAX 32

static FAST_TLS dfr__dying *dying_top;  /* the frames */
static FAST_TLS unsigned hooks_running; /* drop hooks on this thread's stack */
static FAST_TLS dfr_value *side;        /* drops waiting for a shallower depth */
static FAST_TLS size_t side_len, side_cap;

static bool side_push(dfr_value v)
{
    if (side_len == side_cap) {
        size_t cap = side_cap ? side_cap * 2 : 64;
        dfr_value *grown = dfr__realloc(side, cap * sizeof *grown);
        if (!grown)
            return false;
        side = grown;
        side_cap = cap;
    }
    side[side_len++] = v;
    return true;
}

static void run_hook(dfr_value v)
{
    /* Out of memory for the side stack: run it here (one level deeper). */
    if (hooks_running >= DROP_HOOKS_MAX && side_push(v))
        return;
    hooks_running++;
    v.type->drop(v.u.ptr);
    hooks_running--;
}

/* Start dropping v: a dying container becomes a frame, any other hook runs. */
static void drop_start(dfr_value v)
{
    dfr__dying *d;
    if (!v.type || !v.type->drop)
        return;
    if (v.type == &dfr_type_failure) {
        d = dfr__failure_release(v.u.ptr);
    } else if (v.type == &dfr_type_list) {
        d = dfr__list_release(v.u.ptr);
    } else if (v.type == &dfr_type_bytes) {
        bytes_drop(v.u.ptr); /* holds no values */
        return;
    } else {
        run_hook(v);
        return;
    }
    if (d) {
        d->next = dying_top;
        dying_top = d;
    }
}

/* Finish every frame above `mark` and every side drop above `side_mark`. */
static void drain(dfr__dying *mark, size_t side_mark)
{
    for (;;) {
        dfr_value child;
        dfr__dying *d = dying_top;
        if (d && d != mark) {
            dfr__dying *below = d->next;
            int taken = d->take(d, &child);
            if (taken != DFR__TAKE_MORE)
                dying_top = below; /* d is freed */
            if (taken == DFR__TAKE_DONE)
                continue;
        } else if (side_len > side_mark && hooks_running < DROP_HOOKS_MAX) {
            child = side[--side_len];
        } else {
            break;
        }
        drop_start(child);
    }
    if (!hooks_running && !side_len && side) {
        dfr__free(side);
        side = NULL;
        side_cap = 0;
    }
}

void dfr__drop_dying(dfr__dying *d)
{
    if (!d)
        return;
    dfr__dying *mark = dying_top;
    d->next = mark;
    dying_top = d;
    drain(mark, side_len);
}

/* A value that owns something: out of line (see dfr_value_drop).  Its two
 * words come apart (an owned payload is a pointer) so that they stay in
 * registers. */
static __attribute__((noinline)) void drop_owned(const dfr_type *type, void *ptr)
{
    dfr_value v = {.type = type, .u.ptr = ptr};
    if (v.type == &dfr_type_failure) {
        dfr__drop_dying(dfr__failure_release(v.u.ptr));
        return;
    }
    if (v.type == &dfr_type_list) {
        dfr__drop_dying(dfr__list_release(v.u.ptr));
        return;
    }
    dfr__dying *mark = dying_top;
    size_t side_mark = side_len;
    drop_start(v);
    drain(mark, side_mark);
}

DFR__HOT void dfr_value_drop(dfr_value v)
{
    /* Most drops own nothing (none, numbers, borrowed pointers): a test and
     * a return.  With the owning case inline, gcc 12 built a frame and
     * spilled v for it first, and reloaded it as one 16-byte load that the
     * two 8-byte stores could not forward: a stall on every drop (chain_depth
     * ran 10% slower for it). */
    if (!v.type || !v.type->drop)
        return;
    drop_owned(v.type, v.u.ptr);
}

dfr_value dfr_value_clone(const dfr_value *v)
{
    if (!v || !v->type || !v->type->clone)
        return dfr_none();
    return v->type->clone(v);
}

dfr_value dfr_bytes_new(const void *data, size_t len)
{
    if (!data && len)
        return dfr__lib_failure_value(DFR_EINVAL);
    if (len > SIZE_MAX - sizeof(dfr_bytes))
        return dfr__lib_failure_value(DFR_ENOMEM);
    dfr_bytes *b = dfr__malloc(sizeof(dfr_bytes) + len);
    if (!b)
        return dfr_value_failure(dfr__failure_static(DFR_ENOMEM));
    atomic_init(&b->refs, 1);
    b->len = len;
    if (len)
        memcpy(b->data, data, len);
    return dfr_obj(&dfr_type_bytes, b);
}

const void *dfr_bytes_data(const dfr_value *v)
{
    if (!v || v->type != &dfr_type_bytes)
        return NULL;
    return ((const dfr_bytes *)v->u.ptr)->data;
}

size_t dfr_bytes_len(const dfr_value *v)
{
    if (!v || v->type != &dfr_type_bytes)
        return 0;
    return ((const dfr_bytes *)v->u.ptr)->len;
}

dfr_failure *dfr_failure_from(const dfr_value *v)
{
    return v && v->type == &dfr_type_failure ? v->u.ptr : NULL;
}

dfr_deferred *dfr_deferred_from(const dfr_value *v)
{
    return v && v->type == &dfr_type_deferred ? v->u.ptr : NULL;
}
