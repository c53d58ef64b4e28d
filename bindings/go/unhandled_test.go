package deferred

import (
	"sync/atomic"
	"testing"
)

func TestUnhandledHookPanicAndRemoval(t *testing.T) {
	r := manual(t)
	defer r.Free()
	var calls atomic.Int32
	SetUnhandledErrorHook(func(error) { calls.Add(1); panic("in the hook") })
	defer SetUnhandledErrorHook(nil)
	d := r.Fail(&genericErr{"first"})
	d.Release()
	r.flush() // the hook's panic is dropped, not unwound through C
	if calls.Load() != 1 {
		t.Fatal(calls.Load())
	}
	SetUnhandledErrorHook(nil) // back to stderr: the hook is not called
	d = r.Fail(&genericErr{"printed to stderr by the library (expected in this test's output)"})
	d.Release()
	r.flush()
	if calls.Load() != 1 {
		t.Fatal(calls.Load())
	}
}
