#include "shim.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "_cgo_export.h"

/* ---- Go must not run on a C coroutine's stack ----
 * Go checks its system stack's bounds on every call into Go from C on a
 * Go-made thread (the reactor's) and aborts ("morestack on g0") when C
 * switched stacks.  So every trampoline first asks dfr_in_coroutine(): there,
 * callbacks hop to the reactor loop (see tr_callback), handle releases wait
 * in this list for the next call into Go from a normal stack, and other Go
 * functions fail instead of running. */
static pthread_mutex_t rel_mu = PTHREAD_MUTEX_INITIALIZER;
static dfrgo_release *rel;
static size_t nrel, caprel;
volatile int dfrgo_releases_pending; /* a hint read by Go without a call */

static void release_later(uintptr_t h)
{
    pthread_mutex_lock(&rel_mu);
    if (nrel == caprel) {
        size_t cap = caprel ? 2 * caprel : 64;
        dfrgo_release *grown = realloc(rel, cap * sizeof *rel);
        if (grown) {
            rel = grown;
            caprel = cap;
        }
    }
    if (nrel < caprel) /* out of memory: the handle leaks, nothing worse */
        rel[nrel++].h = h;
    dfrgo_releases_pending = 1;
    pthread_mutex_unlock(&rel_mu);
}

size_t dfrgo_take_releases(dfrgo_release *out, size_t max)
{
    pthread_mutex_lock(&rel_mu);
    size_t n = nrel < max ? nrel : max;
    memcpy(out, rel + (nrel - n), n * sizeof *out);
    nrel -= n;
    dfrgo_releases_pending = nrel > 0;
    pthread_mutex_unlock(&rel_mu);
    return n;
}

static void release_handle(uintptr_t h)
{
    if (dfr_in_coroutine())
        release_later(h);
    else
        goDestroy(h);
}

/* A Go value in C: u.ptr points to a small C box holding a cgo.Handle (an
 * integer), never a Go pointer.  clone shares the box (a DeferredList gives
 * the input's chain a clone: no call into Go); the last drop releases the
 * handle. */
typedef struct gobox {
    atomic_long refs;
    uintptr_t h;
} gobox;

static void go_drop(void *p)
{
    gobox *b = p;
    if (atomic_fetch_sub(&b->refs, 1) != 1)
        return;
    release_handle(b->h);
    free(b);
}

static dfr_value go_clone(const dfr_value *v);
static const dfr_type go_type = {sizeof(dfr_type), "go", go_drop, go_clone};

static dfr_value go_clone(const dfr_value *v)
{
    gobox *b = v->u.ptr;
    atomic_fetch_add(&b->refs, 1);
    return dfr_obj(&go_type, b);
}

uintptr_t dfrgo_go_handle(const dfr_value *v) { return ((const gobox *)v->u.ptr)->h; }

const dfr_type *dfrgo_go_type(void) { return &go_type; }

dfr_value dfrgo_value_go(uintptr_t h)
{
    gobox *b = malloc(sizeof *b);
    if (!b) {
        goDestroy(h);
        return dfr_value_failure(dfr_failure_new(DFR_DOMAIN, DFR_ENOMEM, "out of memory"));
    }
    atomic_init(&b->refs, 1);
    b->h = h;
    return dfr_obj(&go_type, b);
}

dfr_value dfrgo_value_failure(dfr_failure *f) { return dfr_value_failure(f); }
dfr_value dfrgo_value_deferred(dfr_deferred *d) { return dfr_value_deferred(d); }

/* Failure domains must be static strings: each distinct Go domain is copied
 * once and kept for the life of the process. */
static pthread_mutex_t domains_mu = PTHREAD_MUTEX_INITIALIZER;
static char **domains;
static size_t ndomains;

const char *dfrgo_domain(const char *name)
{
    const char *out = NULL;
    pthread_mutex_lock(&domains_mu);
    for (size_t i = 0; i < ndomains && !out; i++)
        if (strcmp(domains[i], name) == 0) out = domains[i];
    if (!out) {
        char **grown = realloc(domains, (ndomains + 1) * sizeof *domains);
        char *copy = strdup(name);
        if (grown) domains = grown;
        if (grown && copy) {
            domains[ndomains++] = copy;
            out = copy;
        } else {
            free(copy);
        }
    }
    pthread_mutex_unlock(&domains_mu);
    return out;
}

