package deferred

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/libdeferred/libdeferred/bindings/go/internal/gid"
)

// Hostile uses of the API: each gives a clear error (or a documented panic)
// and leaves no cgo handle or callback slot behind.

// panicValue runs fn and gives what it panicked with (nil if it returned).
func panicValue(fn func()) (v any) {
	defer func() { v = recover() }()
	fn()
	return nil
}

func panicsWithErr(t *testing.T, what string, fn func(), target error) {
	t.Helper()
	v := panicValue(fn)
	if err, ok := v.(error); !ok || !errors.Is(err, target) {
		t.Errorf("%s: panicked with %v, want %v", what, v, target)
	}
}

// Free from a function run by Run, Iterate or Advance panics: C would put
// the free off, but the Go side would be gone under the loop (goDrain then
// met a deleted handle and the process died).
func TestHostileFreeInsideLoop(t *testing.T) {
	r := must1(NewReactor(nil))
	ok(t, r.Call(func() { r.Free() }))
	err := r.Run()
	var pe *PanicError
	if !errors.As(err, &pe) || !errors.Is(pe.Value.(error), ErrInvalid) {
		t.Fatalf("Run: %v", err)
	}
	r.Free() // once Run returned
	m := manual(t)
	_ = must1(m.CallLater(time.Second, func() {
		panicsWithErr(t, "Free in Advance", m.Free, ErrInvalid)
	}))
	ok(t, m.Advance(time.Second))
	// Outside the loop a callback may free its reactor.
	d := m.NewDeferred()
	ok(t, d.AddCallback(func(v any) (any, error) { m.Free(); return v, nil }))
	ok(t, d.Callback(1))
	d.Release()
	noHandles(t)
}

// Deferreds of another reactor never reach this one's chains: C would run
// the other reactor's chain on this thread.
func TestHostileForeignDeferreds(t *testing.T) {
	r := manual(t)
	defer r.Free()
	r2 := must1(Start(nil))
	ch := make(chan *Deferred, 1)
	ok(t, r2.Call(func() { ch <- r2.NewDeferred() }))
	foreign := <-ch
	mine := r.NewDeferred()
	if _, err := r.DeferredList([]*Deferred{mine, foreign}, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("DeferredList: %v", err)
	}
	if _, err := r.Gather([]*Deferred{foreign}, false); !errors.Is(err, ErrInvalid) {
		t.Errorf("Gather: %v", err)
	}
	if err := mine.Chain(foreign); !errors.Is(err, ErrInvalid) {
		t.Errorf("Chain: %v", err)
	}
	panicsWithErr(t, "Succeed", func() { r.Succeed(foreign) }, ErrInvalid)
	// returned by a callback: the chain fails instead of waiting for it
	ok(t, mine.AddCallback(func(any) (any, error) { return foreign, nil }))
	ok(t, mine.Callback(1))
	if _, err := Result[any](mine); !errors.Is(err, ErrInvalid) {
		t.Errorf("returned by a callback: %v", err)
	}
	Catch(mine, func(error) (any, error) { return nil, nil })
	mine.Release()
	// Do's fn returning it
	mine2 := r.NewDeferred()
	if _, err := Do[any](context.Background(), r2, func() (any, error) { return mine2, nil }); !errors.Is(err, ErrInvalid) {
		t.Errorf("Do: %v", err)
	}
	mine2.Release()
	foreign.Release()
	ok(t, r2.Close())
	noHandles(t)
}

// A released deferred given to Do, Wait, lists or returned by a callback is
// an error; it no longer stops the reactor (Do's panic did).
func TestHostileReleasedDeferreds(t *testing.T) {
	r := must1(Start(nil))
	ctx := context.Background()
	if _, err := Do[any](ctx, r, func() (any, error) {
		d := r.NewDeferred()
		d.Release()
		return d, nil
	}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Do: %v", err)
	}
	if v, err := Do[int](ctx, r, func() (any, error) { return 5, nil }); v != 5 || err != nil {
		t.Fatalf("reactor after: %v %v", v, err)
	}
	ok(t, r.Close())

	m := manual(t)
	defer m.Free()
	rel := m.NewDeferred()
	rel.Release()
	if _, err := m.DeferredList([]*Deferred{m.NewDeferred(), rel}, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("DeferredList: %v", err)
	}
	if err := m.NewDeferred().Chain(rel); !errors.Is(err, ErrInvalid) {
		t.Errorf("Chain: %v", err)
	}
	panicsWithErr(t, "Callback", func() { _ = rel.Callback(1) }, ErrInvalid)
	panicsWithErr(t, "AddTimeoutWith", func() {
		_ = rel.AddTimeoutWith(time.Second, func(any, error) (any, error) { return nil, nil })
	}, ErrInvalid)
	d := m.NewDeferred()
	ok(t, d.AddCallback(func(any) (any, error) { return rel, nil }))
	ok(t, d.Callback(1))
	if _, err := Result[any](d); !errors.Is(err, ErrInvalid) {
		t.Errorf("returned by a callback: %v", err)
	}
	Catch(d, func(error) (any, error) { return nil, nil })
	d.Release()
	noHandles(t)
}

