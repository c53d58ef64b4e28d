package deferred

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestManualClockCallLater(t *testing.T) {
	r := manual(t)
	defer r.Free()
	var order []int
	dc1 := must1(r.CallLater(2*time.Second, func() { order = append(order, 2) }))
	_ = must1(r.CallLater(time.Second, func() { order = append(order, 1) }))
	dc3 := must1(r.CallLater(3*time.Second, func() { order = append(order, 3) }))
	if dc1.Time() != 2*time.Second || !dc1.Active() || r.PendingCalls() != 3 {
		t.Fatalf("time %v active %v pending %d", dc1.Time(), dc1.Active(), r.PendingCalls())
	}
	ok(t, dc3.Cancel())
	if err := dc3.Cancel(); !errors.Is(err, ErrAlreadyCancelled) {
		t.Fatal(err)
	}
	ok(t, dc1.Delay(500*time.Millisecond))
	ok(t, r.Advance(2*time.Second))
	if len(order) != 1 || order[0] != 1 {
		t.Fatalf("order %v", order)
	}
	ok(t, r.Advance(time.Second))
	if len(order) != 2 || dc1.Active() || dc1.Time() != -1 || r.Now() != 3*time.Second {
		t.Fatalf("order %v now %v", order, r.Now())
	}
	if err := dc1.Cancel(); !errors.Is(err, ErrAlreadyRan) {
		t.Fatal(err)
	}
	ran := false
	dc4 := must1(r.CallLater(time.Second, func() { ran = true }))
	ok(t, r.Advance(500*time.Millisecond))
	ok(t, dc4.Reset(time.Second)) // now due at 3.5 + 1 s
	ok(t, r.Advance(600*time.Millisecond))
	if ran || dc4.Time() != 4500*time.Millisecond {
		t.Fatalf("reset: ran %v time %v", ran, dc4.Time())
	}
	ok(t, r.Advance(time.Second))
	if !ran {
		t.Fatal("reset call did not run")
	}
	if _, err := r.CallLater(-time.Second, func() {}); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	if err := r.Advance(-1); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	noHandles(t)
}

func TestDeferLaterAndTimeout(t *testing.T) {
	r := manual(t)
	defer r.Free()
	d := must1(r.DeferLater(time.Second, func() (any, error) { return "later", nil }))
	ok(t, r.Advance(time.Second))
	if s := result[string](t, d); s != "later" {
		t.Fatal(s)
	}
	// Cancelling a deferLater cancels its timer.
	d2 := must1(r.DeferLater(time.Second, func() (any, error) { t.Error("ran"); return nil, nil }))
	var got error
	Catch(d2, func(err error) (any, error) { got = err; return nil, nil })
	ok(t, d2.Cancel())
	if !errors.Is(got, ErrCancelled) || r.PendingCalls() != 0 {
		t.Fatalf("%v, %d pending", got, r.PendingCalls())
	}
	// addTimeout
	d3 := r.NewDeferred()
	ok(t, d3.AddTimeout(5*time.Second))
	ok(t, r.Advance(5*time.Second))
	if _, err := Result[any](d3); !errors.Is(err, ErrTimedOut) {
		t.Fatal(err)
	}
	Catch(d3, func(error) (any, error) { return nil, nil })
	// An error from the function fails it.
	d4 := must1(r.DeferLater(0, func() (any, error) { return nil, errors.New("task failed") }))
	ok(t, r.Advance(0))
	if _, err := Result[any](d4); err == nil || err.Error() != "task failed" {
		t.Fatal(err)
	}
	Catch(d4, func(error) (any, error) { return nil, nil })
	for _, x := range []*Deferred{d, d2, d3, d4} {
		x.Release()
	}
	noHandles(t)
}

