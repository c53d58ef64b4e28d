package deferred

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestTypedChain(t *testing.T) {
	r := manual(t)
	defer r.Free()
	d := r.NewDeferred()
	Then(d, func(n int) (string, error) { return fmt.Sprint(n * 2), nil })
	Then(d, func(s string) ([]byte, error) { return []byte(s + "!"), nil })
	Then(d, func(b []byte) (float64, error) { return float64(len(b)), nil })
	if d.State() != Pending {
		t.Fatal("fired early")
	}
	ok(t, d.Callback(21))
	if got := result[float64](t, d); got != 3 {
		t.Fatalf("got %v", got)
	}
	if err := d.Callback(1); !errors.Is(err, ErrAlreadyCalled) {
		t.Fatalf("second callback: %v", err)
	}
	d.Release()
	noHandles(t)
}

func TestValuesConvert(t *testing.T) {
	r := manual(t)
	defer r.Free()
	type point struct{ X, Y int }
	p := &point{1, 2}
	cases := []any{nil, int64(-5), 2.5, []byte("raw"), "text", p, point{3, 4}}
	for _, v := range cases {
		d := r.Succeed(v)
		got := result[any](t, d)
		switch want := v.(type) {
		case []byte:
			if !bytes.Equal(got.([]byte), want) {
				t.Fatalf("bytes: %v", got)
			}
		default:
			if got != v {
				t.Fatalf("%T: got %#v want %#v", v, got, v)
			}
		}
		d.Release()
	}
	// C-produced bytes read as a string, int64 as int, a list as []any.
	if s := result[string](t, r.Succeed([]byte("hi"))); s != "hi" {
		t.Fatal(s)
	}
	if n := result[int](t, r.Succeed(int64(7))); n != 7 {
		t.Fatal(n)
	}
	if got := result[*point](t, r.Succeed(p)); got != p {
		t.Fatal("pointer identity lost")
	}
	if _, err := Result[int8](r.Succeed(int64(300))); !errors.Is(err, ErrWrongType) {
		t.Fatalf("overflow: %v", err)
	}
	noHandles(t)
}

func TestWrongTypeFailsChain(t *testing.T) {
	r := manual(t)
	defer r.Free()
	d := r.Succeed("not a number")
	called := false
	Then(d, func(n int) (int, error) { called = true; return n, nil })
	_, err := Result[any](d)
	if called || !errors.Is(err, ErrWrongType) {
		t.Fatalf("called=%v err=%v", called, err)
	}
	Catch(d, func(error) (any, error) { return nil, nil })
}

func TestCallbacksErrbacksBoth(t *testing.T) {
	r := manual(t)
	defer r.Free()
	var trace []string
	d := r.NewDeferred()
	ok(t, d.AddCallback(func(v any) (any, error) { trace = append(trace, "cb1"); return nil, errors.New("boom") }))
	ok(t, d.AddCallback(func(v any) (any, error) { trace = append(trace, "skipped"); return v, nil }))
	ok(t, d.AddErrback(func(err error) (any, error) { trace = append(trace, "eb:"+err.Error()); return "recovered", nil }))
	ok(t, d.AddBoth(func(v any, err error) (any, error) { trace = append(trace, fmt.Sprint("both:", v, err)); return v, err }))
	ok(t, d.AddCallbacks(func(v any) (any, error) { trace = append(trace, "cb2"); return 1, nil },
		func(error) (any, error) { trace = append(trace, "eb2"); return nil, nil }))
	ok(t, d.Callback(nil))
	want := "cb1 eb:boom both:recovered<nil> cb2"
	if got := strings.Join(trace, " "); got != want {
		t.Fatalf("got %q", got)
	}
	if err := d.AddCallback(nil); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	d.Release()
	noHandles(t)
}

type myErr struct{ n int }

func (e *myErr) Error() string { return fmt.Sprint("my error ", e.n) }