// A freed reactor makes nothing; a freed Lock, Semaphore, Queue or
// LoopingCall says so instead of giving a failed deferred nobody handles.
func TestHostileUseAfterFree(t *testing.T) {
	r := manual(t)
	l := r.NewLock()
	s := must1(r.NewSemaphore(1))
	q := r.NewQueue(1, 1)
	lc := must1(r.NewLoopingCall(func() (any, error) { return nil, nil }))
	l.Free()
	s.Free()
	q.Free()
	lc.Free()
	fn := func() (any, error) { return nil, nil }
	errs := map[string]error{"Lock.Release": l.Release(), "Semaphore.Release": s.Release(),
		"Queue.Put": q.Put(1), "LoopingCall.Stop": lc.Stop(), "LoopingCall.Reset": lc.Reset()}
	_, errs["Lock.Acquire"] = l.Acquire()
	_, errs["Lock.Run"] = l.Run(fn)
	_, errs["Semaphore.Acquire"] = s.Acquire()
	_, errs["Semaphore.Run"] = s.Run(fn)
	_, errs["Queue.Get"] = q.Get()
	_, errs["LoopingCall.Start"] = lc.Start(time.Second, false)
	for name, err := range errs {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s after Free: %v", name, err)
		}
	}
	if l.Locked() || s.Tokens() != 0 || q.Pending() != 0 || lc.Running() {
		t.Error("freed handles report state")
	}
	r.Free()
	for name, fn := range map[string]func(){
		"NewDeferred":            func() { r.NewDeferred() },
		"NewCancellableDeferred": func() { r.NewCancellableDeferred(nil) },
		"Succeed":                func() { r.Succeed(1) },
		"Fail":                   func() { r.Fail(ErrCancelled) },
		"NewLock":                func() { r.NewLock() },
		"NewQueue":               func() { r.NewQueue(1, 1) },
	} {
		panicsWithErr(t, name+" after Reactor.Free", fn, ErrClosed)
	}
	noHandles(t)
}

type hostileErr struct{ msg string }

func (e *hostileErr) Error() string { return e.msg } // panics on a nil e

// Typed nils as errors: the package's own are refused, others travel with a
// description instead of a nil dereference; a cycle of causes is cut.
func TestHostileTypedNilErrors(t *testing.T) {
	r := manual(t)
	defer r.Free()
	d := r.NewDeferred()
	if err := d.Errback((*Failure)(nil)); !errors.Is(err, ErrInvalid) {
		t.Errorf("Errback(nil *Failure): %v", err)
	}
	if err := d.Errback((*PanicError)(nil)); !errors.Is(err, ErrInvalid) {
		t.Errorf("Errback(nil *PanicError): %v", err)
	}
	var he *hostileErr
	ok(t, d.Errback(he))
	_, err := Result[any](d)
	if err != error(he) {
		t.Errorf("typed nil error came back as %v", err)
	}
	Catch(d, func(error) (any, error) { return nil, nil })
	d.Release()
	// returned by a callback
	d = r.NewDeferred()
	ok(t, d.AddCallback(func(any) (any, error) { return nil, (*Failure)(nil) }))
	ok(t, d.Callback(1))
	if _, err := Result[any](d); !errors.Is(err, ErrInvalid) {
		t.Errorf("callback's nil *Failure: %v", err)
	}
	Catch(d, func(error) (any, error) { return nil, nil })
	d.Release()
	// a cycle of causes
	f := NewFailure("app", 1, "loop")
	f.Cause = f
	d = r.Fail(f)
	if _, err := Result[any](d); err == nil {
		t.Error("cyclic failure lost")
	}
	Catch(d, func(error) (any, error) { return nil, nil })
	d.Release()
	if (*Failure)(nil).Error() == "" || (*PanicError)(nil).Error() == "" {
		t.Error("nil error text")
	}
	noHandles(t)
}