func TestLoopingCall(t *testing.T) {
	r := manual(t)
	defer r.Free()
	n := 0
	var lc *LoopingCall
	lc = must1(r.NewLoopingCall(func() (any, error) {
		n++
		if n == 3 {
			return nil, lc.Stop()
		}
		return nil, nil
	}))
	d := must1(lc.Start(time.Second, true))
	if n != 1 || !lc.Running() {
		t.Fatalf("n %d", n)
	}
	// Starting it again gives a deferred failed with ErrAlreadyRunning.
	again := must1(lc.Start(time.Second, false))
	if _, err := Result[any](again); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatal(err)
	}
	Catch(again, func(error) (any, error) { return nil, nil })
	again.Release()
	ok(t, r.Advance(500*time.Millisecond))
	ok(t, lc.Reset()) // the next call is a full interval from now
	ok(t, r.Advance(700*time.Millisecond))
	if n != 1 {
		t.Fatalf("after reset n %d", n)
	}
	ok(t, r.Advance(300*time.Millisecond))
	ok(t, r.Advance(time.Second))
	if n != 3 || lc.Running() || d.State() != Succeeded {
		t.Fatalf("n %d running %v", n, lc.Running())
	}
	if got := result[*LoopingCall](t, d); got != lc {
		t.Fatal("a stopped LoopingCall's deferred fires with it")
	}
	d.Release()
	lc.Free()
	// An error stops it and fails the deferred.
	lc2 := must1(r.NewLoopingCall(func() (any, error) { return nil, ErrOverflow }))
	d2 := must1(lc2.Start(time.Second, true))
	if _, err := Result[any](d2); !errors.Is(err, ErrOverflow) {
		t.Fatal(err)
	}
	Catch(d2, func(error) (any, error) { return nil, nil })
	d2.Release()
	lc2.Free()
	noHandles(t)
}

func TestDeferredListAndGather(t *testing.T) {
	r := manual(t)
	defer r.Free()
	type token struct{ s string }
	tok := &token{"same value"}
	a, b, c := r.NewDeferred(), r.NewDeferred(), r.Succeed(int64(3))
	l := must1(r.DeferredList([]*Deferred{a, b, c}, ConsumeErrors))
	ok(t, a.Callback(tok))
	ok(t, b.Errback(ErrUnderflow))
	es := result[Entries](t, l)
	if len(es) != 3 || !es[0].OK || es[0].Value != tok || es[1].OK || !errors.Is(es[1].Err, ErrUnderflow) ||
		es[2].Value != int64(3) {
		t.Fatalf("%#v", es)
	}
	// a's own chain continues with a clone: the same Go value.
	if result[*token](t, a) != tok {
		t.Fatal("input chain lost the value")
	}
	g := must1(r.Gather([]*Deferred{r.Succeed(1), r.Succeed("two")}, false))
	vals := result[[]any](t, g)
	if vals[0] != int64(1) || vals[1] != "two" {
		t.Fatalf("%#v", vals)
	}
	g2 := must1(r.Gather([]*Deferred{r.Succeed(1), r.Fail(ErrOverflow)}, true))
	_, err := Result[any](g2)
	var f *Failure
	if !errors.As(err, &f) || !errors.Is(err, ErrFirstError) || f.Index != 1 || !errors.Is(err, ErrOverflow) {
		t.Fatalf("%v", err)
	}
	Catch(g2, func(error) (any, error) { return nil, nil })
	if _, err := r.DeferredList([]*Deferred{nil}, 0); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	// Bad flags: the library gives a deferred already failed with EINVAL.
	bad := must1(r.DeferredList(nil, 99))
	if _, err := Result[any](bad); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	Catch(bad, func(error) (any, error) { return nil, nil })
	bad.Release()
	for _, d := range []*Deferred{a, b, c, l, g, g2} {
		d.Release()
	}
	noHandles(t)
}