func TestErrorsRoundTrip(t *testing.T) {
	r := manual(t)
	defer r.Free()
	// A Go error comes back as the same value.
	e := &myErr{7}
	d := r.Fail(e)
	_, err := Result[any](d)
	if err != e {
		t.Fatalf("got %#v", err)
	}
	var got error
	Catch(d, func(err error) (any, error) { got = err; return nil, nil })
	if got != e {
		t.Fatal("errback did not get the same error")
	}
	// A failure made in Go with a domain and code; errors.Is on the sentinels.
	d2 := r.Fail(NewFailure("dfr", -4, "by hand"))
	_, err = Result[any](d2)
	var f *Failure
	if !errors.As(err, &f) || f.Domain != "dfr" || f.Code != -4 || !errors.Is(err, ErrCancelled) {
		t.Fatalf("got %#v", err)
	}
	Catch(d2, func(error) (any, error) { return nil, nil })
	// Wrapped Go error is found by errors.Is after going through C.
	d3 := r.Fail(fmt.Errorf("ctx: %w", ErrTimedOut))
	if _, err := Result[any](d3); !errors.Is(err, ErrTimedOut) {
		t.Fatal(err)
	}
	Catch(d3, func(error) (any, error) { return nil, nil })
	d.Release()
	d2.Release()
	d3.Release()
	noHandles(t)
}

func TestCancel(t *testing.T) {
	r := manual(t)
	defer r.Free()
	d := r.NewDeferred()
	var got error
	Catch(d, func(err error) (any, error) { got = err; return nil, nil })
	ok(t, d.Cancel())
	if !errors.Is(got, ErrCancelled) {
		t.Fatalf("got %v", got)
	}
	// The first fire after a cancel is ignored (Twisted).
	ok(t, d.Callback(1))
	// A canceller that fires the deferred itself.
	d2 := r.NewCancellableDeferred(func(d *Deferred) { _ = d.Callback("cancelled nicely") })
	ok(t, d2.Cancel())
	if s := result[string](t, d2); s != "cancelled nicely" {
		t.Fatal(s)
	}
	// A panicking canceller fails the deferred with the panic.
	d3 := r.NewCancellableDeferred(func(*Deferred) { panic("canceller") })
	ok(t, d3.Cancel())
	if _, err := Result[any](d3); !errors.Is(err, ErrPanic) {
		t.Fatal(err)
	}
	Catch(d3, func(error) (any, error) { return nil, nil })
	d.Release()
	d2.Release()
	d3.Release()
	noHandles(t)
}

func TestPanicBecomesFailure(t *testing.T) {
	r := manual(t)
	defer r.Free()
	d := r.NewDeferred()
	Then(d, func(any) (any, error) { panic("in callback") })
	var got error
	Catch(d, func(err error) (string, error) { got = err; return "handled", nil })
	ok(t, d.Callback(nil))
	var p *PanicError
	if !errors.As(got, &p) || p.Value != "in callback" || !errors.Is(got, ErrPanic) {
		t.Fatalf("got %v", got)
	}
	if s := result[string](t, d); s != "handled" {
		t.Fatal(s)
	}
	d.Release()
	noHandles(t)
}

func TestPauseUnpause(t *testing.T) {
	r := manual(t)
	defer r.Free()
	d := r.NewDeferred()
	ok(t, d.Pause())
	ran := false
	Then(d, func(int) (int, error) { ran = true; return 0, nil })
	ok(t, d.Callback(1))
	if ran {
		t.Fatal("ran while paused")
	}
	ok(t, d.Unpause())
	if !ran {
		t.Fatal("did not run after unpause")
	}
	if err := d.Unpause(); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	d.Release()
}

func TestReturnedDeferredAndChain(t *testing.T) {
	r := manual(t)
	defer r.Free()
	inner := r.NewDeferred()
	outer := r.Succeed(1)
	Then(outer, func(int) (*Deferred, error) { return inner, nil })
	Then(outer, func(s string) (string, error) { return s + "+outer", nil })
	if outer.State() != Pending {
		t.Fatal("outer should wait for inner")
	}
	ok(t, inner.Callback("inner"))
	if s := result[string](t, outer); s != "inner+outer" {
		t.Fatal(s)
	}
	a, b := r.NewDeferred(), r.NewDeferred()
	ok(t, a.Chain(b))
	ok(t, a.Callback(int64(5)))
	if n := result[int64](t, b); n != 5 {
		t.Fatal(n)
	}
	for _, d := range []*Deferred{inner, outer, a, b} {
		d.Release()
	}
	noHandles(t)
}