// Then, Catch and Finally refuse a nil function at once (it used to fail the
// chain later with a nil-call panic).
func TestHostileNilFuncs(t *testing.T) {
	r := manual(t)
	defer r.Free()
	d := r.NewDeferred()
	panicsWithErr(t, "Then", func() { Then[int, int](d, nil) }, ErrInvalid)
	panicsWithErr(t, "Catch", func() { Catch[int](d, nil) }, ErrInvalid)
	panicsWithErr(t, "Finally", func() { Finally(d, nil) }, ErrInvalid)
	d.Release()
	noHandles(t)
}

// runtime.Goexit (t.FailNow, say) in a function a worker runs fails its task
// (the tasks the worker had taken go to a new one: nothing is lost); on the
// C pool's thread it was a fatal error.
func TestHostileGoexitInThreads(t *testing.T) {
	r := must1(NewReactor(&Options{ThreadPoolMax: 1}))
	defer r.Free()
	ds := []*Deferred{
		must1(DeferToThread(r, func() (int, error) { runtime.Goexit(); return 1, nil })),
		must1(DeferToThread(r, func() (int, error) { return 2, nil })),
		must1(DeferToCThread(r, func() (int, error) { runtime.Goexit(); return 3, nil })),
		must1(DeferToCThread(r, func() (int, error) { panic("c") })),
		must1(DeferToCThread(r, func() (int, error) { return 5, nil })),
	}
	l := must1(r.DeferredList(ds, ConsumeErrors))
	var got Entries
	ok(t, l.AddBoth(func(v any, err error) (any, error) {
		got, _ = v.(Entries)
		return nil, r.Stop()
	}))
	ok(t, l.AddTimeout(5*time.Second))
	ok(t, r.Run())
	if len(got) != 5 || !errors.Is(got[0].Err, ErrInvalid) || got[1].Value != int64(2) ||
		!errors.Is(got[2].Err, ErrInvalid) || !errors.Is(got[3].Err, ErrPanic) || got[4].Value != int64(5) {
		t.Fatalf("results: %+v", got)
	}
	for _, d := range append(ds, l) {
		d.Release()
	}
	noHandles(t)
}

