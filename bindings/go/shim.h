/* The binding's C side: trampolines from the library's callbacks into Go and
 * the few wrappers that take a cgo.Handle (an integer, never a Go pointer) as
 * the callback data.  Every call into the library that passes Go callbacks is
 * here, one place per concept, so a rename of the C API is a sed. */
#ifndef DFRGO_SHIM_H
#define DFRGO_SHIM_H

#include <deferred.h>
#include <pthread.h>
#include <stdlib.h>

/* Build-time version check (as git2go does): the binding is written against
 * libdeferred 0.2 and works with any later 0.x; a header too old to carry
 * its version, or of another major version, fails the build here.  cgo.go
 * checks the loaded library against the same numbers at init. */
#if !defined(DFR_VERSION_MAJOR) || !defined(DFR_VERSION_MINOR)
#error "bindings/go needs libdeferred >= 0.2: this deferred.h is older (no DFR_VERSION_MAJOR)"
#elif DFR_VERSION_MAJOR != 0 || DFR_VERSION_MINOR < 2
#error "bindings/go needs libdeferred 0.x with x >= 2: this deferred.h is another version"
#endif
/* (DeferredList flags are an enum since 0.2: checked by _Static_assert below.) */
#if !defined(DFR_UNLIMITED) || !defined(DFR_DOMAIN)
#error "bindings/go needs libdeferred >= 0.1: this deferred.h is too old"
#endif

/* Constants the Go side spells out (so go doc shows them). */
_Static_assert(DFR_FIRE_ON_ONE_CALLBACK == 1 && DFR_FIRE_ON_ONE_ERRBACK == 2 &&
                   DFR_CONSUME_ERRORS == 4,
               "bindings/go: DeferredList flags changed in deferred.h");
_Static_assert(DFR_PENDING == 0 && DFR_SUCCEEDED == 1 && DFR_FAILED == 2,
               "bindings/go: dfr_state values changed in deferred.h");
_Static_assert(sizeof(dfr_value) == 16, "bindings/go: dfr_value is not 16 bytes");

/* Kinds of value, as the Go side sees them (value_c.go). */
enum {
    DFRGO_NONE = 0, DFRGO_I64, DFRGO_F64, DFRGO_BYTES, DFRGO_FAILURE,
    DFRGO_DEFERRED, DFRGO_LIST, DFRGO_PTR, DFRGO_GO, DFRGO_OTHER
};

const dfr_type *dfrgo_go_type(void);
dfr_value dfrgo_value_go(uintptr_t h);
dfr_value dfrgo_value_failure(dfr_failure *f);
dfr_value dfrgo_value_deferred(dfr_deferred *d);
const char *dfrgo_domain(const char *name);

/* Callbacks with a Go function as data. */
/* The calling thread's id (cached per thread): the slab's releases use it to
 * tell the reactor's thread from others; Go's owner checks use it where
 * internal/gid has no fast goroutine identity. */
long dfrgo_tid(void);
uintptr_t dfrgo_go_handle(const dfr_value *v);
typedef struct dfrgo_release {
    uintptr_t h;
} dfrgo_release;

/* A reactor's slab of Go callbacks (slab.c): a callback pair's C data is a
 * record in a block that never moves, naming its slab and slot; the Go
 * functions sit at that slot of a Go slice.  The reactor's thread takes and
 * returns slots without locks or calls into Go: Go pops `free` directly, the
 * destroy hook pushes back (a pair that never ran goes to `zombie`, whose Go
 * functions Go clears before reusing the slot).  Releases from other threads,
 * or once the reactor is freed, go to the r* stacks under mu. */
typedef struct dfrgo_slab dfrgo_slab;
typedef struct dfrgo_rec {
    dfrgo_slab *slab;
    uint32_t idx;
    uint32_t ran; /* 0: not run, 1: ran, 2: handed to a hop (it returns the slot) */
} dfrgo_rec;
struct dfrgo_slab {
    /* the owner thread's (Go reads and writes these directly) */
    uint32_t *free, *zombie;
    uint32_t nfree, nzombie, cap; /* cap: slots in blocks */
    uint32_t scap;                /* room in each stack (grows by doubling) */
    long live; /* slots handed out whose destroy did not run, as seen by the owner */
    dfrgo_rec **blocks;
    long tid;
    dfr_reactor *r;
    uint32_t id; /* the Go side's index */
    /* other threads', under mu */
    pthread_mutex_t mu;
    int orphaned; /* the reactor was freed: every release takes mu */
    uint32_t *rfree, *rzombie;
    uint32_t nrfree, nrzombie;
    long rlive; /* releases in the r* stacks (live - rlive is the true count) */
};
dfrgo_slab *dfrgo_slab_new(dfr_reactor *r, long tid, uint32_t id);
/* Owner: take the other threads' releases and grow when nothing is free;
 * DFR_ENOMEM when out of memory. */