func TestHandlesReleasedOnEveryPath(t *testing.T) {
	r := manual(t)
	// fired
	d := r.NewDeferred()
	Then(d, func(v any) (any, error) { return v, nil })
	ok(t, d.Callback(new(int)))
	d.Release()
	// cancelled
	d = r.NewDeferred()
	Then(d, func(v any) (any, error) { return v, nil })
	Catch(d, func(error) (any, error) { return nil, nil })
	ok(t, d.Cancel())
	d.Release()
	// dropped unfired (callbacks and a canceller never run)
	d = r.NewCancellableDeferred(func(*Deferred) {})
	Then(d, func(v any) (any, error) { return v, nil })
	if liveRefs() != 2 {
		t.Fatalf("live %d", liveRefs())
	}
	d.Release()
	d.Release() // twice is harmless
	if liveRefs() != 0 {
		t.Fatalf("dropped unfired: live %d", liveRefs())
	}
	// a Go value kept by a deferred nobody fired
	d = r.Succeed("kept")
	d.Release()
	// calls pending when the reactor is freed
	dc := must1(r.CallLater(1e9, func() { t.Error("ran") }))
	_ = dc
	ok(t, r.Call(func() { t.Error("ran") }))
	dl := must1(r.DeferLater(1e9, func() (any, error) { return "never", nil }))
	dl.Release()
	if liveRefs() == 0 {
		t.Fatal("expected pending handles")
	}
	r.Free()
	noHandles(t)
}

func TestWrongGoroutine(t *testing.T) {
	r := manual(t)
	defer r.Free()
	d := r.NewDeferred()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.Callback(1); !errors.Is(err, ErrNotOwner) {
			t.Errorf("Callback: %v", err)
		}
		if err := d.AddCallback(func(v any) (any, error) { return v, nil }); !errors.Is(err, ErrNotOwner) {
			t.Errorf("AddCallback: %v", err)
		}
		if _, err := r.DeferLater(0, nil); !errors.Is(err, ErrNotOwner) {
			t.Errorf("DeferLater: %v", err)
		}
		func() {
			defer func() {
				if p := recover(); p != ErrNotOwner {
					t.Errorf("NewDeferred: recovered %v", p)
				}
			}()
			r.NewDeferred()
		}()
		if r.InThread() {
			t.Error("InThread from another goroutine")
		}
	}()
	<-done
	if !r.InThread() || d.State() != Pending {
		t.Fatal("state changed from another goroutine")
	}
	d.Release()
}

func TestDeferredOutlivesReactor(t *testing.T) {
	r := manual(t)
	later := must1(r.DeferLater(time.Hour, func() (any, error) { return nil, nil }))
	var laterErr error
	Catch(later, func(err error) (any, error) { laterErr = err; return nil, nil })
	plain := r.NewDeferred()
	Then(plain, func(v any) (any, error) { return v, nil })
	r.Free()
	// A pending DeferLater fails with ErrNotRunning when its reactor goes.
	if !errors.Is(laterErr, ErrNotRunning) {
		t.Fatalf("DeferLater after Free: %v", laterErr)
	}
	// Released after the reactor went: the timer was detached, nothing runs.
	later.Release()
	plain.Release()
	noHandles(t)
}

func TestUnreachableDeferredIsCollected(t *testing.T) {
	r := manual(t)
	defer r.Free()
	func() {
		d := r.NewDeferred()
		Then(d, func(v any) (any, error) { return v, nil })
	}()
	// Nothing refers to d any more: the collector drops its C reference,
	// which frees the unfired deferred and releases its pending callback.
	noHandles(t)
}

func TestBadInput(t *testing.T) {
	r := manual(t)
	defer r.Free()
	d := r.NewDeferred()
	q := r.NewQueue(Unlimited, Unlimited)
	defer q.Free()
	for name, err := range map[string]error{
		"Call(nil)":            r.Call(nil),
		"Callback(*Deferred)":  d.Callback(d),
		"Errback(nil)":         d.Errback(nil),
		"Chain(nil)":           d.Chain(nil),
		"AddErrback(nil)":      d.AddErrback(nil),
		"AddBoth(nil)":         d.AddBoth(nil),
		"AddTimeout(-1)":       d.AddTimeout(-1),
		"Queue.Put(*Deferred)": q.Put(d),
	} {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := r.NewLoopingCall(nil); !errors.Is(err, ErrInvalid) {
		t.Error(err)
	}
	lc := must1(r.NewLoopingCall(func() (any, error) { return nil, nil }))
	if _, err := lc.Start(-time.Second, false); !errors.Is(err, ErrInvalid) {
		t.Error(err)
	}
	lc.Free()
	if _, err := r.DeferLater(-1, nil); !errors.Is(err, ErrInvalid) {
		t.Error(err)
	}
	if _, err := DeferToThread[int](r, nil); !errors.Is(err, ErrInvalid) {
		t.Error(err)
	}
	if _, err := Wait[int](context.Background(), nil); !errors.Is(err, ErrInvalid) {
		t.Error(err)
	}
	d.Release()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("use after Release did not panic")
			}
		}()
		_ = d.Callback(1)
	}()
}