// runtime.Goexit in a function the reactor's loop runs unwinds through C's
// loop: the reactor is abandoned (C's frames are gone), Close reports it,
// Do and Call say ErrClosed instead of waiting forever.  In a subprocess: the
// abandoned reactor is left to leak.
func TestHostileGoexitInLoop(t *testing.T) {
	if os.Getenv("DFRGO_HOSTILE_CHILD") != "goexit" {
		// An abandoned reactor's C half is leaked on purpose (C frames were
		// cut mid-run): LeakSanitizer, under -asan, must not count it.
		out, err := subprocess(t, "goexit", "ASAN_OPTIONS=detect_leaks=0")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return
	}
	r := must1(Start(nil))
	ok(t, r.Call(func() { runtime.Goexit() }))
	if err := r.Close(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Close: %v", err)
	}
	if _, err := Do[int](context.Background(), r, func() (any, error) { return 1, nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do: %v", err)
	}
	if err := r.Call(func() {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Call: %v", err)
	}
	// a callback run by Advance, on a goroutine of the test's
	done := make(chan *Reactor)
	go func() {
		m := must1(NewReactor(&Options{ManualClock: true}))
		defer m.Free() // runs while the goroutine exits: nothing to do
		_ = must1(m.CallLater(time.Second, func() { runtime.Goexit() }))
		done <- m
		_ = m.Advance(time.Second)
		t.Error("Advance returned")
	}()
	m := <-done
	if _, err := Do[int](context.Background(), m, func() (any, error) { return 1, nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do on the abandoned reactor: %v", err)
	}
}

// subprocess runs the calling test alone in a new process with
// DFRGO_HOSTILE_CHILD=child (and env added).
func subprocess(t *testing.T, child string, env ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a deadlock fails
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v")
	cmd.Env = append(append(os.Environ(), "DFRGO_HOSTILE_CHILD="+child), env...)
	return cmd.CombinedOutput()
}

// A zero-value Reactor says so (it said ErrNotOwner or ErrClosed).
func TestHostileZeroValueReactor(t *testing.T) {
	var r Reactor
	errs := map[string]error{"Call": r.Call(func() {}), "Stop": r.Stop(), "Run": r.Run(), "Close": r.Close()}
	_, errs["Do"] = Do[int](context.Background(), &r, func() (any, error) { return 1, nil })
	_, errs["DeferLater"] = r.DeferLater(0, nil)
	for name, err := range errs {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	panicsWithErr(t, "NewDeferred", func() { r.NewDeferred() }, ErrInvalid)
	panicsWithErr(t, "Free", r.Free, ErrInvalid)
}

// Sizes C would truncate to its unsigned are refused (a pool of 1<<64-1
// became -1 Go workers and DeferToThread never ran; 1<<32+1 tokens became 1).
func TestHostileSizes(t *testing.T) {
	for _, o := range []Options{{ThreadPoolMax: 1 << 32}, {ThreadPoolMax: math.MaxUint64}, {ThreadPoolMin: 1 << 40}} {
		if r, err := NewReactor(&o); !errors.Is(err, ErrInvalid) {
			r.Free()
			t.Errorf("%+v: %v", o, err)
		}
	}
	r := manual(t)
	defer r.Free()
	if _, err := r.NewSemaphore(1<<32 + 1); !errors.Is(err, ErrInvalid) {
		t.Errorf("NewSemaphore(1<<32+1): %v", err)
	}
	// as other unknown flags: a deferred failed with ErrInvalid
	bad := must1(r.DeferredList(nil, 1<<32|FireOnOneCallback))
	if _, err := Result[any](bad); !errors.Is(err, ErrInvalid) {
		t.Errorf("DeferredList flags: %v", err)
	}
	Catch(bad, func(error) (any, error) { return nil, nil })
	bad.Release()
	noHandles(t)
}

// Do's deferred released on the reactor before ctx is done: the cancel is
// skipped (it panicked and stopped the reactor).
func TestHostileDoCancelReleased(t *testing.T) {
	r := must1(Start(nil))
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *Deferred, 1)
	got := make(chan error, 1)
	go func() {
		_, err := Do[any](ctx, r, func() (any, error) {
			d := r.NewDeferred()
			ready <- d
			return d, nil
		})
		got <- err
	}()
	d := <-ready
	ok(t, r.Call(d.Release))
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Errorf("Do: %v", err)
	}
	if v, err := Do[int](context.Background(), r, func() (any, error) { return 7, nil }); v != 7 || err != nil {
		t.Errorf("reactor after: %v %v", v, err)
	}
	ok(t, r.Close())
	noHandles(t)
}

// Callbacks nested through C fail past maxNesting instead of overflowing
// the thread's stack (20000 levels were a SIGSEGV in C).  A callback firing
// the next deferred no longer nests past 32 levels (C queues the deeper
// firings for the outermost one): 40000 of them all succeed.  A callback
// adding a callback to the next, already fired, deferred still nests, and
// fails at maxNesting.  In a subprocess: without the bounds it crashes.
func TestHostileDeepNesting(t *testing.T) {
	if os.Getenv("DFRGO_HOSTILE_CHILD") != "nesting" {
		out, err := subprocess(t, "nesting")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return
	}
	r := manual(t)
	defer r.Free()
	const n = 40000
	ds := make([]*Deferred, n)
	for i := range ds {
		ds[i] = r.NewDeferred()
	}
	ran := 0
	for i := 0; i < n-1; i++ {
		next := ds[i+1]
		ok(t, ds[i].AddCallback(func(v any) (any, error) { ran++; return v, next.Callback(v) }))
	}
	ok(t, ds[0].Callback(1))
	if ran != n-1 {
		t.Fatalf("%d of %d callbacks ran", ran, n-1)
	}
	for _, d := range ds {
		if v, err := Result[int64](d); err != nil || v != 1 {
			t.Fatalf("%v, %v", v, err)
		}
		d.Release()
	}

	// Adding to a fired deferred runs the callback at once, inside the add.
	for i := range ds {
		ds[i] = r.NewDeferred()
		ok(t, ds[i].Callback(1))
	}
	var step func(i int) func(any) (any, error)
	step = func(i int) func(any) (any, error) {
		return func(v any) (any, error) {
			if i+1 < n {
				_ = ds[i+1].AddCallback(step(i + 1))
			}
			return v, nil
		}
	}
	ok(t, ds[0].AddCallback(step(0)))
	// The deepest deferred reached holds the failure (no Go callback runs
	// at that depth: an errback there would be refused as well).
	failed := 0
	for _, d := range ds {
		if _, err := Result[any](d); err != nil && err != ErrPending {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("failure: %v", err)
			}
			failed++
			Catch(d, func(error) (any, error) { return nil, nil })
		}
		d.Release()
	}
	if failed != 1 {
		t.Fatalf("%d failed", failed)
	}
	noHandles(t)
}

// Wait with its ctx done as the result comes: it returns the result, or the
// result stays in the chain (it was taken and dropped), or the cancel came
// first and the firing says ErrAlreadyCalled.  Nothing is lost.
func TestHostileWaitRacesCancel(t *testing.T) {
	r := must1(Start(nil))
	defer func() { ok(t, r.Close()) }()
	for i := 0; i < 300; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		ch := make(chan *Deferred, 1)
		ok(t, r.Call(func() { ch <- r.NewDeferred() }))
		d := <-ch
		waited := make(chan error, 1)
		var got int
		go func() {
			v, err := Wait[int](ctx, d)
			got = v
			waited <- err
		}()
		fired := make(chan error, 1)
		ok(t, r.Call(func() { fired <- d.Callback(i) }))
		cancel()
		err := <-waited
		ferr := <-fired
		switch {
		case err == nil:
			if got != i {
				t.Fatalf("%d: got %d", i, got)
			}
		case errors.Is(ferr, ErrAlreadyCalled): // cancelled first
		default:
			v, rerr := Do[int](context.Background(), r, func() (any, error) { return Result[int](d) })
			if rerr != nil || v != i {
				t.Fatalf("%d: Wait %v, Callback %v, left in the chain %v %v", i, err, ferr, v, rerr)
			}
		}
		ok(t, r.Call(d.Release))
	}
}

