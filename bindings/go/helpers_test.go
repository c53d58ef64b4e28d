package deferred

import (
	"runtime"
	"testing"
	"time"
)

// manual makes a manual-clock reactor owned by the test's goroutine.
func manual(t *testing.T) *Reactor {
	t.Helper()
	r, err := NewReactor(&Options{ManualClock: true})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// noHandles checks every cgo.Handle given to C came back through a destroy
// hook (after the garbage collector ran the deferreds' cleanups).
func noHandles(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		settleAll()
		runtime.GC()
		n := liveRefs()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d cgo handles still held by C", n)
		}
		time.Sleep(time.Millisecond)
	}
}

func must1[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func result[T any](t *testing.T, d *Deferred) T {
	t.Helper()
	v, err := Result[T](d)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// settleAll lets every reactor guard its young deferreds (so that dropped
// ones can be collected) and drop its queued references: directly for the
// caller's reactors, through a Call for the others.
func settleAll() {
	for _, r := range reactors() {
		if r.InThread() {
			if r.c != nil {
				r.settle()
			}
		} else {
			_ = r.Call(func() {})
		}
	}
}
