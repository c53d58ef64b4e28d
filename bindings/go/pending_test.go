package deferred

import (
	"errors"
	"fmt"
	"testing"
	"unsafe"

	"github.com/libdeferred/libdeferred/bindings/go/internal/ctest"
)

// Callbacks added to a deferred C has not seen wait in Go; every way C can
// reach the deferred gives them to C first, in order, so nothing observable
// changes.
func TestPendingCallbacksReachCFirst(t *testing.T) {
	r := manual(t)
	defer r.Free()
	var log []string
	add := func(d *Deferred, n int) {
		for i := 0; i < n; i++ {
			name := fmt.Sprint(i)
			ok(t, d.AddCallbacks(func(v any) (any, error) { log = append(log, "cb"+name); return v, nil },
				func(err error) (any, error) { log = append(log, "eb"+name); return nil, err }))
		}
	}
	ways := map[string]func(d *Deferred){
		"Callback": func(d *Deferred) { ok(t, d.Callback(nil)) },
		"Errback":  func(d *Deferred) { ok(t, d.Errback(errors.New("x"))) },
		"Cancel":   func(d *Deferred) { ok(t, d.Cancel()) },
		"State then Callback": func(d *Deferred) {
			if d.State() != Pending {
				t.Fatal("not pending")
			}
			ok(t, d.Callback(nil))
		},
		"Pause, Callback, Unpause": func(d *Deferred) {
			ok(t, d.Pause())
			ok(t, d.Callback(nil))
			if len(log) != 0 {
				t.Fatal("ran while paused")
			}
			ok(t, d.Unpause())
		},
		"chained": func(d *Deferred) {
			src := r.NewDeferred()
			ok(t, src.Chain(d))
			ok(t, src.Callback(nil))
			src.Release()
		},
		"in a C DeferredList": func(d *Deferred) {
			l := takeC(r, ctest.List(r.C(), d.C()))
			ok(t, d.Callback(nil))
			ok(t, r.Advance(0))
			l.Release()
		},
		"awaited by a C coroutine": func(d *Deferred) {
			co := takeC(r, ctest.CoroAwait(d.C()))
			ok(t, d.Callback(int64(1)))
			co.Release()
		},
		"returned from a callback": func(d *Deferred) {
			outer := r.NewDeferred()
			ok(t, outer.AddCallback(func(any) (any, error) { return d, nil }))
			ok(t, outer.Callback(nil))
			ok(t, d.Callback(nil))
			outer.Release()
		},
	}
	for name, fire := range ways {
		for _, n := range []int{1, 2, 3, 40} { // inline, and beyond d's own buffer
			log = nil
			d := r.NewDeferred()
			add(d, n)
			fire(d)
			if len(log) != n {
				t.Fatalf("%s, %d callbacks: ran %v", name, n, log)
			}
			for i, e := range log {
				if e[2:] != fmt.Sprint(i) {
					t.Fatalf("%s: out of order: %v", name, log)
				}
			}
			// Added once it has a result: runs at once.
			ran := false
			ok(t, d.AddBoth(func(v any, err error) (any, error) { ran = true; return nil, nil }))
			if !ran {
				t.Fatalf("%s: a callback added after the result did not run at once", name)
			}
			d.Release()
		}
	}
	noHandles(t)
}

// Pending callbacks of a deferred released or dropped unfired never run and
// are released exactly once, whoever releases it.
func TestPendingCallbacksReleased(t *testing.T) {
	r := manual(t)
	defer r.Free()
	base := liveRefs()
	never := func(v any) (any, error) { t.Error("ran"); return v, nil }
	for _, n := range []int{1, 3} {
		d := r.NewDeferred()
		for i := 0; i < n; i++ {
			ok(t, d.AddCallback(never))
		}
		d.Release()
		if got := liveRefs() - base; got != 0 {
			t.Fatalf("released on the reactor goroutine: %d live", got)
		}
		d = r.NewDeferred()
		for i := 0; i < n; i++ {
			ok(t, d.AddCallback(never))
		}
		done := make(chan struct{})
		go func() { defer close(done); d.Release() }()
		<-done
		if got := liveRefs() - base; got != 0 {
			t.Fatalf("released by another goroutine: %d live", got)
		}
	}
	func() {
		d := r.NewDeferred()
		Then(d, func(v any) (any, error) { return v, nil })
		Then(d, func(v any) (any, error) { return v, nil })
		Then(d, func(v any) (any, error) { return v, nil })
	}()
	noHandles(t) // dropped: guarded (its callbacks given to C), then collected
}