/* ---- trampolines: C calls these, they call Go ---- */

static void tr_destroy(void *data) { release_handle((uintptr_t)data); }

static dfr_value on_coroutine_failure(void)
{
    return dfr_value_failure(dfr_failure_new(DFR_DOMAIN, DFR_ENOTOWNER,
                                             "a Go function cannot run on a C coroutine's stack"));
}

/* A callback pair's data is its slot's record (slab.c): Go clears the slot's
 * functions when the pair runs (one crossing, not two) and the destroy hook
 * gives the slot back without calling into Go. */
static void tr_rec_destroy(void *data)
{
    dfrgo_rec *rec = data;
    if (rec->ran != 2) /* a hop gives the slot back itself */
        dfrgo_slot_release(rec, rec->ran);
}

/* A callback reached on a coroutine's stack runs on the reactor loop
 * instead: the chain gets a deferred that fires with the callback's result.
 * The hop owns the slot from then on. */
typedef struct hop {
    dfrgo_rec *rec;
    int is_err, done;
    dfr_value v;
    dfr_deferred *p;
} hop;

static void hop_run(void *data)
{
    hop *o = data;
    dfr_value out = dfr_none();
    o->done = 1;
    dfr_value v = o->v;
    o->v = dfr_none();
    goCallback(o->rec->slab->id, o->rec->idx, o->is_err, &v, &out);
    dfrgo_slot_release(o->rec, 1);
    if (dfr_is_deferred(out)) {
        dfr_deferred_chain(dfr_deferred_from(&out), o->p);
        dfr_value_drop(out);
    } else {
        dfr_deferred_callback(o->p, out);
    }
}

static void hop_destroy(void *data)
{
    hop *o = data;
    if (!o->done) {
        dfrgo_slot_release(o->rec, 0);
        dfr_deferred_errback(o->p, dfr_failure_new(DFR_DOMAIN, DFR_ENOTRUNNING,
                                                   "reactor freed before a Go callback ran"));
    }
    dfr_value_drop(o->v);
    dfr_deferred_unref(o->p);
    free(o);
}

static dfr_value hop_to_loop(dfrgo_rec *rec, int is_err, dfr_value result)
{
    hop *o = malloc(sizeof *o);
    dfr_deferred *p = dfr_deferred_new();
    if (!o || !p) {
        free(o);
        dfr_deferred_unref(p);
        dfr_value_drop(result);
        rec->ran = 0; /* given back by the destroy hook, later */
        return dfr_value_failure(dfr_failure_new(DFR_DOMAIN, DFR_ENOMEM, "out of memory"));
    }
    o->rec = rec;
    o->is_err = is_err;
    o->done = 0;
    o->v = result;
    o->p = dfr_deferred_ref(p);
    rec->ran = 2;
    dfr_reactor_call_from_thread(rec->slab->r, hop_run, o, hop_destroy); /* on error hop_destroy ran */
    return dfr_value_deferred(p);
}

static dfr_value tr_callback(dfr_value result, void *data)
{
    dfrgo_rec *rec = data;
    dfr_value out = dfr_none();
    if (dfr_in_coroutine())
        return hop_to_loop(rec, 0, result);
    rec->ran = 1;
    goCallback(rec->slab->id, rec->idx, 0, &result, &out);
    return out;
}

static dfr_value tr_errback(dfr_value result, void *data)
{
    dfrgo_rec *rec = data;
    dfr_value out = dfr_none();
    if (dfr_in_coroutine())
        return hop_to_loop(rec, 1, result);
    rec->ran = 1;
    goCallback(rec->slab->id, rec->idx, 1, &result, &out);
    return out;
}

/* A one-shot reactor call (call_from_thread, call_later): Go deletes the
 * handle when the call runs, so destroy crosses into Go only when it never
 * ran. */
typedef struct fbox {
    uintptr_t h;
    int ran;
} fbox;

static void tr_fn(void *data)
{
    fbox *b = data;
    if (dfr_in_coroutine()) /* never there: the loop runs these */
        return;
    b->ran = 1;
    goFn(b->h);
}

