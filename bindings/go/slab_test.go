package deferred

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// Slots are taken and given back exactly once on every path: fired, dropped
// unfired on the reactor's goroutine, dropped from another goroutine (the
// locked path), across several blocks, and reused after each.
func TestSlabSlotsExactlyOnce(t *testing.T) {
	r := manual(t)
	defer r.Free()
	base := liveRefs()
	ran := 0
	count := func(v any) (any, error) { ran++; return v, nil }
	for round := 0; round < 3; round++ {
		fired, local, remote := r.NewDeferred(), r.NewDeferred(), r.NewDeferred()
		for i := 0; i < 1500; i++ { // more than a block each
			ok(t, fired.AddCallback(count))
			ok(t, local.AddCallback(count))
			ok(t, remote.AddCallback(count))
		}
		if n := liveRefs() - base; n != 4500 {
			t.Fatalf("round %d: %d slots live, want 4500", round, n)
		}
		ok(t, fired.Callback(nil))
		local.Release()
		done := make(chan struct{})
		go func() { defer close(done); remote.Release() }() // not the reactor's thread
		<-done
		fired.Release()
		if n := liveRefs() - base; n != 0 {
			t.Fatalf("round %d: %d slots still live", round, n)
		}
	}
	if ran != 3*1500 {
		t.Fatalf("ran %d callbacks, want %d", ran, 3*1500)
	}
}

// A callback that never ran is dropped by the Go side (its closure can be
// collected) once its slot comes back.
func TestSlabDropsUnrunCallbacks(t *testing.T) {
	r := manual(t)
	defer r.Free()
	var collected atomic.Bool
	func() {
		big := new([1 << 16]byte)
		runtime.AddCleanup(big, func(*atomic.Bool) { collected.Store(true) }, &collected)
		d := r.NewDeferred()
		ok(t, d.AddCallback(func(v any) (any, error) { return big[0], nil }))
		d.Release()
		r.flush() // Release batches its call into C
	}()
	// The next use of the slab clears what the destroy hooks gave back.
	d := r.NewDeferred()
	ok(t, d.AddCallback(func(v any) (any, error) { return v, nil }))
	d.Release()
	deadline := time.Now().Add(2 * time.Second)
	for !collected.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the closure of a callback that never ran is still referenced")
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}

// Deferreds with Go callbacks outliving their reactor: their slots come back
// after the reactor's slab was handed over (and freed by the last one).
func TestSlabOutlivesReactor(t *testing.T) {
	r := manual(t)
	ds := make([]*Deferred, 3)
	for i := range ds {
		ds[i] = r.NewDeferred()
		ok(t, ds[i].AddCallback(func(v any) (any, error) { return v, nil }))
	}
	r.Free()
	if liveRefs() < 3 {
		t.Fatalf("live %d, want at least 3", liveRefs())
	}
	done := make(chan struct{})
	go func() { defer close(done); ds[0].Release() }()
	<-done
	ds[1].Release()
	ds[2].Release()
	noHandles(t)
}