func TestLockSemaphoreQueue(t *testing.T) {
	r := manual(t)
	defer r.Free()
	l := r.NewLock()
	first := must1(l.Acquire())
	second := must1(l.Acquire())
	if !l.Locked() || l.Waiting() != 1 || second.State() != Pending || first.State() != Succeeded {
		t.Fatal("lock state")
	}
	ok(t, l.Release())
	if second.State() != Succeeded {
		t.Fatal("second did not get the lock")
	}
	ok(t, l.Release())
	if err := l.Release(); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	run := must1(l.Run(func() (any, error) { return "locked work", nil }))
	if result[string](t, run) != "locked work" || l.Locked() {
		t.Fatal("run")
	}
	l.Free()

	s := must1(r.NewSemaphore(2))
	_ = must1(s.Acquire())
	_ = must1(s.Acquire())
	w := must1(s.Acquire())
	if s.Tokens() != 0 || s.Waiting() != 1 {
		t.Fatal("semaphore state")
	}
	ok(t, s.Release())
	if w.State() != Succeeded {
		t.Fatal("waiter")
	}
	if _, err := r.NewSemaphore(0); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	pending := must1(s.Acquire())
	var got error
	Catch(pending, func(err error) (any, error) { got = err; return nil, nil })
	s.Free() // waiters fail with ErrCancelled
	if !errors.Is(got, ErrCancelled) {
		t.Fatal(got)
	}

	q := r.NewQueue(1, 1)
	get := must1(q.Get())
	ok(t, q.Put("x"))
	if result[string](t, get) != "x" {
		t.Fatal("get")
	}
	ok(t, q.Put(int64(1)))
	if err := q.Put(2); !errors.Is(err, ErrOverflow) {
		t.Fatal(err)
	}
	if q.Pending() != 1 {
		t.Fatal("pending")
	}
	q.Free() // kept values dropped: their handles released
	noHandles(t)
}

func TestStartCallDoWait(t *testing.T) {
	r := must1(Start(nil))
	defer func() { ok(t, r.Close()) }()
	ctx := context.Background()
	// 4 goroutines x 100 calls: nothing lost, in order per goroutine.
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[int][]int{}
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				ok(t, r.Call(func() {
					if !r.InThread() {
						t.Error("Call ran off the reactor goroutine")
					}
					mu.Lock()
					seen[g] = append(seen[g], i)
					mu.Unlock()
				}))
			}
		}(g)
	}
	wg.Wait()
	_, err := Do[any](ctx, r, func() (any, error) { return nil, nil }) // a barrier
	ok(t, err)
	mu.Lock()
	for g := 0; g < 4; g++ {
		if len(seen[g]) != 100 {
			t.Fatalf("goroutine %d: %d calls", g, len(seen[g]))
		}
		for i, v := range seen[g] {
			if v != i {
				t.Fatal("out of order")
			}
		}
	}
	mu.Unlock()
	// Do with a deferred result on a real clock.
	s, err := Do[string](ctx, r, func() (any, error) {
		return r.DeferLater(10*time.Millisecond, func() (any, error) { return "from the reactor", nil })
	})
	if err != nil || s != "from the reactor" {
		t.Fatal(s, err)
	}
	// None converts to a nil pointer.
	d, err := Do[*Deferred](ctx, r, func() (any, error) { return nil, nil })
	if err != nil || d != nil {
		t.Fatal(err)
	}
	// Context done: the deferred is cancelled on the reactor, Wait returns the cause.
	cause := errors.New("gave up")
	cctx, cancel := context.WithCancelCause(ctx)
	cancelled := make(chan error, 2)
	var pending *Deferred
	ok(t, r.Call(func() {
		pending = r.NewCancellableDeferred(func(d *Deferred) { cancelled <- nil })
		Catch(pending, func(err error) (any, error) { cancelled <- err; return nil, nil })
	}))
	time.AfterFunc(10*time.Millisecond, func() { cancel(cause) })
	_, err = Do[any](cctx, r, func() (any, error) { return pending, nil })
	if err != cause {
		t.Fatalf("Do: %v", err)
	}
	<-cancelled
	if err := <-cancelled; !errors.Is(err, ErrCancelled) {
		t.Fatalf("cancelled with %v", err)
	}
	tctx, tcancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer tcancel()
	var never *Deferred
	ok(t, r.Call(func() { never = r.NewDeferred() }))
	if _, err := Wait[any](tctx, deferredOn(t, r, &never)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait: %v", err)
	}
	// From the reactor goroutine a blocking wait is refused.
	_, err = Do[any](ctx, r, func() (any, error) {
		_, err := Do[any](ctx, r, func() (any, error) { return nil, nil })
		return nil, err
	})
	if !errors.Is(err, ErrDeadlock) {
		t.Fatal(err)
	}
	// A panic in Do's function comes back as an error.
	if _, err := Do[any](ctx, r, func() (any, error) { panic("do") }); !errors.Is(err, ErrPanic) {
		t.Fatal(err)
	}
}

