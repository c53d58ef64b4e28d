package deferred

// #include "shim.h"
import "C"

import (
	"runtime"
	"unsafe"
)

// A Deferred wrapper's life, made cheap for the common case (made, used and
// released within one turn of the reactor) while a dropped one is still
// released by the garbage collector:
//   - young: made on the reactor's goroutine and listed in r.young, which
//     keeps it alive; no cleanup yet (runtime.AddCleanup costs more than the
//     rest of a deferred's cycle);
//   - guarded: a cleanup will drop the C reference if the wrapper becomes
//     unreachable.  The reactor guards its young wrappers not yet released
//     when the list is full, on each entry into Go from the loop and when
//     it is freed; wrappers made elsewhere are guarded at once;
//   - released: Release ran (once).
//
// Release on the reactor's goroutine queues the C reference in r.unrefs; the
// queue is dropped in one call into C with the next batch of new deferreds
// (NewDeferred takes them from r.fresh), when full, on each entry into Go
// from the loop and when the reactor is freed.  Other goroutines drop theirs
// at once (dfr_deferred_unref is thread-safe).
const (
	young int32 = iota
	guarded
	released
)

const (
	youngMax = 1024 // young wrappers before they are guarded
	batchMax = 64   // fresh deferreds made, or references dropped, per call
)

func wrapDeferred(r *Reactor, c *C.dfr_deferred) *Deferred {
	if r.InThread() {
		return r.wrapOwned(c)
	}
	d := &Deferred{r: r, c: c}
	d.guard()
	return d
}

// wrapOwned is wrapDeferred on r's goroutine.
func (r *Reactor) wrapOwned(c *C.dfr_deferred) *Deferred {
	d := &Deferred{r: r, c: c}
	if r.c == nil {
		d.guard()
		return d
	}
	r.young = append(r.young, d)
	if len(r.young) >= youngMax {
		r.guardYoung()
	}
	return d
}

func (d *Deferred) guard() {
	cl := runtime.AddCleanup(d, func(c *C.dfr_deferred) { C.dfr_deferred_unref(c) }, d.c)
	d.cleanup = cl
	if !d.state.CompareAndSwap(young, guarded) { // released meanwhile
		cl.Stop()
	}
}

// guardYoung gives a cleanup to each young wrapper not yet released.  A task's
// wrapper released by another goroutine with callbacks pending gives them to
// C (queued for the next batch, before its result can be delivered).
func (r *Reactor) guardYoung() {
	for _, d := range r.young {
		switch d.state.Load() {
		case young:
			if d.private != public {
				d.expose()
			}
			d.guard()
		case released:
			if d.npend == 0 {
				break
			}
			if d.private == privTask && r.c != nil {
				r.queuePending(d)
				break
			}
			d.dropPending() // nothing will fire it
		}
	}
	clear(r.young)
	r.young = r.young[:0]
}

// queuePending hands a released task's pending callbacks to C with the next
// batch: its C deferred lives on (the task's reference), and C adds them
// before the pool's delivery can fire it (settle batches first).  The pool
// need not keep the wrapper: once the reactor is freed, dropping the task's
// reference releases them in C.
func (r *Reactor) queuePending(d *Deferred) {
	n, a, b := d.publish()
	if n == 0 {
		return
	}
	r.pending = append(r.pending, C.dfrgo_pending{d: d.c, n: C.uint32_t(n), a: a, b: b})
	if len(r.pending) >= batchMax {
		r.flush()
	}
}

// Release drops the Go side's reference to d's C deferred instead of leaving
// it to the garbage collector (an unfired deferred nobody else holds is then
// freed, its callbacks' Go functions released).  On the reactor's goroutine
// the C call is batched: it happens at the latest when the reactor next calls
// into Go or is freed.  Any goroutine; later use of d panics.
func (d *Deferred) Release() {
	if d == nil {
		return
	}
	switch d.state.Swap(released) {
	case released:
		return
	case guarded:
		d.cleanup.Stop()
	}
	r := d.r
	if r.InThread() && r.c != nil {
		switch {
		case d.npend == 0:
		case d.private == privSole:
			d.dropPending() // nothing else can fire it
		case d.private == privTask:
			r.queuePending(d) // they wait for the task's result, in C
		}
		r.unrefs = append(r.unrefs, d.c)
		if len(r.unrefs) >= batchMax {
			r.flush()
		}
		return
	}
	C.dfr_deferred_unref(d.c)
	drainReleases()
}

// freshDeferred takes a new C deferred from the batch (reactor goroutine).
func (r *Reactor) freshDeferred() *C.dfr_deferred {
	return r.takeFresh(&r.fresh, r.freshBuf, 1)
}

// freshTaskDeferred is freshDeferred with two references (DeferToThread).
func (r *Reactor) freshTaskDeferred() *C.dfr_deferred {
	return r.takeFresh(&r.fresh2, r.fresh2Buf, 2)
}

// takeFresh pops one deferred of stack, refilling it (from buf, each with
// refs references) when it is empty.
func (r *Reactor) takeFresh(stack *[]*C.dfr_deferred, buf []*C.dfr_deferred, refs int) *C.dfr_deferred {
	if len(*stack) == 0 {
		*stack = buf[:batchMax]
		r.batch(*stack, refs)
	}
	c := (*stack)[len(*stack)-1]
	*stack = (*stack)[:len(*stack)-1]
	if c == nil {
		panic(ErrNoMemory)
	}
	return c
}

// batch hands C the queued pending callbacks, drops the queued references
// and fills fresh with new deferreds of refs references each, in one call.
func (r *Reactor) batch(fresh []*C.dfr_deferred, refs int) {
	var p *C.dfrgo_pending
	var u, f **C.dfr_deferred
	if len(r.pending) > 0 {
		p = &r.pending[0]
	}
	if len(r.unrefs) > 0 {
		u = &r.unrefs[0]
	}
	if len(fresh) > 0 {
		f = &fresh[0]
	}
	C.dfrgo_batch(p, C.size_t(len(r.pending)), cPtr(unsafe.Pointer(r.slab.c)),
		u, C.size_t(len(r.unrefs)), f, C.size_t(len(fresh)), C.int(refs))
	r.pending = r.pending[:0]
	clear(r.unrefs)
	r.unrefs = r.unrefs[:0]
	drainReleases()
}

// flush hands C what is queued now.
func (r *Reactor) flush() {
	if len(r.unrefs) > 0 || len(r.pending) > 0 {
		r.batch(nil, 0)
	}
}

// settle runs on each entry into Go from the loop (young wrappers first:
// that may queue pending callbacks, which the flush then hands to C).
func (r *Reactor) settle() {
	if len(r.young) > 0 {
		r.guardYoung()
	}
	r.flush()
}

// retire, at Free: queued references and unused fresh deferreds are dropped,
// young wrappers guarded (they may outlive the reactor).
func (r *Reactor) retire() {
	r.unrefs = append(r.unrefs, r.fresh...)
	r.unrefs = append(append(r.unrefs, r.fresh2...), r.fresh2...) // two each
	clear(r.fresh)
	clear(r.fresh2)
	r.fresh, r.fresh2 = nil, nil
	r.guardYoung()
	r.flush()
	if r.pool != nil {
		r.pool.close()
	}
}