static void tr_fbox_destroy(void *data)
{
    fbox *b = data;
    if (!b->ran)
        release_handle(b->h);
    free(b);
}

static fbox *fbox_new(uintptr_t h)
{
    fbox *b = malloc(sizeof *b);
    if (!b) {
        goDestroy(h);
        return NULL;
    }
    b->h = h;
    b->ran = 0;
    return b;
}

static dfr_value tr_task(void *data)
{
    dfr_value out = dfr_none();
    if (dfr_in_coroutine())
        return on_coroutine_failure();
    goTask((uintptr_t)data, &out);
    return out;
}

/* On a coroutine's stack the Go canceller is skipped: the deferred then
 * fails with DFR_ECANCELLED as without a canceller. */
static void tr_canceller(dfr_deferred *d, void *data)
{
    if (!dfr_in_coroutine())
        goCanceller((uintptr_t)data, d);
}

/* ---- wrappers taking a handle ---- */

static __thread long tls_tid;

long dfrgo_tid(void)
{
    if (!tls_tid)
        tls_tid = (long)syscall(SYS_gettid);
    return tls_tid;
}

int dfrgo_add(uintptr_t d, uintptr_t s, size_t n, uint32_t a, uint32_t b, const uint32_t *more)
{
    dfrgo_slab *slab = (dfrgo_slab *)s;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t slot = i == 0 ? a : i == 1 ? b : more[i - 2];
        dfrgo_rec *rec = dfrgo_slot_rec(slab, slot & (DFRGO_SLOT_EB - 1));
        if (rc) { /* never reached the deferred */
            dfrgo_slot_release(rec, 0);
            continue;
        }
        rc = dfr_deferred_add_callbacks((dfr_deferred *)d,
                                        slot & DFRGO_SLOT_CB ? tr_callback : NULL,
                                        slot & DFRGO_SLOT_EB ? tr_errback : NULL, rec,
                                        tr_rec_destroy); /* on failure destroy ran */
    }
    return rc;
}

int dfrgo_add1(uintptr_t d, uintptr_t s, uint32_t a) { return dfrgo_add(d, s, 1, a, 0, NULL); }

int dfrgo_fire2(uintptr_t d, uintptr_t s, size_t n, uint32_t a, uint32_t b, uintptr_t vtype,
                uint64_t vbits)
{
    dfr_value v;
    v.type = (const dfr_type *)vtype;
    _Static_assert(sizeof v.u == sizeof vbits, "bindings/go: dfr_value's union is not 8 bytes");
    memcpy(&v.u, &vbits, sizeof vbits);
    return dfrgo_fire(d, s, n, a, b, NULL, v);
}

int dfrgo_fire(uintptr_t d, uintptr_t s, size_t n, uint32_t a, uint32_t b, const uint32_t *more,
               dfr_value v)
{
    int rc = dfrgo_add(d, s, n, a, b, more);
    if (rc) {
        dfr_value_drop(v);
        return rc;
    }
    return dfr_deferred_callback((dfr_deferred *)d, v);
}

dfr_deferred *dfrgo_deferred_new_cancellable(uintptr_t h)
{
    return dfr_deferred_new_cancellable(tr_canceller, (void *)h, tr_destroy);
}

int dfrgo_call_from_thread(dfr_reactor *r, uintptr_t h)
{
    fbox *b = fbox_new(h);
    return b ? dfr_reactor_call_from_thread(r, tr_fn, b, tr_fbox_destroy) : DFR_ENOMEM;
}

static void tr_drain(void *data)
{
    if (!dfr_in_coroutine()) /* never there: the loop runs these */
        goDrain((uintptr_t)data);
}

int dfrgo_post(dfr_reactor *r, uintptr_t h)
{
    return dfr_reactor_call_from_thread(r, tr_drain, (void *)h, NULL);
}

int dfrgo_call_later(dfr_reactor *r, double delay, uintptr_t h, dfr_delayed_call **out)
{
    fbox *b = fbox_new(h);
    return b ? dfr_reactor_call_later(r, delay, tr_fn, b, tr_fbox_destroy, out) : DFR_ENOMEM;
}