// deferredOn reads a *Deferred set by a Call (after a barrier).
func deferredOn(t *testing.T, r *Reactor, p **Deferred) *Deferred {
	t.Helper()
	ch := make(chan *Deferred, 1)
	ok(t, r.Call(func() { ch <- *p }))
	return <-ch
}

func TestCallPanicStopsRun(t *testing.T) {
	r := manual(t)
	ok(t, r.Call(func() { panic("in Call") }))
	err := r.Run()
	if !errors.Is(err, ErrPanic) {
		t.Fatal(err)
	}
	// A reactor runs once.
	if err := r.Run(); !errors.Is(err, ErrNotRestartable) {
		t.Fatal(err)
	}
	r.Free()
	if err := r.Call(func() {}); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
	if err := r.Stop(); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
	noHandles(t)
}

func TestDeferToThread(t *testing.T) {
	r := must1(Start(nil))
	defer func() { ok(t, r.Close()) }()
	ctx := context.Background()
	for _, defer2 := range []func(*Reactor, func() (int, error)) (*Deferred, error){DeferToThread[int], DeferToCThread[int]} {
		n, err := Do[int](ctx, r, func() (any, error) {
			return defer2(r, func() (int, error) {
				if r.InThread() {
					return 0, errors.New("ran on the reactor goroutine")
				}
				return 42, nil
			})
		})
		if err != nil || n != 42 {
			t.Fatal(n, err)
		}
		_, err = Do[int](ctx, r, func() (any, error) {
			return defer2(r, func() (int, error) { panic("in thread") })
		})
		if !errors.Is(err, ErrPanic) {
			t.Fatal(err)
		}
	}
	if _, err := DeferToThread(r, func() (int, error) { return 0, nil }); !errors.Is(err, ErrNotOwner) {
		t.Fatal(err)
	}
}

func TestStartedReactorPanicReportedByClose(t *testing.T) {
	r := must1(Start(nil))
	ok(t, r.Call(func() { panic("boom") }))
	// Run stops on the panic; Close still works and reports it.
	if err := r.Close(); !errors.Is(err, ErrPanic) {
		t.Fatal(err)
	}
	if err := r.Call(func() {}); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
}

func TestDeferredListFireOnOne(t *testing.T) {
	r := manual(t)
	defer r.Free()
	a, b := r.NewDeferred(), r.NewDeferred()
	l := must1(r.DeferredList([]*Deferred{a, b}, FireOnOneCallback))
	ok(t, b.Callback("b first"))
	es := result[Entries](t, l)
	if len(es) != 2 || es[0].Value != "b first" || es[1].Value != int64(1) {
		t.Fatalf("%#v", es)
	}
	ok(t, a.Callback(nil))
	c, d := r.NewDeferred(), r.NewDeferred()
	l2 := must1(r.DeferredList([]*Deferred{c, d}, FireOnOneErrback|ConsumeErrors))
	ok(t, c.Callback(1))
	ok(t, d.Errback(ErrOverflow))
	_, err := Result[any](l2)
	var f *Failure
	if !errors.As(err, &f) || !errors.Is(err, ErrFirstError) || f.Index != 1 || !errors.Is(err, ErrOverflow) {
		t.Fatal(err)
	}
	Catch(l2, func(error) (any, error) { return nil, nil })
	for _, x := range []*Deferred{a, b, c, d, l, l2} {
		x.Release()
	}
	noHandles(t)
}