int dfrgo_slab_refill(dfrgo_slab *s);
/* Owner, at reactor free: frees s when no slot is live (returns 1), else
 * leaves it to the last release (returns 0). */
int dfrgo_slab_orphan(dfrgo_slab *s);
long dfrgo_slab_live(dfrgo_slab *s);
/* Ids of orphaned slabs freed by their last release since the last call (up
 * to n into out): the Go side reuses them and drops its half. */
size_t dfrgo_take_dead_slabs(uint32_t *out, size_t n);
void dfrgo_slot_release(dfrgo_rec *rec, int ran);
dfrgo_rec *dfrgo_slot_rec(dfrgo_slab *s, uint32_t idx);
/* Adds tr_callback/tr_errback with each slot's record as data, in order:
 * n slots, the first two by value (a, b), the others in more.  A slot is an
 * index with DFRGO_SLOT_CB/EB for which it has.  On failure the slots not
 * added are given back (their destroy hooks ran or will not be needed).
 * The hot wrappers take C pointers as integers and small counts by value:
 * cgo then has no pointer to check on the way in. */
#define DFRGO_SLOT_CB (1u << 31)
#define DFRGO_SLOT_EB (1u << 30)
int dfrgo_add(uintptr_t d, uintptr_t s, size_t n, uint32_t a, uint32_t b, const uint32_t *more);
/* dfrgo_add of one slot, and dfrgo_fire of up to two with the value as two
 * integers (its type pointer and its 8 bytes): no pointer argument at all,
 * so cgo checks nothing (the hot paths). */
int dfrgo_add1(uintptr_t d, uintptr_t s, uint32_t a);
int dfrgo_fire2(uintptr_t d, uintptr_t s, size_t n, uint32_t a, uint32_t b, uintptr_t vtype,
                uint64_t vbits);
/* dfrgo_add then dfr_deferred_callback(d, v) (v dropped on failure). */
int dfrgo_fire(uintptr_t d, uintptr_t s, size_t n, uint32_t a, uint32_t b, const uint32_t *more,
               dfr_value v);
size_t dfrgo_take_releases(dfrgo_release *out, size_t max);
extern volatile int dfrgo_releases_pending;
dfr_deferred *dfrgo_deferred_new_cancellable(uintptr_t h);
int dfrgo_call_from_thread(dfr_reactor *r, uintptr_t h);
/* Wake the reactor to drain the Go queue of reactor h (no destroy: h lives
 * until the reactor is freed). */
int dfrgo_post(dfr_reactor *r, uintptr_t h);
int dfrgo_call_later(dfr_reactor *r, double delay, uintptr_t h, dfr_delayed_call **out);
dfr_deferred *dfrgo_defer_later(dfr_reactor *r, double delay, uintptr_t h);
dfr_looping_call *dfrgo_looping_call_new(dfr_reactor *r, uintptr_t h);
int dfrgo_add_timeout_with(dfr_deferred *d, dfr_reactor *r, double seconds, uintptr_t h);
/* Route unhandled failures to Go (on != 0) or back to the library's stderr
 * default (unhandled.go). */
void dfrgo_set_unhandled(int on);
dfr_deferred *dfrgo_lock_run(dfr_lock *l, uintptr_t h);
dfr_deferred *dfrgo_semaphore_run(dfr_semaphore *s, uintptr_t h);
dfr_deferred *dfrgo_defer_to_thread(dfr_reactor *r, uintptr_t h);
dfr_reactor *dfrgo_reactor_new(bool manual, unsigned tmin, unsigned tmax);
void dfrgo_floor(void);
/* One deferred's pending Go callbacks (at most two slots), handed to C in a
 * batch (a released DeferToThread wrapper's: lifecycle.go). */
typedef struct {
    dfr_deferred *d;
    uint32_t n, a, b;
} dfrgo_pending;
/* One call into C for a batch of Release and NewDeferred: adds the pending
 * callbacks (slab s), drops n references, then makes m new deferreds of refs
 * references each (NULL when out of memory). */
void dfrgo_batch(const dfrgo_pending *adds, size_t nadds, uintptr_t s, dfr_deferred **unref,
                 size_t n, dfr_deferred **fresh, size_t m, int refs);
/* The results of a batch of DeferToThread tasks, in one call: each d gets
 * its n (<= 2) pending slots a, b of slab s, fires with v (when fire; else v
 * is dropped) and loses the task's reference. */
typedef struct dfrgo_fire {
    dfr_deferred *d;
    dfr_value v;
    uint32_t n, a, b;
} dfrgo_result;
void dfrgo_fire_many(dfrgo_result *fs, size_t n, uintptr_t s, int fire);

#endif
