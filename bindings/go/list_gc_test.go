package deferred

import (
	"testing"
)

// A pending DeferredList and its inputs, left to the garbage collector
// unfired and uncancelled: the C library breaks the list's cycle, so every
// callback and canceller handle comes back (the cleanups drop the C
// references on a goroutine of their own).
func TestDeferredListDroppedUnfiredIsCollected(t *testing.T) {
	r := manual(t)
	defer r.Free()
	func() {
		a := r.NewCancellableDeferred(func(*Deferred) {})
		b := r.NewCancellableDeferred(func(*Deferred) {})
		Then(a, func(v any) (any, error) { return v, nil })
		l := must1(r.DeferredList([]*Deferred{a, b}, ConsumeErrors))
		Then(l, func(v any) (any, error) { return v, nil })
		g := must1(r.Gather([]*Deferred{l, r.NewDeferred()}, true))
		Catch(g, func(error) (any, error) { return nil, nil })
	}()
	noHandles(t)
}

// Released explicitly, in the order the list was built (inputs first).
func TestDeferredListReleasedUnfired(t *testing.T) {
	r := manual(t)
	defer r.Free()
	a := r.NewCancellableDeferred(func(*Deferred) {})
	b := r.NewDeferred()
	Then(b, func(v any) (any, error) { return v, nil })
	l := must1(r.DeferredList([]*Deferred{a, b}, 0))
	Then(l, func(v any) (any, error) { return v, nil })
	a.Release()
	b.Release()
	l.Release()
	noHandles(t)
}
