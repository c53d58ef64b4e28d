// Package ctest is C code for the binding's cross-language tests: deferreds
// made and fired by C (a C timer, a C thread-pool job, a C coroutine), and a
// C DeferredList over deferreds from both languages.  Test files cannot use
// cgo, so the C side lives here; pointers cross as unsafe.Pointer.
package ctest

/*
#cgo pkg-config: deferred
#include <deferred.h>
#include <stdlib.h>

static dfr_value answer(void *data) { return dfr_i64(*(int64_t *)data); }

// deferLater from C: fires with v after secs, through a C timer.
static dfr_deferred *c_defer_later(dfr_reactor *r, double secs, int64_t v)
{
    int64_t *p = malloc(sizeof *p);
    if (!p) return NULL;
    *p = v;
    return dfr_reactor_defer_later(r, secs, answer, p, free);
}

static int64_t fib(int64_t n)
{
    int64_t a = 0, b = 1;
    for (int64_t i = 0; i < n; i++) { int64_t t = a + b; a = b; b = t; }
    return a;
}

static dfr_value fib_task(void *data) { return dfr_i64(fib(*(int64_t *)data)); }

// A C thread-pool job computing fib(n).
static dfr_deferred *c_pool_fib(dfr_reactor *r, int64_t n)
{
    int64_t *p = malloc(sizeof *p);
    if (!p) return NULL;
    *p = n;
    return dfr_reactor_defer_to_thread(r, fib_task, p, free);
}

// A DeferredList of go_d (made in Go), a succeeded C deferred (7) and a C
// timer firing with bytes "c".
static dfr_value bytes_c(void *data) { (void)data; return dfr_bytes_new("c", 1); }

static dfr_deferred *c_list(dfr_reactor *r, dfr_deferred *go_d)
{
    dfr_deferred *ds[3] = {go_d, dfr_succeed(dfr_i64(7)), dfr_reactor_defer_later(r, 0, bytes_c, NULL, NULL)};
    dfr_deferred *l = (ds[1] && ds[2]) ? dfr_deferred_list(ds, 3, 0) : NULL;
    dfr_deferred_unref(ds[1]);
    dfr_deferred_unref(ds[2]);
    return l;
}

// A C coroutine awaiting d (made and fired in Go): fires with its i64 + 1.
static dfr_value coro_body(void *data)
{
    dfr_value v = dfr_await((dfr_deferred *)data);
    if (!dfr_is_i64(v)) return v;
    return dfr_i64(v.u.i64 + 1);
}

static dfr_deferred *c_coro_await(dfr_deferred *d)
{
    return dfr_inline_callbacks(coro_body, dfr_deferred_ref(d), NULL);
}

// A C coroutine that awaits a, then fires b (made in Go, with Go callbacks)
// from its own stack: Go runs there.
typedef struct two { dfr_deferred *a, *b; } two;

static dfr_value coro_fire(void *data)
{
    two *t = data;
    dfr_value v = dfr_await(dfr_deferred_ref(t->a));
    dfr_deferred_callback(t->b, v);
    return dfr_none();
}

static void two_free(void *data)
{
    two *t = data;
    dfr_deferred_unref(t->a);
    dfr_deferred_unref(t->b);
    free(t);
}

static dfr_deferred *c_coro_fire(dfr_deferred *a, dfr_deferred *b)
{
    two *t = malloc(sizeof *t);
    if (!t) return NULL;
    t->a = dfr_deferred_ref(a);
    t->b = dfr_deferred_ref(b);
    return dfr_inline_callbacks(coro_fire, t, two_free);
}

// A C coroutine that awaits d and drops its value on its own stack.
static dfr_value coro_drop(void *data)
{
    dfr_value_drop(dfr_await((dfr_deferred *)data));
    return dfr_none();
}

static dfr_deferred *c_coro_drop(dfr_deferred *d)
{
    return dfr_inline_callbacks(coro_drop, dfr_deferred_ref(d), NULL);
}
*/
import "C"

import "unsafe"

// DeferLater: a C timer's deferred firing with v after secs (caller's
// reference: Unref it).
func DeferLater(r unsafe.Pointer, secs float64, v int64) unsafe.Pointer {
	return unsafe.Pointer(C.c_defer_later((*C.dfr_reactor)(r), C.double(secs), C.int64_t(v)))
}

// PoolFib: fib(n) on the reactor's C thread pool.
func PoolFib(r unsafe.Pointer, n int64) unsafe.Pointer {
	return unsafe.Pointer(C.c_pool_fib((*C.dfr_reactor)(r), C.int64_t(n)))
}

// List: a C DeferredList of goD, a C-succeeded 7 and a C timer's "c".
func List(r, goD unsafe.Pointer) unsafe.Pointer {
	return unsafe.Pointer(C.c_list((*C.dfr_reactor)(r), (*C.dfr_deferred)(goD)))
}

// CoroAwait: a C coroutine awaiting d; fires with d's int64 + 1.
func CoroAwait(d unsafe.Pointer) unsafe.Pointer {
	return unsafe.Pointer(C.c_coro_await((*C.dfr_deferred)(d)))
}

// Unref drops a C reference.
func Unref(d unsafe.Pointer) { C.dfr_deferred_unref((*C.dfr_deferred)(d)) }

// CoroFire: a C coroutine awaiting a, then firing b with a's result from the
// coroutine's stack.
func CoroFire(a, b unsafe.Pointer) unsafe.Pointer {
	return unsafe.Pointer(C.c_coro_fire((*C.dfr_deferred)(a), (*C.dfr_deferred)(b)))
}

// CoroDrop: a C coroutine awaiting d and dropping its value on its stack.
func CoroDrop(d unsafe.Pointer) unsafe.Pointer {
	return unsafe.Pointer(C.c_coro_drop((*C.dfr_deferred)(d)))
}
