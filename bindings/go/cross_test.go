package deferred

import (
	"context"
	"testing"
	"time"
	"unsafe"

	"github.com/libdeferred/libdeferred/bindings/go/internal/ctest"
)

// takeC wraps a C deferred reference in Go and drops the C one.
func takeC(r *Reactor, p unsafe.Pointer) *Deferred {
	if p == nil {
		panic("C returned NULL")
	}
	d := WrapC(r, p)
	ctest.Unref(p)
	return d
}

func TestCrossCTimerConsumedInGo(t *testing.T) {
	r := manual(t)
	defer r.Free()
	d := takeC(r, ctest.DeferLater(r.C(), 2, 41))
	var got int
	Then(d, func(n int) (int, error) { got = n + 1; return got, nil })
	ok(t, r.Advance(2*time.Second))
	if got != 42 {
		t.Fatal(got)
	}
	d.Release()
	noHandles(t)
}

func TestCrossCPoolJobConsumedInGo(t *testing.T) {
	r := must1(Start(nil))
	defer func() { ok(t, r.Close()) }()
	n, err := Do[int64](context.Background(), r, func() (any, error) {
		return takeC(r, ctest.PoolFib(r.C(), 90)), nil
	})
	if err != nil || n != 2880067194370816120 {
		t.Fatal(n, err)
	}
}

func TestCrossGoDeferredInCList(t *testing.T) {
	r := manual(t)
	defer r.Free()
	type payload struct{ name string }
	p := &payload{"go value"}
	goD := r.NewDeferred()
	l := takeC(r, ctest.List(r.C(), goD.C()))
	ok(t, goD.Callback(p))
	if l.State() != Pending {
		t.Fatal("list fired before the C timer")
	}
	ok(t, r.Advance(0))
	es := result[Entries](t, l)
	if len(es) != 3 || es[0].Value != p || es[1].Value != int64(7) || string(es[2].Value.([]byte)) != "c" {
		t.Fatalf("%#v", es)
	}
	goD.Release()
	l.Release()
	noHandles(t)
}

func TestCrossCCoroutineAwaitsGoDeferred(t *testing.T) {
	r := manual(t)
	defer r.Free()
	goD := r.NewDeferred()
	co := takeC(r, ctest.CoroAwait(goD.C()))
	var got int64
	Then(co, func(n int64) (any, error) { got = n; return nil, nil })
	ok(t, goD.Callback(int64(41)))
	if got != 42 {
		t.Fatal(got)
	}
	goD.Release()
	co.Release()
	noHandles(t)
}

func TestCrossGoCallbackOnCoroutineStack(t *testing.T) {
	r := manual(t)
	defer r.Free()
	a, b := r.NewDeferred(), r.NewDeferred()
	var got []int64
	// The coroutine fires b on its own stack, where Go cannot run (Go aborts
	// with "morestack on g0"): b's Go callbacks hop to the reactor loop.
	Then(b, func(n int64) (int64, error) { got = append(got, n); return n + 1, nil })
	Then(b, func(n int64) (any, error) {
		got = append(got, n)
		inner := r.Succeed(n + 1) // Go calling C again from there
		defer inner.Release()
		return Result[int64](inner)
	})
	co := takeC(r, ctest.CoroFire(a.C(), b.C()))
	ok(t, a.Callback(int64(1)))
	// The callbacks hop off the coroutine's stack to the reactor loop.
	if len(got) != 0 || b.State() != Pending {
		t.Fatalf("Go ran on the coroutine's stack: %v", got)
	}
	ok(t, r.Iterate(0))
	if len(got) != 2 || got[0] != 1 || got[1] != 2 || result[int64](t, b) != 3 || co.State() != Succeeded {
		t.Fatalf("got %v", got)
	}
	for _, d := range []*Deferred{a, b, co} {
		d.Release()
	}
	noHandles(t)
}

func TestCrossGoValueDroppedOnCoroutineStack(t *testing.T) {
	r := manual(t)
	defer r.Free()
	a := r.NewDeferred()
	co := takeC(r, ctest.CoroDrop(a.C()))
	// The coroutine drops the Go value on its own stack: the handle's
	// release waits for the next call into Go from a normal stack.
	ok(t, a.Callback(&struct{ n int }{1}))
	if co.State() != Succeeded {
		t.Fatal("coroutine did not finish")
	}
	a.Release()
	co.Release()
	noHandles(t)
}
