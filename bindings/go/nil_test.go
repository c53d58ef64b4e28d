package deferred

import (
	"context"
	"errors"
	"testing"
	"time"
)

// panicsWith reports whether fn panics with an error matching target.
func panicsWith(fn func(), target error) (ok bool) {
	defer func() {
		v := recover()
		err, isErr := v.(error)
		ok = isErr && errors.Is(err, target)
	}()
	fn()
	return false
}

// Methods on nil handles give ErrInvalid (an error or a panic with one),
// never a nil dereference; Free and Release of nil do nothing.
func TestNilHandles(t *testing.T) {
	var d *Deferred
	var r *Reactor
	var l *Lock
	var s *Semaphore
	var q *Queue
	var lc *LoopingCall
	var dc *DelayedCall
	errs := map[string]error{
		"Deferred.AddCallback": d.AddCallback(nop),
		"Deferred.Callback":    d.Callback(1),
		"Deferred.Errback":     d.Errback(ErrCancelled),
		"Deferred.Cancel":      d.Cancel(),
		"Deferred.Pause":       d.Pause(),
		"Deferred.AddTimeout":  d.AddTimeout(time.Second),
		"Reactor.Run":          r.Run(),
		"Reactor.Stop":         r.Stop(),
		"Reactor.Close":        r.Close(),
		"Reactor.Call":         r.Call(func() {}),
		"Reactor.Advance":      r.Advance(time.Second),
		"Lock.Release":         l.Release(),
		"Semaphore.Release":    s.Release(),
		"Queue.Put":            q.Put(1),
		"LoopingCall.Stop":     lc.Stop(),
		"DelayedCall.Cancel":   dc.Cancel(),
	}
	_, errs["Result"] = Result[int](d)
	_, errs["Wait"] = Wait[int](context.Background(), d)
	_, errs["Do"] = Do[int](context.Background(), r, func() (any, error) { return 1, nil })
	_, errs["DeferToThread"] = DeferToThread(r, func() (int, error) { return 1, nil })
	_, errs["Reactor.DeferLater"] = r.DeferLater(time.Second, nil)
	_, errs["Lock.Acquire"] = l.Acquire()
	_, errs["Queue.Get"] = q.Get()
	_, errs["LoopingCall.Start"] = lc.Start(time.Second, true)
	for name, err := range errs {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s on nil: %v, want ErrInvalid", name, err)
		}
	}
	panics := map[string]func(){
		"Deferred.State":      func() { d.State() },
		"Deferred.C":          func() { d.C() },
		"Reactor.NewDeferred": func() { r.NewDeferred() },
		"Reactor.Now":         func() { r.Now() },
		"Lock.Locked":         func() { l.Locked() },
		"Semaphore.Tokens":    func() { s.Tokens() },
		"Queue.Pending":       func() { q.Pending() },
		"LoopingCall.Running": func() { lc.Running() },
		"DelayedCall.Active":  func() { dc.Active() },
		"Then":                func() { Then(d, func(int) (int, error) { return 0, nil }) },
	}
	for name, fn := range panics {
		if !panicsWith(fn, ErrInvalid) {
			t.Errorf("%s on nil: want a panic with ErrInvalid", name)
		}
	}
	d.Release()
	r.Free()
	l.Free()
	s.Free()
	q.Free()
	lc.Free()
	if r.InThread() || d.Reactor() != nil {
		t.Error("a nil reactor runs nowhere")
	}
}

// Do and Wait refuse a nil context or function with ErrInvalid.
func TestDoWaitNilArguments(t *testing.T) {
	r, err := Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }()
	//lint:ignore SA1012 a nil context is the misuse under test
	if _, err := Do[int](nil, r, func() (any, error) { return 1, nil }); !errors.Is(err, ErrInvalid) { //nolint:staticcheck
		t.Errorf("Do(nil ctx): %v", err)
	}
	if _, err := Do[int](context.Background(), r, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("Do(nil fn): %v", err)
	}
	//lint:ignore SA1012 a nil context is the misuse under test
	if _, err := Wait[int](nil, &Deferred{r: r}); !errors.Is(err, ErrInvalid) { //nolint:staticcheck
		t.Errorf("Wait(nil ctx): %v", err)
	}
}