dfr_deferred *dfrgo_defer_later(dfr_reactor *r, double delay, uintptr_t h)
{
    return dfr_reactor_defer_later(r, delay, h ? tr_task : NULL, (void *)h, h ? tr_destroy : NULL);
}

dfr_looping_call *dfrgo_looping_call_new(dfr_reactor *r, uintptr_t h)
{
    return dfr_looping_call_new(r, tr_task, (void *)h, tr_destroy);
}

/* addTimeout's onTimeoutCancel in Go (not on a coroutine's stack: there the
 * result becomes the usual "no Go on a C coroutine" failure). */
static dfr_value tr_on_timeout(dfr_value result, void *data)
{
    dfr_value out = dfr_none();
    if (dfr_in_coroutine()) {
        dfr_value_drop(result);
        return on_coroutine_failure();
    }
    goOnTimeout((uintptr_t)data, &result, &out);
    return out;
}

int dfrgo_add_timeout_with(dfr_deferred *d, dfr_reactor *r, double seconds, uintptr_t h)
{
    return dfr_deferred_add_timeout_with(d, r, seconds, tr_on_timeout, (void *)h, tr_destroy);
}

dfr_deferred *dfrgo_lock_run(dfr_lock *l, uintptr_t h)
{
    return dfr_lock_run(l, tr_task, (void *)h, tr_destroy);
}

dfr_deferred *dfrgo_semaphore_run(dfr_semaphore *s, uintptr_t h)
{
    return dfr_semaphore_run(s, tr_task, (void *)h, tr_destroy);
}

dfr_deferred *dfrgo_defer_to_thread(dfr_reactor *r, uintptr_t h)
{
    return dfr_reactor_defer_to_thread(r, tr_task, (void *)h, tr_destroy);
}

dfr_reactor *dfrgo_reactor_new(bool manual, unsigned tmin, unsigned tmax)
{
    dfr_reactor_options o;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.manual_clock = manual;
    o.threadpool_min = tmin;
    o.threadpool_max = tmax;
    return dfr_reactor_new(&o);
}

/* The cgo floor: one Go->C call that makes one C->Go call (benchmarks). */
void dfrgo_floor(void) { goNoop(); }

void dfrgo_batch(const dfrgo_pending *adds, size_t nadds, uintptr_t s, dfr_deferred **unref,
                 size_t n, dfr_deferred **fresh, size_t m, int refs)
{
    for (size_t i = 0; i < nadds; i++) /* a failure released the slots (dfrgo_add) */
        (void)dfrgo_add((uintptr_t)adds[i].d, s, adds[i].n, adds[i].a, adds[i].b, NULL);
    for (size_t i = 0; i < n; i++)
        dfr_deferred_unref(unref[i]);
    for (size_t i = 0; i < m; i++) {
        fresh[i] = dfr_deferred_new();
        for (int k = 1; k < refs && fresh[i]; k++)
            dfr_deferred_ref(fresh[i]);
    }
}

void dfrgo_fire_many(dfrgo_result *fs, size_t n, uintptr_t s, int fire)
{
    for (size_t i = 0; i < n; i++) {
        dfrgo_result *f = &fs[i];
        if (fire)
            dfrgo_fire((uintptr_t)f->d, s, f->n, f->a, f->b, NULL, f->v);
        else
            dfr_value_drop(f->v);
        dfr_deferred_unref(f->d);
    }
}

/* ---- unhandled failures (unhandled.go) ---- */

static void print_unhandled(const dfr_failure *f)
{
    char *text = dfr_failure_describe(f);
    fprintf(stderr, "Unhandled error in Deferred:\n%s", text ? text : "(out of memory)\n");
    free(text);
}

/* Go cannot run on a coroutine's stack: a failure dropped there is printed
 * as the library would; so is one reaching Go after the hook was removed. */
static void tr_unhandled(const dfr_failure *f, void *data)
{
    (void)data;
    if (dfr_in_coroutine() || !goUnhandled((dfr_failure *)f))
        print_unhandled(f);
}

void dfrgo_set_unhandled(int on) { dfr_set_unhandled_error_hook(on ? tr_unhandled : NULL, NULL); }