// A DeferToThread deferred released before its task ends still runs the
// callbacks added to it (the task holds its own reference), whoever released
// it; one released before any callback was added just fires.
func TestTaskDeferredReleasedEarly(t *testing.T) {
	r := must1(Start(nil))
	defer func() { ok(t, r.Close()) }()
	const n = 50
	got := make(chan int, 3*n)
	ok(t, r.Call(func() {
		for i := 0; i < n; i++ {
			release := make(chan struct{})
			for j, how := range []string{"here", "there", "none"} {
				d := must1(DeferToThread(r, func() (int, error) { <-release; return i, nil }))
				if how != "none" {
					ok(t, d.AddCallback(func(v any) (any, error) { got <- int(v.(int64)); return v, nil }))
					Then(d, func(v int64) (any, error) { return nil, nil })
				}
				switch how {
				case "here":
					d.Release()
				case "there":
					go d.Release()
				default:
					d.Release()
				}
				_ = j
			}
			close(release)
		}
	}))
	for i := 0; i < 2*n; i++ {
		<-got
	}
	ok(t, r.Call(func() {}))
	noHandles(t)
}

// Tasks still running when their reactor is freed: their results fire
// nothing, and everything they held is released (their C references, the
// callbacks that waited for them).
func TestTasksOutliveReactor(t *testing.T) {
	r := manual(t)
	release := make(chan struct{})
	ended := make(chan struct{}, 4)
	for i := 0; i < 4; i++ {
		d := must1(DeferToThread(r, func() (int, error) {
			defer func() { ended <- struct{}{} }()
			<-release
			return i, nil
		}))
		ok(t, d.AddCallback(func(v any) (any, error) { t.Error("ran after Free"); return v, nil }))
		if i%2 == 0 {
			d.Release()
		}
	}
	r.Free()
	close(release)
	for i := 0; i < 4; i++ {
		<-ended
	}
	noHandles(t)
}

// A released task's callbacks run in the order added, however many wait (up
// to two travel to C in the batch's record, more in a call of their own).
func TestTaskDeferredReleasedCallbackOrder(t *testing.T) {
	r := must1(Start(nil))
	defer func() { ok(t, r.Close()) }()
	for _, n := range []int{1, 2, 3, 5} {
		got := make(chan []int, 1)
		ok(t, r.Call(func() {
			d := must1(DeferToThread(r, func() (int, error) { return 0, nil }))
			var order []int
			for i := 0; i < n; i++ {
				ok(t, d.AddCallback(func(v any) (any, error) {
					if order = append(order, i); len(order) == n {
						got <- order
					}
					return v, nil
				}))
			}
			d.Release()
		}))
		order := <-got
		for i, v := range order {
			if v != i {
				t.Fatalf("%d callbacks: ran in order %v", n, order)
			}
		}
	}
	ok(t, r.Call(func() {}))
	noHandles(t)
}

// A wrapper is allocated per deferred: it stays in the 48-byte size class
// (more than two pending callbacks live in the reactor, not in it).
func TestDeferredWrapperSize(t *testing.T) {
	if got := unsafe.Sizeof(Deferred{}); got > 48 {
		t.Fatalf("Deferred is %d bytes, want at most 48", got)
	}
}

// Pending lists of many wrappers at once, freed and reused while callbacks
// run (a callback of one wrapper's list fills another's), stay each in
// order and release every slot.
func TestPendingListsInterleaved(t *testing.T) {
	r := manual(t)
	defer r.Free()
	base := liveRefs()
	var log []string
	mk := func(name string, n int) *Deferred {
		d := r.NewDeferred()
		for i := 0; i < n; i++ {
			s := fmt.Sprint(name, i)
			ok(t, d.AddCallback(func(v any) (any, error) { log = append(log, s); return v, nil }))
		}
		return d
	}
	a, b, c := mk("a", 5), mk("b", 3), mk("c", 4)
	dropped := mk("x", 6)
	dropped.Release() // its list is freed for reuse
	var inner *Deferred
	ok(t, a.AddCallback(func(v any) (any, error) {
		inner = mk("i", 7) // takes a list while a's is being handed to C
		ok(t, inner.Callback(nil))
		return v, nil
	}))
	ok(t, a.Callback(nil))
	ok(t, c.Callback(nil))
	ok(t, b.Callback(nil))
	want := "[a0 a1 a2 a3 a4 i0 i1 i2 i3 i4 i5 i6 c0 c1 c2 c3 b0 b1 b2]"
	if got := fmt.Sprint(log); got != want {
		t.Fatalf("ran %s, want %s", got, want)
	}
	for _, d := range []*Deferred{a, b, c, inner} {
		d.Release()
	}
	if got := liveRefs() - base; got != 0 {
		t.Fatalf("%d slots live", got)
	}
	if n := len(r.pendLists) - len(r.pendFree); n != 0 {
		t.Fatalf("%d pending lists still taken", n)
	}
}
