/* Timers: a 4-ary min-heap of pending calls ordered by (time, scheduling
 * order), with entries stored inline, driven by one uv_timer_t armed for the
 * earliest deadline.  Handles (dfr_delayed_call) exist only for calls whose
 * caller asked for one. */
#include "reactor/reactor_internal.h"

#include <math.h>
#include <string.h>

enum { DC_PENDING, DC_CALLED, DC_CANCELLED };
#define DC_MAGIC 0x44434c4cu /* "DCLL" */
#define DC_DEAD 0xdeadca11u

struct dfr_delayed_call {
    atomic_uint refs; /* the caller's, plus the heap's while pending */
    uint32_t magic;   /* checked in debug mode: catches use after the last unref */
    uint32_t state;
    uint32_t index;   /* position in the heap while pending */
    dfr_reactor *r;   /* NULL once the reactor is gone */
};

/* ---- the heap ---- */

#define ARITY 4

static inline bool earlier(const dfr__timer_entry *a, const dfr__timer_entry *b)
{
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

static inline void place(dfr__timer_heap *h, size_t i, const dfr__timer_entry *e)
{
    h->e[i] = *e;
    if (e->handle)
        e->handle->index = (uint32_t)i;
}

static void sift_up(dfr__timer_heap *h, size_t i)
{
    dfr__timer_entry e = h->e[i];
    while (i > 0) {
        size_t parent = (i - 1) / ARITY;
        if (!earlier(&e, &h->e[parent]))
            break;
        place(h, i, &h->e[parent]);
        i = parent;
    }
    place(h, i, &e);
}

static void sift_down(dfr__timer_heap *h, size_t i)
{
    dfr__timer_entry e = h->e[i];
    for (;;) {
        size_t first = i * ARITY + 1;
        if (first >= h->len)
            break;
        size_t best = first;
        size_t end = first + ARITY < h->len ? first + ARITY : h->len;
        for (size_t c = first + 1; c < end; c++)
            if (earlier(&h->e[c], &h->e[best]))
                best = c;
        if (!earlier(&h->e[best], &e))
            break;
        place(h, i, &h->e[best]);
        i = best;
    }
    place(h, i, &e);
}

/* Remove entry i and return it. */
static dfr__timer_entry heap_remove(dfr__timer_heap *h, size_t i)
{
    dfr__timer_entry out = h->e[i];
    h->len--;
    if (i < h->len) {
        place(h, i, &h->e[h->len]);
        if (i > 0 && earlier(&h->e[i], &h->e[(i - 1) / ARITY]))
            sift_up(h, i);
        else
            sift_down(h, i);
    }
    return out;
}

static void heap_update(dfr__timer_heap *h, size_t i)
{
    if (i > 0 && earlier(&h->e[i], &h->e[(i - 1) / ARITY]))
        sift_up(h, i);
    else
        sift_down(h, i);
}

static int heap_reserve(dfr__timer_heap *h)
{
    if (h->len < h->cap)
        return 0;
    size_t cap = h->cap ? h->cap * 2 : 64;
    if (cap > UINT32_MAX || cap > SIZE_MAX / sizeof(dfr__timer_entry))
        return DFR_ENOMEM;
    dfr__timer_entry *e = dfr__realloc(h->e, cap * sizeof(dfr__timer_entry));
    if (!e)
        return DFR_ENOMEM;
    h->e = e;
    h->cap = cap;
    return 0;
}

void dfr__timers_init(dfr__timer_heap *h)
{
    memset(h, 0, sizeof *h);
}

int64_t dfr__timers_next(const dfr__timer_heap *h)
{
    return h->len ? h->e[0].time : INT64_MAX;
}

/* ---- handles ---- */

static pthread_mutex_t quarantine_lock = PTHREAD_MUTEX_INITIALIZER;
static dfr_delayed_call *quarantine[1024];
static size_t quarantine_next;

/* Release the quarantine (when debug mode is switched off; never by
 * dfr_trim). */
static void quarantine_trim(void)
{
    pthread_mutex_lock(&quarantine_lock);
    for (size_t i = 0; i < sizeof quarantine / sizeof quarantine[0]; i++) {
        dfr__free(quarantine[i]);
        quarantine[i] = NULL;
    }
    pthread_mutex_unlock(&quarantine_lock);
}
static dfr__hook quarantine_hook = {.fn = quarantine_trim};

static void handle_free(dfr_delayed_call *dc)
{
    dc->magic = DC_DEAD;
    if (!dfr__debug_on()) {
        dfr__free(dc);
        return;
    }
    /* Debug mode keeps recently freed handles poisoned (not reused) for a
     * while, so a use after the last unref is reported, not undefined.  One
     * leaves only when a newer one evicts it or debug mode is switched off
     * (not by dfr_trim: a thread's exit must not free another's). */
    dfr__on_debug_off(&quarantine_hook);
    pthread_mutex_lock(&quarantine_lock);
    dfr_delayed_call *old = quarantine[quarantine_next];
    quarantine[quarantine_next] = dc;
    quarantine_next = (quarantine_next + 1) % (sizeof quarantine / sizeof quarantine[0]);
    pthread_mutex_unlock(&quarantine_lock);
    dfr__free(old);
}

static bool handle_ok(const dfr_delayed_call *dc)
{
    return dc && dc->magic == DC_MAGIC;
}

dfr_delayed_call *dfr_delayed_call_ref(dfr_delayed_call *dc)
{
    if (handle_ok(dc))
        dfr__ref_add(&dc->refs);
    return dc;
}

void dfr_delayed_call_unref(dfr_delayed_call *dc)
{
    if (handle_ok(dc) && dfr__release_last(&dc->refs))
        handle_free(dc);
}

static int handle_error(const dfr_delayed_call *dc)
{
    if (!handle_ok(dc))
        return DFR_EINVAL;
    if (dc->r && !dfr__on_reactor_thread(dc->r))
        return DFR_ENOTOWNER;
    if (dc->state == DC_CALLED)
        return DFR_EALREADY_RAN;
    if (dc->state == DC_CANCELLED || !dc->r)
        return DFR_EALREADY_CANCELLED;
    return 0;
}

/* ---- scheduling ---- */

int dfr_reactor_call_later(dfr_reactor *r, double delay, dfr_fn fn, void *data, dfr_destroy_fn destroy,
                   dfr_delayed_call **out)
{
    int64_t ns;
    if (out)
        *out = NULL;
    int rc = dfr__reactor_check(r);
    if (!rc && (!fn || !dfr__seconds_to_ns(delay, false, &ns)))
        rc = DFR_EINVAL;
    if (rc) {
        dfr__destroy(destroy, data);
        return rc;
    }
    return dfr__call_later_ns(r, ns, fn, data, destroy, out);
}

int dfr__call_later_ns(dfr_reactor *r, int64_t ns, dfr_fn fn, void *data, dfr_destroy_fn destroy,
                       dfr_delayed_call **out)
{
    dfr_delayed_call *dc = NULL;
    if (out) {
        dc = dfr__malloc(sizeof *dc);
        if (!dc) {
            dfr__destroy(destroy, data);
            return DFR_ENOMEM;
        }
        atomic_init(&dc->refs, 2);
        dc->magic = DC_MAGIC;
        dc->state = DC_PENDING;
        dc->r = r;
    }
    dfr__timer_heap *h = &r->timers;
    if (heap_reserve(h) != 0) {
        if (dc)
            dfr__free(dc);
        dfr__destroy(destroy, data);
        return DFR_ENOMEM;
    }
    dfr__timer_entry e = {dfr__ns_add(dfr__reactor_now(r), ns), h->next_seq++, {{.call = fn}, data, destroy},
                     dc};
    h->e[h->len++] = e;
    sift_up(h, h->len - 1);
    if (h->e[0].seq == e.seq)
        dfr__reactor_arm_timer(r);
    if (out)
        *out = dc;
    return 0;
}

void dfr__timers_run_due(dfr_reactor *r, int64_t now)
{
    dfr__timer_heap *h = &r->timers;
    /* Calls scheduled from here on wait for the next pass. */
    uint64_t limit = h->next_seq;
    while (h->len && h->e[0].time <= now && h->e[0].seq < limit) {
        dfr__timer_entry e = heap_remove(h, 0);
        if (e.handle) {
            e.handle->state = DC_CALLED;
            e.handle->r = NULL; /* done with r: the handle may outlive it */
        }
        dfr__closure_call(&e.call);
        if (e.handle)
            dfr_delayed_call_unref(e.handle);
    }
}

void dfr__timers_clear(dfr_reactor *r)
{
    dfr__timer_heap *h = &r->timers;
    while (h->len) {
        dfr__timer_entry e = h->e[--h->len];
        if (e.handle) {
            e.handle->state = DC_CANCELLED;
            e.handle->r = NULL;
        }
        dfr__closure_release(&e.call);
        if (e.handle)
            dfr_delayed_call_unref(e.handle);
    }
    dfr__free(h->e);
    h->e = NULL;
    h->cap = 0;
}

size_t dfr_reactor_pending_calls(const dfr_reactor *r)
{
    return r && dfr__on_reactor_thread(r) ? r->timers.len : 0;
}

/* ---- operations on a handle ---- */

int dfr_delayed_call_cancel(dfr_delayed_call *dc)
{
    int rc = handle_error(dc);
    if (rc)
        return rc;
    dfr_reactor *r = dc->r;
    dfr__timer_entry e = heap_remove(&r->timers, dc->index);
    dc->state = DC_CANCELLED;
    dc->r = NULL;
    if (dc->index == 0)
        dfr__reactor_arm_timer(r);
    dfr_delayed_call_unref(dc); /* the heap's reference */
    /* Last: destroy may free the reactor (a binding's finalizer). */
    dfr__closure_release(&e.call);
    return 0;
}

static int reschedule(dfr_delayed_call *dc, int64_t time)
{
    dfr_reactor *r = dc->r;
    dfr__timer_heap *h = &r->timers;
    size_t i = dc->index;
    h->e[i].time = time;
    /* A rescheduled call goes behind others due at the same time. */
    h->e[i].seq = h->next_seq++;
    heap_update(h, i);
    dfr__reactor_arm_timer(r);
    return 0;
}

int dfr_delayed_call_reset(dfr_delayed_call *dc, double delay)
{
    int rc = handle_error(dc);
    if (rc)
        return rc;
    int64_t ns;
    if (!dfr__seconds_to_ns(delay, false, &ns))
        return DFR_EINVAL;
    return reschedule(dc, dfr__ns_add(dfr__reactor_now(dc->r), ns));
}

int dfr_delayed_call_delay(dfr_delayed_call *dc, double seconds)
{
    int rc = handle_error(dc);
    if (rc)
        return rc;
    int64_t ns;
    if (!dfr__seconds_to_ns(seconds, true, &ns))
        return DFR_EINVAL;
    return reschedule(dc, dfr__ns_add(dc->r->timers.e[dc->index].time, ns));
}

bool dfr_delayed_call_active(const dfr_delayed_call *dc)
{
    return handle_error(dc) == 0;
}

double dfr_delayed_call_time(const dfr_delayed_call *dc)
{
    if (!handle_ok(dc))
        return NAN;
    if (handle_error(dc) != 0)
        return NAN;
    return (double)dc->r->timers.e[dc->index].time / 1e9;
}