func TestObjectsFreedAfterReactor(t *testing.T) {
	r := manual(t)
	lc := must1(r.NewLoopingCall(func() (any, error) { return nil, nil }))
	d := must1(lc.Start(time.Second, false))
	var lcErr error
	Catch(d, func(err error) (any, error) { lcErr = err; return nil, nil })
	l := r.NewLock()
	acq := must1(l.Acquire())
	q := r.NewQueue(Unlimited, Unlimited)
	ok(t, q.Put("kept"))
	r.Free()
	// A running LoopingCall stops with its reactor: its deferred fails.
	if !errors.Is(lcErr, ErrNotRunning) {
		t.Fatalf("LoopingCall after Free: %v", lcErr)
	}
	// Freed after their reactor: nothing runs, everything is released.
	lc.Free()
	l.Free()
	q.Free()
	d.Release()
	acq.Release()
	noHandles(t)
}

// Twisted's withCount: fn gets the calls due since it last ran.
func TestLoopingCallWithCount(t *testing.T) {
	r := manual(t)
	defer r.Free()
	var counts []int
	var d *Deferred
	lc := must1(r.NewLoopingCallWithCount(func(n int) (any, error) {
		counts = append(counts, n)
		if len(counts) == 2 {
			d = r.NewDeferred() // the next call waits for it
			return d, nil
		}
		return nil, nil
	}))
	done := must1(lc.Start(200*time.Millisecond, false))
	ok(t, r.Advance(200*time.Millisecond))
	ok(t, r.Advance(200*time.Millisecond))
	ok(t, r.Advance(400*time.Millisecond)) // two calls missed while d waits
	ok(t, d.Callback(nil))
	ok(t, r.Advance(200*time.Millisecond))
	if fmt.Sprint(counts) != "[1 1 3]" {
		t.Fatalf("counts %v", counts)
	}
	ok(t, lc.Stop())
	d.Release()
	done.Release()
	lc.Free()
	if _, err := r.NewLoopingCallWithCount(nil); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	noHandles(t)
}

// Twisted's onTimeoutCancel: called only when the timeout cancelled d, with
// what the chain held then; its result goes on.
func TestAddTimeoutWith(t *testing.T) {
	r := manual(t)
	defer r.Free()
	var seen []error
	override := func(v any, err error) (any, error) {
		seen = append(seen, err)
		return "OVERRIDDEN", nil
	}
	d := r.NewDeferred()
	ok(t, d.AddTimeoutWith(10*time.Second, override))
	ok(t, r.Advance(15*time.Second))
	if s := result[string](t, d); s != "OVERRIDDEN" || len(seen) != 1 || !errors.Is(seen[0], ErrCancelled) {
		t.Fatalf("%q %v", s, seen)
	}
	d.Release()
	// Fired first: not called.
	e := r.NewDeferred()
	ok(t, e.AddTimeoutWith(10*time.Second, override))
	ok(t, e.Callback("in time"))
	ok(t, r.Advance(15*time.Second))
	if s := result[string](t, e); s != "in time" || len(seen) != 1 {
		t.Fatalf("%q %v", s, seen)
	}
	e.Release()
	// A panic in it fails the chain with it.
	f := r.NewDeferred()
	ok(t, f.AddTimeoutWith(time.Second, func(any, error) (any, error) { panic("boom") }))
	ok(t, r.Advance(time.Second))
	if _, err := Result[any](f); !errors.Is(err, ErrPanic) {
		t.Fatal(err)
	}
	Catch(f, func(error) (any, error) { return nil, nil })
	f.Release()
	// Bad input and a freed deferred release the function.
	g := r.NewDeferred()
	if err := g.AddTimeoutWith(-time.Second, override); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	if err := g.AddTimeoutWith(time.Second, nil); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	ok(t, g.AddTimeoutWith(time.Second, override))
	g.Release()
	noHandles(t)
}