// Free while a DeferToCThread function waits on the reactor (Do): C's free
// joins the pool's threads, so the waits must give up first (it deadlocked).
// In a subprocess: a deadlock fails it by its timeout.
func TestHostileFreeWhileCThreadWaits(t *testing.T) {
	if os.Getenv("DFRGO_HOSTILE_CHILD") != "cthread" {
		out, err := subprocess(t, "cthread")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return
	}
	r := must1(NewReactor(nil))
	started := make(chan struct{})
	waited := make(chan error, 1)
	_ = must1(DeferToCThread(r, func() (int, error) {
		close(started)
		_, err := Do[int](context.Background(), r, func() (any, error) { return 1, nil })
		waited <- err
		return 0, err
	}))
	<-started
	time.Sleep(20 * time.Millisecond) // Do has queued its call
	r.Free()
	if err := <-waited; !errors.Is(err, ErrClosed) {
		t.Fatalf("Do: %v", err)
	}
	// Close from a DeferToCThread function: the reactor's Run waits for the
	// thread, which waited for Close.
	if gid.Fast {
		s := must1(Start(nil))
		closed := make(chan error, 1)
		ok(t, s.Call(func() {
			_ = must1(DeferToCThread(s, func() (int, error) { closed <- s.Close(); return 0, nil }))
		}))
		if err := <-closed; !errors.Is(err, ErrDeadlock) {
			t.Fatalf("Close: %v", err)
		}
		ok(t, s.Close())
		// Do from one while another goroutine closes the reactor
		s = must1(Start(nil))
		inDo := make(chan struct{})
		ok(t, s.Call(func() {
			_ = must1(DeferToCThread(s, func() (int, error) {
				_, err := Do[int](context.Background(), s, func() (any, error) {
					close(inDo)
					return s.NewDeferred(), nil // never fires
				})
				closed <- err
				return 0, nil
			}))
		}))
		<-inDo
		ok(t, s.Close())
		if err := <-closed; !errors.Is(err, ErrNotRunning) {
			t.Fatalf("Do while closing: %v", err)
		}
	}
	noHandles(t)
}

// Deferred.C from another goroutine panics with ErrNotOwner, as the other
// methods (it gave the pointer while callbacks still waited in Go).
func TestHostileCPointerWrongGoroutine(t *testing.T) {
	r := manual(t)
	defer r.Free()
	d := r.NewDeferred()
	ok(t, d.AddCallback(func(v any) (any, error) { return v, nil }))
	done := make(chan any)
	go func() { done <- panicValue(func() { d.C() }) }()
	if v := <-done; v != ErrNotOwner {
		t.Errorf("C from another goroutine: %v", v)
	}
	d.Release()
	noHandles(t)
}

// Reactors whose deferreds outlive them: once those go, their slabs' ids
// are reused and the Go halves dropped (each was kept for the life of the
// process: the functions' blocks and the reactor).
func TestHostileManyReactorsOutlived(t *testing.T) {
	for i := 0; i < 300; i++ {
		r := must1(NewReactor(nil))
		d := r.NewDeferred()
		ok(t, d.AddCallback(func(v any) (any, error) { return v, nil }))
		r.Free() // d outlives r, with a callback: the slab stays until d goes
	}
	noHandles(t) // the garbage collector dropped the deferreds
	r := must1(NewReactor(nil))
	defer r.Free()
	kept := 0
	for _, s := range *slabs.Load() {
		if s != nil {
			kept++
		}
	}
	if kept > 10 {
		t.Fatalf("%d Go slab halves kept", kept)
	}
}
