package deferred

// #include "shim.h"
import "C"

import (
	"runtime"
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

// guardYoung gives a cleanup to each young wrapper not yet released.  A
// released task's wrapper whose callbacks wait for its result moves to
// r.awaiting until the result comes (the pool delivers them) or the reactor
// goes.
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
				r.await(d)
				break
			}
			d.dropPending() // nothing will fire it
		}
	}
	clear(r.young)
	r.young = r.young[:0]
}

// await lists a released task's wrapper with callbacks pending; delivered
// ones are dropped from the list whenever it doubles (amortized).
func (r *Reactor) await(d *Deferred) {
	if len(r.awaiting) >= 2*r.awaitMark {
		keep := r.awaiting[:0]
		for _, w := range r.awaiting {
			if w.npend > 0 {
				keep = append(keep, w)
			}
		}
		clear(r.awaiting[len(keep):])
		r.awaiting = keep
		r.awaitMark = max(len(keep), youngMax)
	}
	r.awaiting = append(r.awaiting, d)
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
		if d.private == privSole {
			d.dropPending() // nothing else can fire it
		} // a task's wait for its result (guardYoung keeps d listed)
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

// batch drops the queued references and fills fresh with new deferreds of
// refs references each, in one call into C.
func (r *Reactor) batch(fresh []*C.dfr_deferred, refs int) {
	var u, f **C.dfr_deferred
	if len(r.unrefs) > 0 {
		u = &r.unrefs[0]
	}
	if len(fresh) > 0 {
		f = &fresh[0]
	}
	C.dfrgo_batch(u, C.size_t(len(r.unrefs)), f, C.size_t(len(fresh)), C.int(refs))
	clear(r.unrefs)
	r.unrefs = r.unrefs[:0]
	drainReleases()
}

// flush drops the queued references now.
func (r *Reactor) flush() {
	if len(r.unrefs) > 0 {
		r.batch(nil, 0)
	}
}

// settle runs on each entry into Go from the loop.
func (r *Reactor) settle() {
	if len(r.unrefs) > 0 {
		r.batch(nil, 0)
	}
	if len(r.young) > 0 {
		r.guardYoung()
	}
}

// retire, at Free: queued references and unused fresh deferreds are dropped,
// young wrappers guarded (they may outlive the reactor).
func (r *Reactor) retire() {
	r.unrefs = append(r.unrefs, r.fresh...)
	r.unrefs = append(append(r.unrefs, r.fresh2...), r.fresh2...) // two each
	clear(r.fresh)
	clear(r.fresh2)
	r.fresh, r.fresh2 = nil, nil
	r.flush()
	r.guardYoung()
	for _, d := range r.awaiting { // their results will not be delivered
		d.dropPending()
	}
	r.awaiting = nil
	if r.pool != nil {
		r.pool.close()
	}
}
