package deferred

// The behaviour Twisted's own Deferred tests (twisted/test/test_defer.py,
// Twisted 22.4) check, written again for the Go API: one Go test per
// Twisted test or small group of them, named after it.  README.md ("Twisted's
// tests and the Go binding") lists the Twisted tests with no counterpart here
// and the deliberate differences.

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// genericErr is test_defer's GenericError: a Go error that keeps its
// identity through the C chain.
type genericErr struct{ msg string }

func (e *genericErr) Error() string { return e.msg }

// fakeCallbackCanceller fires its deferred with "Callback Result" (as
// test_defer's helper of that name).
func fakeCallbackCanceller(d *Deferred) { _ = d.Callback("Callback Result") }

// record collects what callbacks saw, in order.
type record struct{ got []string }

func (r *record) add(format string, a ...any) { r.got = append(r.got, fmt.Sprintf(format, a...)) }

func (r *record) want(t *testing.T, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if r.got == nil {
		r.got = []string{}
	}
	if !reflect.DeepEqual(r.got, want) {
		t.Fatalf("got  %q\nwant %q", r.got, want)
	}
}

// failureOf is Twisted's failureResultOf: d's current result must be a
// failure matching target (errors.Is); it is consumed (d goes on with nil).
func failureOf(t *testing.T, d *Deferred, target error) error {
	t.Helper()
	_, err := Result[any](d)
	if err == nil || errors.Is(err, ErrPending) {
		t.Fatalf("want a failure (%v), got result/err %v", target, err)
	}
	if target != nil && !errors.Is(err, target) {
		t.Fatalf("failure %v is not %v", err, target)
	}
	ok(t, d.AddErrback(func(error) (any, error) { return nil, nil }))
	return err
}

// successOf is Twisted's successResultOf.
func successOf[T any](t *testing.T, d *Deferred) T {
	t.Helper()
	v, err := Result[T](d)
	if err != nil {
		t.Fatalf("want a result, got %v", err)
	}
	return v
}

// noResult is Twisted's assertNoResult.
func noResult(t *testing.T, d *Deferred) {
	t.Helper()
	if s := d.State(); s != Pending {
		t.Fatalf("want no result, state %d", s)
	}
}

func TestTwistedCallbackArgs(t *testing.T) {
	// testCallbackWithoutArgs / WithArgs / WithKwArgs / testTwoCallbacks:
	// extra arguments are closures in Go.
	r := manual(t)
	defer r.Free()
	var rec record
	d := r.NewDeferred()
	world := "world"
	ok(t, d.AddCallback(func(v any) (any, error) { rec.add("cb1(%v,%s)", v, world); return v, nil }))
	ok(t, d.AddCallback(func(v any) (any, error) { rec.add("cb2(%v)", v); return nil, nil }))
	ok(t, d.Callback("hello"))
	rec.want(t, "cb1(hello,world)", "cb2(hello)")
	if v := successOf[any](t, d); v != nil {
		t.Fatalf("result %v", v)
	}
}

func TestTwistedAddCallbacksNilErrback(t *testing.T) {
	// test_addCallbacksNoneErrback: a nil errback passes the failure on.
	r := manual(t)
	defer r.Free()
	e := &genericErr{"oopsie"}
	d := r.NewDeferred()
	called := false
	ok(t, d.AddCallbacks(func(v any) (any, error) { called = true; return v, nil }, nil))
	ok(t, d.Errback(e))
	var got error
	ok(t, d.AddErrback(func(err error) (any, error) { got = err; return nil, nil }))
	if called || got != e {
		t.Fatalf("callback ran %v, errback got %v", called, got)
	}
	// test_addCallbacksNoneCallbackArgs: a nil callback passes the result on.
	d2 := r.NewDeferred()
	ok(t, d2.AddCallbacks(nil, func(error) (any, error) { t.Error("errback ran"); return nil, nil }))
	ok(t, d2.Callback("hello"))
	if s := successOf[string](t, d2); s != "hello" {
		t.Fatal(s)
	}
}

func TestTwistedDeferredList(t *testing.T) {
	// testDeferredList: entries in input order, failures as entries.
	r := manual(t)
	defer r.Free()
	d1, d2, d3 := r.NewDeferred(), r.NewDeferred(), r.NewDeferred()
	dl := must1(r.DeferredList([]*Deferred{d1, d2, d3}, 0))
	var got Entries
	ok(t, dl.AddBoth(func(v any, err error) (any, error) { got = v.(Entries); return nil, err }))
	ok(t, d1.Callback("1"))
	Catch(d2, func(error) (any, error) { return nil, nil })
	ok(t, d2.Errback(&genericErr{"2"}))
	ok(t, d3.Callback("3"))
	if len(got) != 3 || !got[0].OK || got[0].Value != "1" || got[1].OK || got[1].Err.Error() != "2" ||
		!got[2].OK || got[2].Value != "3" {
		t.Fatalf("got %+v", got)
	}
	// The input's own chain still has the failure (no consumeErrors): the
	// errback added before errback saw it, so d2 now holds nil.
	if v := successOf[any](t, d2); v != nil {
		t.Fatal(v)
	}
}

func TestTwistedEmptyDeferredList(t *testing.T) {
	// testEmptyDeferredList / DeferredListEmptyTests: an empty list fires at
	// once with no entries.  Twisted never fires one with fireOnOneCallback;
	// the C library fires it at once whatever the flags (a documented
	// difference, docs/design.md).
	r := manual(t)
	defer r.Free()
	for _, flags := range []uint{0, FireOnOneCallback, FireOnOneErrback, ConsumeErrors} {
		dl := must1(r.DeferredList(nil, flags))
		if e := successOf[Entries](t, dl); len(e) != 0 {
			t.Fatal(flags, e)
		}
	}
	// gatherResults of nothing is an empty list.
	g := must1(r.Gather(nil, false))
	if l := successOf[[]any](t, g); len(l) != 0 {
		t.Fatal(l)
	}
}

func TestTwistedDeferredListFireOnOneError(t *testing.T) {
	// testDeferredListFireOnOneError: FirstError with the sub-failure and index.
	r := manual(t)
	defer r.Free()
	d1, d2, d3 := r.NewDeferred(), r.NewDeferred(), r.NewDeferred()
	dl := must1(r.DeferredList([]*Deferred{d1, d2, d3}, FireOnOneErrback))
	Catch(d2, func(error) (any, error) { return nil, nil })
	ok(t, d1.Callback("1"))
	noResult(t, dl)
	e := &genericErr{"from def2"}
	ok(t, d2.Errback(e))
	err := failureOf(t, dl, ErrFirstError)
	var f *Failure
	if !errors.As(err, &f) || f.Index != 1 || f.Cause != e {
		t.Fatalf("got %#v", err)
	}
	if !errors.Is(err, e) {
		t.Fatal("errors.Is does not reach the sub-failure")
	}
	ok(t, d3.Callback("3")) // late results change nothing
}

func TestTwistedDeferredListConsumeErrors(t *testing.T) {
	// testDeferredListDontConsumeErrors / testDeferredListConsumeErrors.
	for _, consume := range []bool{false, true} {
		r := manual(t)
		d1 := r.NewDeferred()
		var flags uint
		if consume {
			flags = ConsumeErrors
		}
		dl := must1(r.DeferredList([]*Deferred{d1}, flags))
		var trapped []error
		Catch(d1, func(err error) (any, error) { trapped = append(trapped, err); return nil, nil })
		var lists []Entries
		Then(dl, func(e Entries) (any, error) { lists = append(lists, e); return nil, nil })
		ok(t, d1.Errback(&genericErr{"Bang"}))
		if consume != (len(trapped) == 0) {
			t.Fatalf("consume %v: trapped %v", consume, trapped)
		}
		if len(lists) != 1 || lists[0][0].OK || lists[0][0].Err.Error() != "Bang" {
			t.Fatalf("consume %v: lists %+v", consume, lists)
		}
		r.Free()
	}
}

func TestTwistedDeferredListAlreadyFired(t *testing.T) {
	// testDeferredListFireOnOneErrorWithAlreadyFiredDeferreds and
	// testDeferredListWithAlreadyFiredDeferreds.
	r := manual(t)
	defer r.Free()
	d1, d2 := r.NewDeferred(), r.NewDeferred()
	ok(t, d1.Errback(&genericErr{"Bang"}))
	dl := must1(r.DeferredList([]*Deferred{d1, d2}, FireOnOneErrback))
	failureOf(t, dl, ErrFirstError)
	Catch(d1, func(error) (any, error) { return nil, nil })

	d3, d4 := r.NewDeferred(), r.NewDeferred()
	ok(t, d3.Errback(&genericErr{"Bang"}))
	ok(t, d4.Callback(2))
	dl2 := must1(r.DeferredList([]*Deferred{d3, d4}, 0))
	if e := successOf[Entries](t, dl2); len(e) != 2 || e[0].OK || !e[1].OK || e[1].Value != int64(2) {
		t.Fatalf("%+v", e)
	}
	Catch(d3, func(error) (any, error) { return nil, nil })
}

func TestTwistedCancelDeferredList(t *testing.T) {
	r := manual(t)
	defer r.Free()
	// test_cancelDeferredList: every input is cancelled.
	a, b := r.NewDeferred(), r.NewDeferred()
	dl := must1(r.DeferredList([]*Deferred{a, b}, 0))
	ok(t, dl.Cancel())
	failureOf(t, a, ErrCancelled)
	failureOf(t, b, ErrCancelled)
	if e := successOf[Entries](t, dl); len(e) != 2 || e[0].OK || e[1].OK {
		t.Fatalf("%+v", e)
	}

	// test_cancelDeferredListCallback: an input whose canceller fires it.
	a = r.NewCancellableDeferred(fakeCallbackCanceller)
	b = r.NewDeferred()
	dl = must1(r.DeferredList([]*Deferred{a, b}, 0))
	ok(t, dl.Cancel())
	failureOf(t, b, ErrCancelled)
	e := successOf[Entries](t, dl)
	if !e[0].OK || e[0].Value != "Callback Result" || e[1].OK || !errors.Is(e[1].Err, ErrCancelled) {
		t.Fatalf("%+v", e)
	}

	// test_cancelDeferredListWithFireOnOneCallback.
	a, b = r.NewDeferred(), r.NewDeferred()
	dl = must1(r.DeferredList([]*Deferred{a, b}, FireOnOneCallback))
	ok(t, dl.Cancel())
	failureOf(t, a, ErrCancelled)
	failureOf(t, b, ErrCancelled)

	// test_cancelDeferredListWithFireOnOneCallbackAndDeferredCallback:
	// (result, index).
	a = r.NewCancellableDeferred(fakeCallbackCanceller)
	b = r.NewDeferred()
	dl = must1(r.DeferredList([]*Deferred{a, b}, FireOnOneCallback))
	ok(t, dl.Cancel())
	failureOf(t, b, ErrCancelled)
	e = successOf[Entries](t, dl)
	if len(e) != 2 || e[0].Value != "Callback Result" || e[1].Value != int64(0) {
		t.Fatalf("%+v", e)
	}

	// test_cancelDeferredListWithFireOnOneErrback: FirstError of a cancel.
	a, b = r.NewDeferred(), r.NewDeferred()
	dl = must1(r.DeferredList([]*Deferred{a, b}, FireOnOneErrback))
	ok(t, dl.Cancel())
	failureOf(t, a, ErrCancelled)
	failureOf(t, b, ErrCancelled)
	err := failureOf(t, dl, ErrFirstError)
	var f *Failure
	if !errors.As(err, &f) || !errors.Is(f.Cause, ErrCancelled) {
		t.Fatalf("%#v", err)
	}

	// test_cancelDeferredListWithFireOnOneErrbackAllDeferredsCallback.
	a = r.NewCancellableDeferred(fakeCallbackCanceller)
	b = r.NewCancellableDeferred(fakeCallbackCanceller)
	dl = must1(r.DeferredList([]*Deferred{a, b}, FireOnOneErrback))
	ok(t, dl.Cancel())
	e = successOf[Entries](t, dl)
	if !e[0].OK || e[0].Value != "Callback Result" || !e[1].OK || e[1].Value != "Callback Result" {
		t.Fatalf("%+v", e)
	}
}

func TestTwistedCancelDeferredListOriginalInputs(t *testing.T) {
	// test_cancelDeferredListWithOriginalDeferreds: the slice is copied; a
	// deferred appended to it later is not part of the list.
	r := manual(t)
	defer r.Free()
	a, b, c := r.NewDeferred(), r.NewDeferred(), r.NewDeferred()
	in := make([]*Deferred, 2, 3)
	in[0], in[1] = a, b
	dl := must1(r.DeferredList(in, 0))
	_ = append(in, c)
	ok(t, dl.Cancel())
	failureOf(t, a, ErrCancelled)
	failureOf(t, b, ErrCancelled)
	noResult(t, c)
}

func TestTwistedCancelDeferredListWithPanickingCanceller(t *testing.T) {
	// test_cancelDeferredListWithException: a canceller that raises does not
	// stop the other inputs from being cancelled.  (Twisted logs the error and
	// the input stays unfired; here the panic fails that input, see README.)
	r := manual(t)
	defer r.Free()
	a := r.NewCancellableDeferred(func(*Deferred) { panic("test") })
	b := r.NewDeferred()
	dl := must1(r.DeferredList([]*Deferred{a, b}, 0))
	ok(t, dl.Cancel())
	failureOf(t, b, ErrCancelled)
	failureOf(t, a, ErrPanic)
}

func TestTwistedCancelFiredDeferredList(t *testing.T) {
	// test_cancelFiredOnOneCallbackDeferredList /
	// test_cancelFiredOnOneErrbackDeferredList: cancelling a list that fired
	// does not touch the inputs still pending.
	r := manual(t)
	defer r.Free()
	a, b := r.NewDeferred(), r.NewDeferred()
	dl := must1(r.DeferredList([]*Deferred{a, b}, FireOnOneCallback))
	ok(t, a.Callback(nil))
	ok(t, dl.Cancel())
	noResult(t, b)

	a, b = r.NewDeferred(), r.NewDeferred()
	dl = must1(r.DeferredList([]*Deferred{a, b}, FireOnOneErrback))
	e := &genericErr{"test"}
	ok(t, a.Errback(e))
	ok(t, dl.Cancel())
	noResult(t, b)
	if err := failureOf(t, a, nil); err != e {
		t.Fatal(err)
	}
	failureOf(t, dl, ErrFirstError)
}

func TestTwistedImmediateResults(t *testing.T) {
	// testImmediateSuccess / testImmediateFailure / testPausedFailure.
	r := manual(t)
	defer r.Free()
	var rec record
	Then(r.Succeed("success"), func(s string) (any, error) { rec.add("%s", s); return nil, nil })
	Catch(r.Fail(&genericErr{"fail"}), func(err error) (any, error) { rec.add("%v", err); return nil, nil })
	rec.want(t, "success", "fail")

	d := r.Fail(&genericErr{"fail"})
	ok(t, d.Pause())
	var got error
	Catch(d, func(err error) (any, error) { got = err; return nil, nil })
	if got != nil {
		t.Fatal("errback ran while paused")
	}
	ok(t, d.Unpause())
	if got == nil || got.Error() != "fail" {
		t.Fatal(got)
	}
}

func TestTwistedCallbackErrors(t *testing.T) {
	// testCallbackErrors: a callback that raises (panics) or returns a
	// failure (an error) takes the errback path.
	r := manual(t)
	defer r.Free()
	var got []error
	d := r.NewDeferred()
	Then(d, func(any) (int, error) { var z int; return 1 / z, nil }) // a runtime panic
	Catch(d, func(err error) (any, error) { got = append(got, err); return nil, nil })
	ok(t, d.Callback(1))
	e := &genericErr{"returned"}
	d = r.NewDeferred()
	Then(d, func(any) (any, error) { return nil, e })
	Catch(d, func(err error) (any, error) { got = append(got, err); return nil, nil })
	ok(t, d.Callback(1))
	var p *PanicError
	if len(got) != 2 || !errors.As(got[0], &p) || !strings.Contains(fmt.Sprint(p.Value), "divide by zero") || got[1] != e {
		t.Fatalf("%v", got)
	}
}

func TestTwistedUnpauseBeforeCallback(t *testing.T) {
	r := manual(t)
	defer r.Free()
	d := r.NewDeferred()
	ok(t, d.Pause())
	ran := false
	ok(t, d.AddCallback(func(v any) (any, error) { ran = true; return v, nil }))
	ok(t, d.Unpause())
	if ran {
		t.Fatal("ran without a result")
	}
	ok(t, d.Callback(nil))
	if !ran {
		t.Fatal("did not run")
	}
}

func TestTwistedReturnPausedDeferred(t *testing.T) {
	// testReturnDeferred: the outer chain waits for the returned deferred's
	// result and for it to be unpaused.
	r := manual(t)
	defer r.Free()
	d1, d2 := r.NewDeferred(), r.NewDeferred()
	ok(t, d2.Pause())
	Then(d1, func(any) (*Deferred, error) { return d2, nil })
	var got any = "not called"
	ok(t, d1.AddCallback(func(v any) (any, error) { got = v; return v, nil }))
	ok(t, d1.Callback(1))
	if got != "not called" {
		t.Fatal("called before d2 fired")
	}
	ok(t, d2.Callback(2))
	if got != "not called" {
		t.Fatal("called while d2 paused")
	}
	ok(t, d2.Unpause())
	if got != int64(2) {
		t.Fatalf("got %v", got)
	}
}

func TestTwistedChainedPausedDeferredWithResult(t *testing.T) {
	// test_chainedPausedDeferredWithResult.
	r := manual(t)
	defer r.Free()
	expected := &struct{ n int }{1}
	paused := r.NewDeferred()
	ok(t, paused.Callback(expected))
	ok(t, paused.Pause())
	chained := r.NewDeferred()
	ok(t, chained.AddCallback(func(any) (any, error) { return paused, nil }))
	ok(t, chained.Callback(nil))
	var got []any
	ok(t, chained.AddCallback(func(v any) (any, error) { got = append(got, v); return nil, nil }))
	if len(got) != 0 {
		t.Fatal("ran while paused")
	}
	ok(t, paused.Unpause())
	if len(got) != 1 || got[0] != expected {
		t.Fatalf("%v", got)
	}
}

func TestTwistedPausedDeferredChained(t *testing.T) {
	// test_pausedDeferredChained: pausing the outer deferred does not stop
	// the inner one it waits on.
	r := manual(t)
	defer r.Free()
	first, second := r.NewDeferred(), r.NewDeferred()
	ok(t, first.AddCallback(func(any) (any, error) { return second, nil }))
	ok(t, first.Callback(nil))
	ok(t, first.Pause())
	ok(t, second.Callback(nil))
	var got []any
	ok(t, second.AddCallback(func(v any) (any, error) { got = append(got, v); return nil, nil }))
	if len(got) != 1 || got[0] != nil {
		t.Fatalf("%v", got)
	}
}

func TestTwistedGatherResults(t *testing.T) {
	// test_gatherResults / test_gatherResultsWithConsumeErrors.
	r := manual(t)
	defer r.Free()
	g := must1(r.Gather([]*Deferred{r.Succeed(1), r.Succeed(2)}, false))
	if l := successOf[[]any](t, g); !reflect.DeepEqual(l, []any{int64(1), int64(2)}) {
		t.Fatal(l)
	}
	bad := r.Fail(&genericErr{"value"})
	g = must1(r.Gather([]*Deferred{r.Succeed(1), bad}, false))
	failureOf(t, g, ErrFirstError)
	failureOf(t, bad, nil) // not consumed: still on its chain

	e := &genericErr{"oh noes"}
	bad = r.Fail(e)
	g = must1(r.Gather([]*Deferred{r.Succeed(1), bad}, true))
	var unconsumed []error
	Catch(bad, func(err error) (any, error) { unconsumed = append(unconsumed, err); return nil, nil })
	err := failureOf(t, g, ErrFirstError)
	var f *Failure
	if len(unconsumed) != 0 || !errors.As(err, &f) || f.Cause != e {
		t.Fatalf("unconsumed %v, gathered %#v", unconsumed, err)
	}
}

func TestTwistedCancelGatherResults(t *testing.T) {
	r := manual(t)
	defer r.Free()
	// test_cancelGatherResults.
	a, b := r.NewDeferred(), r.NewDeferred()
	g := must1(r.Gather([]*Deferred{a, b}, false))
	ok(t, g.Cancel())
	failureOf(t, a, ErrCancelled)
	failureOf(t, b, ErrCancelled)
	err := failureOf(t, g, ErrFirstError)
	var f *Failure
	if !errors.As(err, &f) || !errors.Is(f.Cause, ErrCancelled) {
		t.Fatalf("%#v", err)
	}
	// test_cancelGatherResultsWithAllDeferredsCallback.
	a = r.NewCancellableDeferred(fakeCallbackCanceller)
	b = r.NewCancellableDeferred(fakeCallbackCanceller)
	g = must1(r.Gather([]*Deferred{a, b}, false))
	ok(t, g.Cancel())
	if l := successOf[[]any](t, g); !reflect.DeepEqual(l, []any{"Callback Result", "Callback Result"}) {
		t.Fatal(l)
	}
}

func TestTwistedMaybeDeferred(t *testing.T) {
	r := manual(t)
	defer r.Free()
	// test_maybeDeferredSync: the very value.
	v := &struct{ n int }{1}
	if got := successOf[any](t, r.MaybeDeferred(func() (any, error) { return v, nil })); got != v {
		t.Fatal(got)
	}
	// test_maybeDeferredSyncWithArgs: arguments are a closure's.
	x := 10
	if n := successOf[int](t, r.MaybeDeferred(func() (any, error) { return x + 5, nil })); n != 15 {
		t.Fatal(n)
	}
	// test_maybeDeferredSyncException: a raise (a panic) is a failure.
	err := failureOf(t, r.MaybeDeferred(func() (any, error) { panic("10 + 5") }), ErrPanic)
	if !strings.Contains(err.Error(), "10 + 5") {
		t.Fatal(err)
	}
	// test_maybeDeferredSyncFailure: a returned failure (an error), the same.
	e := &genericErr{"expected"}
	if err := failureOf(t, r.MaybeDeferred(func() (any, error) { return nil, e }), nil); err != e {
		t.Fatal(err)
	}
	// test_maybeDeferredAsync / AsyncError: a Deferred passes through.
	d1 := r.NewDeferred()
	d2 := r.MaybeDeferred(func() (any, error) { return d1, nil })
	ok(t, d1.Callback("Success"))
	if s := successOf[string](t, d2); s != "Success" {
		t.Fatal(s)
	}
	d1 = r.NewDeferred()
	d2 = r.MaybeDeferred(func() (any, error) { return d1, nil })
	ok(t, d1.Errback(e))
	if err := failureOf(t, d2, nil); err != e {
		t.Fatal(err)
	}
	// A nil function is refused with a failed deferred.
	failureOf(t, r.MaybeDeferred(nil), ErrInvalid)
}

func TestTwistedInnerCallbacksPreserved(t *testing.T) {
	// test_innerCallbacksPreserved and test_nestedAsynchronousChainedDeferreds:
	// the middle deferred's callbacks run after the innermost fires and
	// before the outer goes on.
	for _, fireFirst := range []bool{true, false} {
		r := manual(t)
		var rec record
		inner := r.NewDeferred()
		cb := func(v any) (any, error) {
			rec.add("start-of-cb %v", v)
			d := r.Succeed("inner")
			ok(t, d.AddCallback(func(any) (any, error) { rec.add("firstCallback inner"); return inner, nil }))
			Then(d, func(s string) (string, error) { rec.add("secondCallback %s", s); return s + s, nil })
			Catch(d, func(err error) (any, error) { rec.add("failure %v", err); return nil, nil })
			return d, nil
		}
		outer := r.Succeed("outer")
		ok(t, outer.AddCallback(cb))
		if fireFirst {
			ok(t, inner.Callback("orange"))
			ok(t, outer.AddCallback(func(v any) (any, error) { rec.add("%v", v); return nil, nil }))
		} else {
			ok(t, outer.AddCallback(func(v any) (any, error) { rec.add("%v", v); return nil, nil }))
			if len(rec.got) != 2 {
				t.Fatalf("%q", rec.got)
			}
			ok(t, inner.Callback("orange"))
		}
		Catch(outer, func(err error) (any, error) { rec.add("failure %v", err); return nil, nil })
		rec.want(t, "start-of-cb outer", "firstCallback inner", "secondCallback orange", "orangeorange")
		r.Free()
	}
}

func TestTwistedNestedChainWithExtraCallbacks(t *testing.T) {
	// test_nestedAsynchronousChainedDeferredsWithExtraCallbacks.
	r := manual(t)
	defer r.Free()
	var rec record
	inner := r.NewDeferred()
	outer := r.Succeed("outer")
	ok(t, outer.AddCallback(func(v any) (any, error) {
		rec.add("start-of-cb %v", v)
		d := r.Succeed("inner")
		ok(t, d.AddCallback(func(v any) (any, error) {
			rec.add("firstCallback %v", v)
			return Then(inner, func(s string) ([]string, error) { return []string{s}, nil }), nil
		}))
		Then(d, func(l []string) ([]string, error) { rec.add("secondCallback %v", l); return append(l, l...), nil })
		return d, nil
	}))
	ok(t, outer.AddCallback(func(v any) (any, error) { rec.add("%v", v); return nil, nil }))
	rec.want(t, "start-of-cb outer", "firstCallback inner")
	ok(t, inner.Callback("withers"))
	rec.want(t, "start-of-cb outer", "firstCallback inner", "secondCallback [withers]", "[withers withers]")
}

func TestTwistedContinueCallbackNotFirst(t *testing.T) {
	// test_continueCallbackNotFirst and test_callbackOrderPreserved.
	for _, outerFiredLate := range []bool{false, true} {
		r := manual(t)
		var rec record
		a := r.NewDeferred()
		cb := func(v any) (any, error) {
			rec.add("cb %v", v)
			d := r.NewDeferred()
			ok(t, d.AddCallback(func(v any) (any, error) {
				rec.add("firstCallback %v", v)
				return must1(r.Gather([]*Deferred{a}, false)), nil
			}))
			ok(t, d.AddCallback(func(v any) (any, error) { rec.add("secondCallback %v", v.(Entries)[0].Value); return nil, nil }))
			ok(t, d.Callback(nil))
			return d, nil
		}
		var outer *Deferred
		if outerFiredLate {
			outer = r.NewDeferred()
		} else {
			outer = r.Succeed("outer")
		}
		ok(t, outer.AddCallback(cb))
		if outerFiredLate {
			ok(t, outer.AddCallback(func(any) (any, error) { rec.add("final"); return nil, nil }))
			ok(t, outer.Callback("outer"))
		}
		Catch(outer, func(err error) (any, error) { rec.add("failure %v", err); return nil, nil })
		rec.want(t, "cb outer", "firstCallback <nil>")
		ok(t, a.Callback("withers"))
		if outerFiredLate {
			rec.want(t, "cb outer", "firstCallback <nil>", "secondCallback withers", "final")
		} else {
			rec.want(t, "cb outer", "firstCallback <nil>", "secondCallback withers")
		}
		r.Free()
	}
}

func TestTwistedReentrantCallbacks(t *testing.T) {
	r := manual(t)
	defer r.Free()
	// test_reentrantRunCallbacks: a callback added by a running callback
	// goes to the end of the chain.
	var rec record
	d := r.NewDeferred()
	ok(t, d.AddCallback(func(v any) (any, error) {
		rec.add("1")
		ok(t, d.AddCallback(func(v any) (any, error) { rec.add("3"); return v, nil }))
		return v, nil
	}))
	ok(t, d.AddCallback(func(v any) (any, error) { rec.add("2"); return v, nil }))
	ok(t, d.Callback(nil))
	rec.want(t, "1", "2", "3")

	// test_nonReentrantCallbacks: it does not run before the running one returns.
	rec = record{}
	d = r.NewDeferred()
	ok(t, d.AddCallback(func(v any) (any, error) {
		rec.add("1")
		ok(t, d.AddCallback(func(v any) (any, error) { rec.add("2"); return v, nil }))
		rec.want(t, "1")
		return v, nil
	}))
	ok(t, d.Callback(nil))
	rec.want(t, "1", "2")

	// test_reentrantRunCallbacksWithFailure.
	e := &genericErr{"callback raised exception"}
	d = r.NewDeferred()
	ok(t, d.AddCallback(func(v any) (any, error) {
		ok(t, d.AddCallback(func(any) (any, error) { return nil, e }))
		return v, nil
	}))
	ok(t, d.Callback(nil))
	if err := failureOf(t, d, nil); err != e {
		t.Fatal(err)
	}
}

func TestTwistedImplicitChain(t *testing.T) {
	r := manual(t)
	defer r.Free()
	// test_synchronousImplicitChain: the returned deferred's result moves
	// to the outer one; the returned one is left with nil.
	v := &struct{ n int }{1}
	first := r.Succeed(v)
	second := r.NewDeferred()
	ok(t, second.AddCallback(func(any) (any, error) { return first, nil }))
	ok(t, second.Callback(nil))
	if got := successOf[any](t, first); got != nil {
		t.Fatal(got)
	}
	if got := successOf[any](t, second); got != v {
		t.Fatal(got)
	}

	// test_asynchronousImplicitChain.
	first, second = r.NewDeferred(), r.NewDeferred()
	ok(t, second.AddCallback(func(any) (any, error) { return first, nil }))
	ok(t, second.Callback(nil))
	var firstRes, secondRes []any
	ok(t, first.AddCallback(func(x any) (any, error) { firstRes = append(firstRes, x); return x, nil }))
	ok(t, second.AddCallback(func(x any) (any, error) { secondRes = append(secondRes, x); return x, nil }))
	if len(firstRes)+len(secondRes) != 0 {
		t.Fatal("ran early")
	}
	ok(t, first.Callback(v))
	if len(firstRes) != 1 || firstRes[0] != nil || len(secondRes) != 1 || secondRes[0] != v {
		t.Fatalf("%v %v", firstRes, secondRes)
	}

	// test_synchronousImplicitErrorChain.
	e := &genericErr{"First Deferred's Failure"}
	first = r.Fail(e)
	second = r.NewDeferred()
	ok(t, second.AddCallback(func(any) (any, error) { return first, nil }))
	ok(t, second.Callback(nil))
	if got := successOf[any](t, first); got != nil {
		t.Fatal(got)
	}
	if err := failureOf(t, second, nil); err != e {
		t.Fatal(err)
	}

	// test_asynchronousImplicitErrorChain.
	first, second = r.NewDeferred(), r.NewDeferred()
	ok(t, second.AddCallback(func(any) (any, error) { return first, nil }))
	ok(t, second.Callback(nil))
	var secondErr []error
	Catch(second, func(err error) (any, error) { secondErr = append(secondErr, err); return nil, nil })
	firstRes, secondRes = nil, nil
	ok(t, first.AddCallback(func(x any) (any, error) { firstRes = append(firstRes, x); return x, nil }))
	ok(t, second.AddCallback(func(x any) (any, error) { secondRes = append(secondRes, x); return x, nil }))
	ok(t, first.Errback(e))
	if len(secondErr) != 1 || secondErr[0] != e || len(firstRes) != 1 || firstRes[0] != nil || len(secondRes) != 1 {
		t.Fatalf("%v %v %v", secondErr, firstRes, secondRes)
	}
}

func TestTwistedDoubleImplicitChaining(t *testing.T) {
	// test_doubleAsynchronousImplicitChaining: chaining is transitive.
	r := manual(t)
	defer r.Free()
	first, second, third := r.NewDeferred(), r.NewDeferred(), r.NewDeferred()
	ok(t, second.AddCallback(func(any) (any, error) { return first, nil }))
	ok(t, third.AddCallback(func(any) (any, error) { return second, nil }))
	var got []any
	ok(t, third.AddCallback(func(v any) (any, error) { got = append(got, v); return nil, nil }))
	v := &struct{ n int }{1}
	ok(t, second.Callback(nil))
	ok(t, third.Callback(nil))
	if len(got) != 0 {
		t.Fatal("ran early")
	}
	ok(t, first.Callback(v))
	if len(got) != 1 || got[0] != v {
		t.Fatal(got)
	}

	// test_resultOfDeferredResultOfDeferredOfFiredDeferredCalled.
	first, second, third = r.NewDeferred(), r.NewDeferred(), r.NewDeferred()
	ok(t, first.AddCallback(func(any) (any, error) { return second, nil }))
	ok(t, second.AddCallback(func(any) (any, error) { return third, nil }))
	ok(t, second.Callback(nil))
	ok(t, first.Callback(nil))
	ok(t, third.Callback(nil))
	got = nil
	ok(t, second.AddCallback(func(v any) (any, error) { got = append(got, v); return nil, nil }))
	if len(got) != 1 || got[0] != nil {
		t.Fatal(got)
	}
}

func TestTwistedChainDeferred(t *testing.T) {
	// test_chainDeferredRecordsExplicitChain / test_explicitChainClearedWhenResolved:
	// Twisted checks a private field; here the observable part: a waits for
	// b, takes its result, and b goes on with nil.
	r := manual(t)
	defer r.Free()
	a, b := r.NewDeferred(), r.NewDeferred()
	ok(t, b.Chain(a))
	noResult(t, a)
	ok(t, b.Callback("x"))
	if s := successOf[string](t, a); s != "x" {
		t.Fatal(s)
	}
	if v := successOf[any](t, b); v != nil {
		t.Fatal(v)
	}
	// A failure goes the same way, and b's chain continues with nil.
	a, b = r.NewDeferred(), r.NewDeferred()
	ok(t, b.Chain(a))
	e := &genericErr{"chained"}
	ok(t, b.Errback(e))
	if err := failureOf(t, a, nil); err != e {
		t.Fatal(err)
	}
	if v := successOf[any](t, b); v != nil {
		t.Fatal(v)
	}
	// chainDeferred to an already-fired deferred: callback raises
	// AlreadyCalledError on the source chain.
	a, b = r.Succeed(1), r.NewDeferred()
	ok(t, b.Chain(a))
	ok(t, b.Callback(2))
	failureOf(t, b, ErrAlreadyCalled)
}

func TestTwistedCircularChain(t *testing.T) {
	// test_circularChainWarning / test_circularChainException: a callback
	// returning its own deferred.  Twisted warns (DeprecationWarning, a
	// failure when warnings are errors); the C library fails the chain with
	// ErrInvalid at once (docs/design.md).
	r := manual(t)
	defer r.Free()
	d := r.NewDeferred()
	ok(t, d.AddCallback(func(any) (any, error) { return d, nil }))
	ok(t, d.Callback("foo"))
	failureOf(t, d, ErrInvalid)
}

func TestTwistedBoundedStackDepth(t *testing.T) {
	// test_boundedStackDepth: a long chain of deferreds waiting on each other
	// runs without growing the stack — here, 100,000 of them in a row would
	// overflow a recursive implementation's C stack.
	r := manual(t)
	defer r.Free()
	const n = 100000
	top := r.NewDeferred()
	inners := make([]*Deferred, n)
	for i := range inners {
		inners[i] = r.NewDeferred()
	}
	last := r.NewDeferred()
	ok(t, top.AddCallback(func(any) (any, error) { return inners[0], nil }))
	ran := false
	ok(t, top.AddCallback(func(v any) (any, error) { ran = true; return v, nil }))
	for i := 0; i < n-1; i++ {
		next := inners[i+1]
		ok(t, inners[i].AddCallback(func(any) (any, error) { return next, nil }))
	}
	ok(t, inners[n-1].AddCallback(func(any) (any, error) { return last, nil }))
	ok(t, top.Callback(nil))
	for _, d := range inners {
		ok(t, d.Callback(nil))
	}
	if ran {
		t.Fatal("ran before last fired")
	}
	ok(t, last.Callback(nil))
	if !ran {
		t.Fatal("did not run")
	}
	for _, d := range inners {
		d.Release()
	}
}

func TestTwistedAlreadyCalled(t *testing.T) {
	// AlreadyCalledTests: callback or errback twice, in every order.
	r := manual(t)
	defer r.Free()
	fire := map[string]func(*Deferred) error{
		"C": func(d *Deferred) error { return d.Callback("hello") },
		"E": func(d *Deferred) error { return d.Errback(&genericErr{"runtime"}) },
	}
	for _, order := range []string{"CC", "CE", "EE", "EC"} {
		d := r.NewDeferred()
		ok(t, d.AddCallbacks(func(any) (any, error) { return nil, nil }, func(error) (any, error) { return nil, nil }))
		ok(t, fire[order[:1]](d))
		if err := fire[order[1:]](d); !errors.Is(err, ErrAlreadyCalled) {
			t.Fatalf("%s: %v", order, err)
		}
	}
}

func TestTwistedCancellerNoCanceller(t *testing.T) {
	r := manual(t)
	defer r.Free()
	// test_noCanceller: CancelledError on the errback path.
	var cbs, ebs []any
	track := func(d *Deferred) {
		ok(t, d.AddCallbacks(func(v any) (any, error) { cbs = append(cbs, v); return v, nil },
			func(err error) (any, error) { ebs = append(ebs, err); return nil, nil }))
	}
	d := r.NewDeferred()
	track(d)
	ok(t, d.Cancel())
	if len(cbs) != 0 || len(ebs) != 1 || !errors.Is(ebs[0].(error), ErrCancelled) {
		t.Fatal(cbs, ebs)
	}
	// test_raisesAfterCancelAndCallback / AndErrback: one fire after the
	// cancel is swallowed, the next is AlreadyCalled.
	for _, first := range []string{"callback", "errback"} {
		d := r.NewDeferred()
		track(d)
		ok(t, d.Cancel())
		if first == "callback" {
			ok(t, d.Callback(nil))
		} else {
			ok(t, d.Errback(&genericErr{"x"}))
		}
		if err := d.Callback(nil); !errors.Is(err, ErrAlreadyCalled) {
			t.Fatal(first, err)
		}
		if err := d.Errback(&genericErr{"x"}); !errors.Is(err, ErrAlreadyCalled) {
			t.Fatal(first, err)
		}
		// test_noCancellerMultipleCancelsAfterCancelAndCallback/Errback:
		// later cancels change nothing.
		ebs = nil
		ok(t, d.Cancel())
		if len(ebs) != 0 {
			t.Fatal(ebs)
		}
	}
	// test_noCancellerMultipleCancel.
	ebs = nil
	d = r.NewDeferred()
	track(d)
	ok(t, d.Cancel())
	ok(t, d.Cancel())
	if len(ebs) != 1 {
		t.Fatal(ebs)
	}
}

func TestTwistedCancellerCalledOnce(t *testing.T) {
	r := manual(t)
	defer r.Free()
	// test_cancellerMultipleCancel / test_simpleCanceller: the canceller runs
	// once; a canceller that does not fire the deferred leaves a
	// CancelledError, after which fires are AlreadyCalled (not swallowed).
	calls := 0
	var ebs []error
	d := r.NewCancellableDeferred(func(*Deferred) { calls++ })
	Catch(d, func(err error) (any, error) { ebs = append(ebs, err); return nil, nil })
	ok(t, d.Cancel())
	ok(t, d.Cancel())
	if calls != 1 || len(ebs) != 1 || !errors.Is(ebs[0], ErrCancelled) {
		t.Fatal(calls, ebs)
	}
	if err := d.Callback(nil); !errors.Is(err, ErrAlreadyCalled) {
		t.Fatal(err)
	}
	if err := d.Errback(&genericErr{"x"}); !errors.Is(err, ErrAlreadyCalled) {
		t.Fatal(err)
	}
}

func TestTwistedCancellerArg(t *testing.T) {
	// test_cancellerArg: the canceller gets the deferred being cancelled —
	// the same *Deferred while the caller's wrapper lives.
	r := manual(t)
	defer r.Free()
	var d *Deferred
	var got *Deferred
	d = r.NewCancellableDeferred(func(d1 *Deferred) { got = d1 })
	ok(t, d.Cancel())
	if got != d {
		t.Fatal("canceller got another deferred")
	}
	failureOf(t, d, ErrCancelled)

	// A canceller may keep its argument and use it later: it stays usable
	// after the canceller returns, also when the caller's wrapper was
	// released (it is then a new one).  (The canceller did not fire it, so
	// the cancel failed it and a later fire is AlreadyCalled, as in Twisted.)
	for _, release := range []bool{false, true} {
		var kept *Deferred
		var late error
		d = r.NewCancellableDeferred(func(d1 *Deferred) {
			kept = d1
			must1(r.CallLater(1, func() {
				late = kept.Callback("later")
				Catch(kept, func(err error) (any, error) { late = err; return nil, nil })
			}))
		})
		dl := must1(r.DeferredList([]*Deferred{d}, 0))
		if release {
			d.Release()
		}
		ok(t, dl.Cancel())
		if (kept == d) == release {
			t.Fatalf("release %v: kept %p d %p", release, kept, d)
		}
		if late != nil {
			t.Fatal(late)
		}
		ok(t, r.Advance(1))
		if !errors.Is(late, ErrCancelled) {
			t.Fatal(late)
		}
		kept.Release()
	}
	// The caller's wrapper dropped and collected: a new one.
	got = nil
	var dl *Deferred
	func() {
		d := r.NewCancellableDeferred(func(d1 *Deferred) { got = d1 })
		dl = must1(r.DeferredList([]*Deferred{d}, 0))
	}()
	for i := 0; i < 3; i++ {
		settleAll()
		runtime.GC()
	}
	ok(t, dl.Cancel())
	if got == nil || got.State() != Failed {
		t.Fatal("canceller got no usable deferred")
	}
	failureOf(t, got, ErrCancelled)
	got.Release()
	dl.Release()
	noHandles(t)
}

func TestTwistedCancelAfterFired(t *testing.T) {
	// test_cancelAfterCallback / test_cancelAfterErrback: no canceller call,
	// no change.
	r := manual(t)
	defer r.Free()
	calls := 0
	canceller := func(d *Deferred) { calls++; _ = d.Errback(&genericErr{"canceller"}) }
	d := r.NewCancellableDeferred(canceller)
	ok(t, d.Callback("biff!"))
	ok(t, d.Cancel())
	if s := successOf[string](t, d); s != "biff!" || calls != 0 {
		t.Fatal(s, calls)
	}
	e := &genericErr{"generic"}
	d = r.NewCancellableDeferred(canceller)
	ok(t, d.Errback(e))
	ok(t, d.Cancel())
	if err := failureOf(t, d, nil); err != e || calls != 0 {
		t.Fatal(err, calls)
	}
}

func TestTwistedCancellerThatFires(t *testing.T) {
	// test_cancellerThatErrbacks / test_cancellerThatCallbacks.
	r := manual(t)
	defer r.Free()
	e := &genericErr{"generic"}
	calls := 0
	d := r.NewCancellableDeferred(func(d *Deferred) { calls++; _ = d.Errback(e) })
	ok(t, d.Cancel())
	if err := failureOf(t, d, nil); err != e || calls != 1 {
		t.Fatal(err, calls)
	}
	d = r.NewCancellableDeferred(func(d *Deferred) { calls++; _ = d.Callback("hello!") })
	ok(t, d.Cancel())
	if s := successOf[string](t, d); s != "hello!" || calls != 2 {
		t.Fatal(s, calls)
	}
}

func TestTwistedCancelNestedDeferred(t *testing.T) {
	// test_cancelNestedDeferred: cancelling a deferred that waits on another
	// cancels the other (its canceller runs, not the outer's).
	r := manual(t)
	defer r.Free()
	inner := 0
	b := r.NewCancellableDeferred(func(*Deferred) { inner++ })
	a := r.NewCancellableDeferred(func(*Deferred) { t.Error("outer canceller ran") })
	ok(t, a.Callback(nil))
	ok(t, a.AddCallback(func(any) (any, error) { return b, nil }))
	ok(t, a.Cancel())
	if inner != 1 {
		t.Fatal(inner)
	}
	failureOf(t, a, ErrCancelled)
}

func TestTwistedLock(t *testing.T) {
	// testLock.
	r := manual(t)
	defer r.Free()
	l := r.NewLock()
	defer l.Free()
	counter := 0
	incr := func(v any) (any, error) { counter++; return v, nil }
	ok(t, must1(l.Acquire()).AddCallback(incr))
	if !l.Locked() || counter != 1 {
		t.Fatal(counter)
	}
	ok(t, must1(l.Acquire()).AddCallback(incr))
	if !l.Locked() || counter != 1 {
		t.Fatal(counter)
	}
	ok(t, l.Release())
	if !l.Locked() || counter != 2 {
		t.Fatal(counter)
	}
	ok(t, l.Release())
	if l.Locked() || counter != 2 {
		t.Fatal(counter)
	}
	if _, err := l.Run(nil); !errors.Is(err, ErrInvalid) { // lock.run() with no function
		t.Fatal(err)
	}
	first, second := &struct{ n int }{1}, &struct{ n int }{2}
	control := r.NewDeferred()
	var result any
	run := must1(l.Run(func() (any, error) { result = first; return control, nil }))
	if !l.Locked() || result != first {
		t.Fatal(result)
	}
	ok(t, run.AddCallback(func(v any) (any, error) { result = v; return nil, nil }))
	ok(t, must1(l.Acquire()).AddCallback(incr))
	if !l.Locked() || counter != 2 {
		t.Fatal(counter)
	}
	ok(t, control.Callback(second))
	if result != second || !l.Locked() || counter != 3 {
		t.Fatal(result, counter)
	}
	d := must1(l.Acquire())
	ok(t, d.AddBoth(func(v any, err error) (any, error) { result = err; return nil, nil }))
	ok(t, d.Cancel())
	if err, _ := result.(error); !errors.Is(err, ErrCancelled) {
		t.Fatal(result)
	}
	ok(t, l.Release())
	if l.Locked() {
		t.Fatal("still locked")
	}
	// acquire fires with the lock itself (the idiom
	// lock.acquire().addCallback(lambda lock: ...; lock.release())).
	Then(must1(l.Acquire()), func(got *Lock) (any, error) { return nil, got.Release() })
	if l.Locked() {
		t.Fatal("not released through the acquire's result")
	}
	s := must1(r.NewSemaphore(1))
	defer s.Free()
	Then(must1(s.Acquire()), func(got *Semaphore) (any, error) { return nil, got.Release() })
	if s.Tokens() != 1 {
		t.Fatal("not released through the acquire's result")
	}
	noHandles(t) // the handles of the lock and semaphore results too
}

func TestTwistedCancelLockAndSemaphore(t *testing.T) {
	// test_cancelLockAfterAcquired / BeforeAcquired and the semaphore's.
	r := manual(t)
	defer r.Free()
	l := r.NewLock()
	defer l.Free()
	d := must1(l.Acquire())
	Catch(d, func(err error) (any, error) { t.Error("unexpected errback"); return nil, nil })
	ok(t, d.Cancel())
	d = must1(l.Acquire())
	ok(t, d.Cancel())
	failureOf(t, d, ErrCancelled)
	if l.Waiting() != 0 {
		t.Fatal("cancelled waiter still queued")
	}

	s := must1(r.NewSemaphore(1))
	defer s.Free()
	d = must1(s.Acquire())
	Catch(d, func(err error) (any, error) { t.Error("unexpected errback"); return nil, nil })
	ok(t, d.Cancel())
	d = must1(s.Acquire())
	ok(t, d.Cancel())
	failureOf(t, d, ErrCancelled)
	if s.Waiting() != 0 {
		t.Fatal("cancelled waiter still queued")
	}
}

func TestTwistedSemaphore(t *testing.T) {
	// testSemaphore / test_semaphoreInvalidTokens.
	r := manual(t)
	defer r.Free()
	const n = 13
	s := must1(r.NewSemaphore(n))
	defer s.Free()
	control := r.NewDeferred()
	arg := &struct{ n int }{1}
	var helperArg any
	var results []any
	counter := 0
	incr := func(v any) (any, error) { counter++; return v, nil }
	res := must1(s.Run(func() (any, error) { helperArg = arg; return control, nil }))
	ok(t, res.AddCallback(func(v any) (any, error) { results = append(results, v); return v, nil }))
	ok(t, res.AddCallback(incr))
	if len(results) != 0 || helperArg != arg {
		t.Fatal(results, helperArg)
	}
	ok(t, control.Callback(nil))
	if len(results) != 1 || results[0] != nil || counter != 1 {
		t.Fatal(results, counter)
	}
	counter = 0
	for i := 1; i <= n; i++ {
		ok(t, must1(s.Acquire()).AddCallback(incr))
		if counter != i {
			t.Fatal(i, counter)
		}
	}
	var success []bool
	d := must1(s.Acquire())
	ok(t, d.AddCallbacks(func(any) (any, error) { success = append(success, false); return nil, nil },
		func(error) (any, error) { success = append(success, true); return nil, nil }))
	ok(t, d.Cancel())
	if !reflect.DeepEqual(success, []bool{true}) {
		t.Fatal(success)
	}
	ok(t, must1(s.Acquire()).AddCallback(incr))
	if counter != n {
		t.Fatal(counter)
	}
	ok(t, s.Release())
	if counter != n+1 {
		t.Fatal(counter)
	}
	for i := 1; i <= n; i++ {
		ok(t, s.Release())
		if counter != n+1 {
			t.Fatal(counter)
		}
	}
	if _, err := r.NewSemaphore(0); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
}

func TestTwistedQueue(t *testing.T) {
	// testQueue: size and backlog limits.  Twisted raises QueueUnderflow from
	// get(); here Get gives a deferred failed with ErrUnderflow (the error
	// return is for misuse), see README.  put raises QueueOverflow: Put
	// returns ErrOverflow.
	r := manual(t)
	defer r.Free()
	const n, m = 2, 2
	q := r.NewQueue(n, m)
	defer q.Free()
	var gotten []any
	collect := func(v any) (any, error) { gotten = append(gotten, v); return v, nil }
	for i := 0; i < m; i++ {
		ok(t, must1(q.Get()).AddCallback(collect))
	}
	failureOf(t, must1(q.Get()), ErrUnderflow)
	for i := 0; i < m; i++ {
		ok(t, q.Put(i))
		if len(gotten) != i+1 || gotten[i] != int64(i) {
			t.Fatal(gotten)
		}
	}
	for i := 0; i < n; i++ {
		ok(t, q.Put(n+i))
		if len(gotten) != m {
			t.Fatal(gotten)
		}
	}
	if err := q.Put(nil); !errors.Is(err, ErrOverflow) {
		t.Fatal(err)
	}
	gotten = nil
	for i := 0; i < n; i++ {
		ok(t, must1(q.Get()).AddCallback(collect))
		if len(gotten) != i+1 || gotten[i] != int64(n+i) {
			t.Fatal(gotten)
		}
	}

	q2 := r.NewQueue(Unlimited, Unlimited)
	defer q2.Free()
	gotten = nil
	for i := 0; i < n; i++ {
		ok(t, must1(q2.Get()).AddCallback(collect))
	}
	for i := 0; i < n; i++ {
		ok(t, q2.Put(i))
	}
	if !reflect.DeepEqual(gotten, []any{int64(0), int64(1)}) {
		t.Fatal(gotten)
	}

	q3 := r.NewQueue(0, Unlimited)
	defer q3.Free()
	if err := q3.Put(nil); !errors.Is(err, ErrOverflow) {
		t.Fatal(err)
	}
	q4 := r.NewQueue(Unlimited, 0)
	defer q4.Free()
	failureOf(t, must1(q4.Get()), ErrUnderflow)
}

func TestTwistedCancelQueueGet(t *testing.T) {
	r := manual(t)
	defer r.Free()
	// test_cancelQueueAfterSynchronousGet: cancelling a fired get does nothing.
	q := r.NewQueue(Unlimited, Unlimited)
	defer q.Free()
	d := must1(q.Get())
	Catch(d, func(err error) (any, error) { t.Error("unexpected errback"); return nil, nil })
	ok(t, q.Put(nil))
	ok(t, d.Cancel())

	// test_cancelQueueAfterGet: a cancelled get is no longer a waiter; the
	// next value goes to the next get.
	d = must1(q.Get())
	ok(t, d.Cancel())
	failureOf(t, d, ErrCancelled)
	ok(t, d.AddCallback(func(any) (any, error) {
		ok(t, q.Put("v"))
		return Then(must1(q.Get()), func(s string) (string, error) { return s, nil }), nil
	}))
	if s := successOf[string](t, d); s != "v" {
		t.Fatal(s)
	}
}

// overrideFunc is test_defer's _overrideFunc: the onTimeoutCancel that
// replaces whatever the timeout left with "OVERRIDDEN".
func overrideFunc(any, error) (any, error) { return "OVERRIDDEN", nil }

// withTimeout adds a timeout of 10 s, with overrideFunc when custom.
func withTimeout(t *testing.T, d *Deferred, custom bool) {
	t.Helper()
	if custom {
		ok(t, d.AddTimeoutWith(10*1e9, overrideFunc))
	} else {
		ok(t, d.AddTimeout(10*1e9))
	}
}

func TestTwistedTimeoutChainable(t *testing.T) {
	// test_timeoutChainable (AddTimeout returns an error, not d: callbacks
	// go on d as usual).
	r := manual(t)
	defer r.Free()
	d := r.NewDeferred()
	ok(t, d.AddTimeout(5*1e9))
	ok(t, d.AddCallback(func(any) (any, error) { return "done", nil }))
	ok(t, d.Callback(nil))
	if s := successOf[string](t, d); s != "done" {
		t.Fatal(s)
	}
}

func TestTwistedResultBeforeTimeout(t *testing.T) {
	// test_successResultBeforeTimeout(Custom) / test_failureBeforeTimeout(Custom):
	// a result before the timeout passes, and nothing is cancelled later
	// (not even a deferred the chain then waits on).
	for _, custom := range []bool{false, true} {
		for _, fail := range []bool{false, true} {
			r := manual(t)
			d := r.NewDeferred()
			withTimeout(t, d, custom)
			inner := r.NewDeferred()
			var seen any
			e := &genericErr{"fail"}
			if fail {
				Catch(d, func(err error) (any, error) { seen = err; return inner, nil })
				ok(t, d.Errback(e))
			} else {
				ok(t, d.AddCallback(func(v any) (any, error) { seen = v; return inner, nil }))
				ok(t, d.Callback("results"))
			}
			if (fail && seen != e) || (!fail && seen != "results") {
				t.Fatal(custom, fail, seen)
			}
			ok(t, r.Advance(15*1e9))
			noResult(t, inner)
			r.Free()
		}
	}
}

func TestTwistedTimedOut(t *testing.T) {
	r := manual(t)
	defer r.Free()
	// test_timedOut: TimeoutError.
	d := r.NewDeferred()
	ok(t, d.AddTimeout(10*1e9))
	noResult(t, d)
	ok(t, r.Advance(15*1e9))
	err := failureOf(t, d, ErrTimedOut)
	if errors.Is(err, ErrCancelled) {
		t.Fatal("a timeout is not a CancelledError:", err)
	}
	// test_timedOutCustom: onTimeoutCancel may return a result.
	d = r.NewDeferred()
	ok(t, d.AddTimeoutWith(10*1e9, overrideFunc))
	noResult(t, d)
	ok(t, r.Advance(15*1e9))
	if s := successOf[string](t, d); s != "OVERRIDDEN" {
		t.Fatal(s)
	}
}

func TestTwistedTimedOutProvidedCancel(t *testing.T) {
	r := manual(t)
	defer r.Free()
	// test_timedOutProvidedCancelSuccess: the canceller's result stands.
	d := r.NewCancellableDeferred(func(c *Deferred) { _ = c.Callback("I was cancelled!") })
	ok(t, d.AddTimeout(10*1e9))
	noResult(t, d)
	ok(t, r.Advance(15*1e9))
	if s := successOf[string](t, d); s != "I was cancelled!" {
		t.Fatal(s)
	}
	// test_timedOutProvidedCancelFailure: so does its failure (not turned
	// into a timeout).
	e := &genericErr{"what!"}
	d = r.NewCancellableDeferred(func(c *Deferred) { _ = c.Errback(e) })
	ok(t, d.AddTimeout(10*1e9))
	ok(t, r.Advance(15*1e9))
	if err := failureOf(t, d, nil); err != e {
		t.Fatal(err)
	}
	// test_providedCancelCalledBeforeTimeoutCustom: onTimeoutCancel gets it
	// and overrides it.
	var seen error
	d = r.NewCancellableDeferred(func(c *Deferred) { _ = c.Errback(e) })
	ok(t, d.AddTimeoutWith(10*1e9, func(v any, err error) (any, error) { seen = err; return overrideFunc(v, err) }))
	ok(t, r.Advance(15*1e9))
	if s := successOf[string](t, d); s != "OVERRIDDEN" || seen != e {
		t.Fatal(s, seen)
	}
}

func TestTwistedCancelBeforeTimeout(t *testing.T) {
	// test_cancelBeforeTimeout(Custom): a cancel before the timeout keeps its
	// CancelledError; the timeout neither fires nor calls onTimeoutCancel.
	for _, custom := range []bool{false, true} {
		r := manual(t)
		d := r.NewDeferred()
		withTimeout(t, d, custom)
		inner := r.NewDeferred()
		var seen error
		Catch(d, func(err error) (any, error) { seen = err; return inner, nil })
		ok(t, d.Cancel())
		if !errors.Is(seen, ErrCancelled) || errors.Is(seen, ErrTimedOut) {
			t.Fatal(custom, seen)
		}
		ok(t, r.Advance(15*1e9))
		noResult(t, inner)
		noResult(t, d)
		r.Free()
	}
}

func TestTwistedErrbackAddedBeforeTimeout(t *testing.T) {
	// test_errbackAddedBeforeTimeout and its SuppressesCancellation and Custom
	// variants: an errback before the timeout sees the CancelledError; what
	// it leaves is translated (a CancelledError becomes a TimeoutError) or
	// handed to onTimeoutCancel.
	for _, custom := range []bool{false, true} {
		for _, suppress := range []bool{false, true} {
			r := manual(t)
			d := r.NewDeferred()
			var seen error
			Catch(d, func(err error) (any, error) {
				seen = err
				if suppress {
					return nil, nil
				}
				return nil, err
			})
			withTimeout(t, d, custom)
			ok(t, r.Advance(15*1e9))
			if !errors.Is(seen, ErrCancelled) {
				t.Fatal(custom, suppress, seen)
			}
			switch {
			case custom:
				if s := successOf[string](t, d); s != "OVERRIDDEN" {
					t.Fatal(s)
				}
			case suppress:
				if v := successOf[any](t, d); v != nil {
					t.Fatal(v)
				}
			default:
				failureOf(t, d, ErrTimedOut)
			}
			r.Free()
		}
	}
}

func TestTwistedCallbackAddedToCancellerBeforeTimeout(t *testing.T) {
	// test_callbackAddedToCancelerBeforeTimeout(Custom): a canceller that
	// fires the deferred: the callback added before the timeout runs; the
	// result stands, or onTimeoutCancel (which runs all the same) replaces it.
	for _, custom := range []bool{false, true} {
		r := manual(t)
		success := &struct{ s string }{"success"}
		d := r.NewCancellableDeferred(func(d *Deferred) { _ = d.Callback(success) })
		var seen any
		ok(t, d.AddCallback(func(v any) (any, error) { seen = v; return v, nil }))
		withTimeout(t, d, custom)
		ok(t, r.Advance(15*1e9))
		if seen != success {
			t.Fatal(seen)
		}
		got := successOf[any](t, d)
		if (custom && got != "OVERRIDDEN") || (!custom && got != success) {
			t.Fatal(custom, got)
		}
		r.Free()
	}
}

// Behaviour Twisted has and its tests do not check directly, found while
// porting them (each checked against Twisted 22.4).

func TestTwistedDeferredListFireOnOneCallbackAllFail(t *testing.T) {
	// fireOnOneCallback when every input fails: the full list (all not OK).
	r := manual(t)
	defer r.Free()
	a, b := r.NewDeferred(), r.NewDeferred()
	dl := must1(r.DeferredList([]*Deferred{a, b}, FireOnOneCallback|ConsumeErrors))
	ok(t, a.Errback(&genericErr{"x"}))
	noResult(t, dl)
	ok(t, b.Errback(&genericErr{"y"}))
	e := successOf[Entries](t, dl)
	if len(e) != 2 || e[0].OK || e[1].OK || e[0].Err.Error() != "x" || e[1].Err.Error() != "y" {
		t.Fatalf("%+v", e)
	}
	// Both flags: the first failure wins when it comes first.
	a, b = r.NewDeferred(), r.NewDeferred()
	dl = must1(r.DeferredList([]*Deferred{a, b}, FireOnOneCallback|FireOnOneErrback|ConsumeErrors))
	ok(t, a.Errback(&genericErr{"x"}))
	var f *Failure
	if err := failureOf(t, dl, ErrFirstError); !errors.As(err, &f) || f.Index != 0 {
		t.Fatal(err)
	}
}

func TestTwistedCallbackFromOwnCallback(t *testing.T) {
	// Firing a deferred from one of its own callbacks: AlreadyCalled.
	r := manual(t)
	defer r.Free()
	d := r.NewDeferred()
	var inner error
	ok(t, d.AddCallback(func(v any) (any, error) { inner = d.Callback(2); return v, nil }))
	ok(t, d.Callback(1))
	if !errors.Is(inner, ErrAlreadyCalled) {
		t.Fatal(inner)
	}
}

func TestTwistedLockRunFailure(t *testing.T) {
	// DeferredLock.run with a function that raises: the failure, the lock
	// released.  Releasing an unlocked lock or an unheld token is refused
	// (Twisted asserts).
	r := manual(t)
	defer r.Free()
	l := r.NewLock()
	defer l.Free()
	d := must1(l.Run(func() (any, error) { var z int; return 1 / z, nil }))
	failureOf(t, d, ErrPanic)
	if l.Locked() {
		t.Fatal("still locked")
	}
	e := &genericErr{"e"}
	control := r.NewDeferred()
	d = must1(l.Run(func() (any, error) { return control, nil }))
	ok(t, control.Errback(e))
	if err := failureOf(t, d, nil); err != e || l.Locked() {
		t.Fatal(err, l.Locked())
	}
	if err := l.Release(); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	s := must1(r.NewSemaphore(1))
	defer s.Free()
	if err := s.Release(); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	d = must1(s.Run(func() (any, error) { return nil, e }))
	if err := failureOf(t, d, nil); err != e || s.Tokens() != 1 {
		t.Fatal(err, s.Tokens())
	}
}

// unhandledLog installs an unhandled-error hook for the test (Twisted's
// LogTests observe the log) and gives the failures it saw.
func unhandledLog(t *testing.T) func() []error {
	var mu sync.Mutex
	var seen []error
	SetUnhandledErrorHook(func(err error) {
		mu.Lock()
		seen = append(seen, err)
		mu.Unlock()
	})
	t.Cleanup(func() { SetUnhandledErrorHook(nil) })
	return func() []error {
		mu.Lock()
		defer mu.Unlock()
		return append([]error(nil), seen...)
	}
}

func TestTwistedErrorLog(t *testing.T) {
	// test_errorLog and its variants: a deferred whose final result is a
	// failure reports it once its last reference goes — released, or
	// collected by the garbage collector.
	logged := unhandledLog(t)
	r := manual(t)
	defer r.Free()
	d := r.NewDeferred()
	Then(d, func(int) (int, error) { var z int; return 1 / z, nil })
	ok(t, d.Callback(1))
	if len(logged()) != 0 {
		t.Fatal("reported while referenced")
	}
	d.Release()
	r.flush()
	if l := logged(); len(l) != 1 || !errors.Is(l[0], ErrPanic) {
		t.Fatal(l)
	}
	// Dropped without Release: the collector's cleanup reports it.
	e := &genericErr{"collected"}
	func() {
		d := r.NewDeferred()
		ok(t, d.Errback(e))
	}()
	noHandles(t)
	if l := logged(); len(l) != 2 || l[1] != e {
		t.Fatal(l)
	}
	// A failure that was handled is not reported.
	d = r.Fail(&genericErr{"handled"})
	Catch(d, func(error) (any, error) { return nil, nil })
	d.Release()
	r.flush()
	if l := logged(); len(l) != 2 {
		t.Fatal(l)
	}
}

func TestTwistedChainedErrorNotLogged(t *testing.T) {
	// test_chainedErrorCleanup: a failed deferred returned from a callback
	// hands its failure on (and is left with nil): only the outer one could
	// report it, and it was handled there.  test_errorClearedByChaining: an
	// errback that chains to a pending deferred clears the failure.
	logged := unhandledLog(t)
	r := manual(t)
	defer r.Free()
	d := r.NewDeferred()
	ok(t, d.AddCallback(func(any) (any, error) { return r.Fail(&genericErr{"zoop"}), nil }))
	ok(t, d.Callback(nil))
	var errs []error
	Catch(d, func(err error) (any, error) { errs = append(errs, err); return nil, nil })
	if len(errs) != 1 {
		t.Fatal(errs)
	}
	d.Release()

	bad, good := r.Fail(&genericErr{"oh no"}), r.NewDeferred()
	Catch(bad, func(error) (any, error) { return good, nil })
	bad.Release()
	good.Release()
	noHandles(t)
	if l := logged(); len(l) != 0 {
		t.Fatal(l)
	}
}

func TestTwistedCancelChained(t *testing.T) {
	// chainDeferred: cancelling the target fails it and leaves the source
	// alone (its later result goes nowhere: the one fire after a cancel is
	// swallowed); cancelling the source cancels the target through the chain.
	r := manual(t)
	defer r.Free()
	a, b := r.NewDeferred(), r.NewDeferred()
	ok(t, b.Chain(a))
	ok(t, a.Cancel())
	failureOf(t, a, ErrCancelled)
	noResult(t, b)
	ok(t, b.Callback(5))
	if v := successOf[any](t, b); v != nil {
		t.Fatal(v)
	}
	a, b = r.NewDeferred(), r.NewDeferred()
	ok(t, b.Chain(a))
	ok(t, b.Cancel())
	failureOf(t, a, ErrCancelled)
}

func TestTwistedPauseInsideCallback(t *testing.T) {
	// A deliberate difference (docs/design.md): Twisted notices a pause made
	// inside a callback only between deferreds, so the next callback of the
	// same deferred still runs; the library stops right after the callback
	// that paused, until Unpause.
	r := manual(t)
	defer r.Free()
	d := r.NewDeferred()
	var out []any
	ok(t, d.AddCallback(func(v any) (any, error) { ok(t, d.Pause()); return v, nil }))
	ok(t, d.AddCallback(func(v any) (any, error) { out = append(out, v); return v, nil }))
	ok(t, d.Callback(1))
	if len(out) != 0 {
		t.Fatal(out) // Twisted: [1]
	}
	ok(t, d.Unpause())
	if len(out) != 1 || out[0] != int64(1) {
		t.Fatal(out)
	}
}

func TestTwistedCallbackWithError(t *testing.T) {
	// A deliberate difference: Twisted's callback(exception instance) runs
	// the callbacks with the exception as a plain value (only a Failure takes
	// the errback path); in Go every error is a failure, so Callback(err) is
	// Errback(err).
	r := manual(t)
	defer r.Free()
	d := r.NewDeferred()
	e := &genericErr{"x"}
	ok(t, d.Callback(e))
	if err := failureOf(t, d, nil); err != e {
		t.Fatal(err)
	}
}

func TestTwistedTimeoutWhileWaitingOnInner(t *testing.T) {
	// A timeout added after a callback that returned a pending deferred: the
	// cancel reaches the inner deferred and the result is a TimeoutError.
	// addTimeout on a fired deferred leaves no call behind; of two timeouts
	// the first wins and the other is removed.
	r := manual(t)
	defer r.Free()
	d, inner := r.NewDeferred(), r.NewDeferred()
	ok(t, d.AddCallback(func(any) (any, error) { return inner, nil }))
	ok(t, d.AddTimeout(sec(10)))
	ok(t, d.Callback(nil))
	ok(t, r.Advance(sec(11)))
	failureOf(t, d, ErrTimedOut)
	if inner.State() != Succeeded || r.PendingCalls() != 0 {
		t.Fatal(inner.State(), r.PendingCalls())
	}
	d = r.Succeed(1)
	ok(t, d.AddTimeout(sec(10)))
	if r.PendingCalls() != 0 {
		t.Fatal(r.PendingCalls())
	}
	d = r.NewDeferred()
	ok(t, d.AddTimeout(sec(5)))
	ok(t, d.AddTimeout(sec(10)))
	ok(t, r.Advance(sec(6)))
	if err := failureOf(t, d, ErrTimedOut); !strings.Contains(err.Error(), "5 seconds") || r.PendingCalls() != 0 {
		t.Fatal(err, r.PendingCalls())
	}
}

func TestTwistedLockRunCancel(t *testing.T) {
	// Cancelling run's deferred while it waits for the lock: the function
	// never runs and the waiter goes; while the function's deferred is
	// pending: that deferred is cancelled and the lock released.
	r := manual(t)
	defer r.Free()
	l := r.NewLock()
	defer l.Free()
	must1(l.Acquire())
	ran := false
	d := must1(l.Run(func() (any, error) { ran = true; return nil, nil }))
	ok(t, d.Cancel())
	failureOf(t, d, ErrCancelled)
	if ran || l.Waiting() != 0 {
		t.Fatal(ran, l.Waiting())
	}
	ok(t, l.Release())
	if l.Locked() {
		t.Fatal("locked")
	}
	innerCancelled := false
	inner := r.NewCancellableDeferred(func(*Deferred) { innerCancelled = true })
	d = must1(l.Run(func() (any, error) { return inner, nil }))
	ok(t, d.Cancel())
	failureOf(t, d, ErrCancelled)
	if !innerCancelled || l.Locked() {
		t.Fatal(innerCancelled, l.Locked())
	}
	// A cancelled Queue.Get leaves the queue: the next value is kept.
	q := r.NewQueue(Unlimited, Unlimited)
	defer q.Free()
	g := must1(q.Get())
	ok(t, g.Cancel())
	failureOf(t, g, ErrCancelled)
	ok(t, q.Put(1))
	if q.Waiting() != 0 || q.Pending() != 1 {
		t.Fatal(q.Waiting(), q.Pending())
	}
}

func TestTwistedCancelEdgeCases(t *testing.T) {
	r := manual(t)
	defer r.Free()
	var res []any
	rec := func(v any, err error) (any, error) {
		if err != nil {
			res = append(res, err)
		} else {
			res = append(res, v)
		}
		return nil, nil
	}
	// Cancelling a deferred from its own callback: it has a result, no effect.
	d := r.NewDeferred()
	ok(t, d.AddCallback(func(v any) (any, error) { ok(t, d.Cancel()); return v, nil }))
	ok(t, d.AddBoth(rec))
	ok(t, d.Callback(1))
	if len(res) != 1 || res[0] != int64(1) {
		t.Fatal(res)
	}
	// Cancelling a paused deferred: it fails at once, its callbacks wait for
	// Unpause.
	res = nil
	d = r.NewDeferred()
	ok(t, d.Pause())
	ok(t, d.AddBoth(rec))
	ok(t, d.Cancel())
	if len(res) != 0 || d.State() != Failed {
		t.Fatal(res, d.State())
	}
	ok(t, d.Unpause())
	if len(res) != 1 || !errors.Is(res[0].(error), ErrCancelled) {
		t.Fatal(res)
	}
	// Cancelling a deferred waiting on a paused deferred that has a result:
	// nothing to cancel; the result comes on Unpause.
	res = nil
	inner := r.Succeed(5)
	ok(t, inner.Pause())
	outer := r.Succeed(1)
	ok(t, outer.AddCallback(func(any) (any, error) { return inner, nil }))
	ok(t, outer.AddBoth(rec))
	ok(t, outer.Cancel())
	if len(res) != 0 {
		t.Fatal(res)
	}
	ok(t, inner.Unpause())
	if len(res) != 1 || res[0] != int64(5) {
		t.Fatal(res)
	}
}

func TestTwistedDeferredListOrderAndLateInputs(t *testing.T) {
	r := manual(t)
	defer r.Free()
	// fireOnOneCallback with an input that already succeeded: (value, index)
	// at once.
	a, b := r.Succeed("A"), r.NewDeferred()
	dl := must1(r.DeferredList([]*Deferred{b, a}, FireOnOneCallback))
	if e := successOf[Entries](t, dl); len(e) != 2 || e[0].Value != "A" || e[1].Value != int64(1) {
		t.Fatalf("%+v", e)
	}
	// consumeErrors still applies to inputs failing after the list fired.
	a, b = r.NewDeferred(), r.NewDeferred()
	must1(r.DeferredList([]*Deferred{a, b}, FireOnOneCallback|ConsumeErrors))
	ok(t, a.Callback(1))
	ok(t, b.Errback(&genericErr{"late"}))
	if v := successOf[any](t, b); v != nil {
		t.Fatal(v)
	}
	// gatherResults keeps input order whatever the firing order.
	a, b, c := r.NewDeferred(), r.NewDeferred(), r.NewDeferred()
	g := must1(r.Gather([]*Deferred{a, b, c}, false))
	ok(t, c.Callback(3))
	ok(t, a.Callback(1))
	ok(t, b.Callback(2))
	if l := successOf[[]any](t, g); !reflect.DeepEqual(l, []any{int64(1), int64(2), int64(3)}) {
		t.Fatal(l)
	}
}

func TestTwistedAsFuture(t *testing.T) {
	// DeferredFutureAdapterTests' asFuture tests, with Wait and a context as
	// the future: Wait takes the result (the chain goes on with nil); a done
	// context cancels the deferred (its canceller runs) and Wait returns the
	// cause, even when the canceller made a success of it.
	r := must1(Start(nil))
	defer func() { ok(t, r.Close()) }()
	ctx := context.Background()
	onReactor := func(fn func()) {
		t.Helper()
		_, err := Do[any](ctx, r, func() (any, error) { fn(); return nil, nil })
		ok(t, err)
	}
	after := func(d *Deferred) (v any, err error) {
		onReactor(func() { v, err = Result[any](d) })
		return
	}

	// test_asFuture.
	var d *Deferred
	onReactor(func() { d = r.NewDeferred() })
	go func() { time.Sleep(time.Millisecond); _ = r.Call(func() { _ = d.Callback(13) }) }()
	if n, err := Wait[int](ctx, d); n != 13 || err != nil {
		t.Fatal(n, err)
	}
	if v, err := after(d); v != nil || err != nil {
		t.Fatal(v, err)
	}

	// test_asFutureCancelFuture / test_asFutureSuccessCancel.
	for _, succeed := range []bool{false, true} {
		called := false
		onReactor(func() {
			d = r.NewCancellableDeferred(func(d *Deferred) {
				called = true
				if succeed {
					_ = d.Callback(9)
				}
			})
		})
		cctx, cancel := context.WithCancel(ctx)
		go func() { time.Sleep(time.Millisecond); cancel() }()
		if _, err := Wait[any](cctx, d); !errors.Is(err, context.Canceled) {
			t.Fatal(succeed, err)
		}
		onReactor(func() {}) // the cancel (queued by Wait) has run
		// Unlike Twisted's future, which takes the result, a Wait that
		// returned its context's error leaves the result in the chain (no
		// result is lost): the canceller's success stays; the cancel failure
		// Wait's own cancel caused is taken (the chain goes on with nil).
		v, err := after(d)
		if !called || (succeed && v != int64(9)) || (!succeed && v != nil) || err != nil {
			t.Fatal(succeed, called, v, err)
		}
	}

	// test_asFutureFailure.
	e := &genericErr{"zero division"}
	onReactor(func() { d = r.NewDeferred() })
	go func() { time.Sleep(time.Millisecond); _ = r.Call(func() { _ = d.Errback(e) }) }()
	if _, err := Wait[any](ctx, d); err != e {
		t.Fatal(err)
	}
}

func TestTwistedCallbackPairs(t *testing.T) {
	// addCallbacks adds one pair: when its callback fails, its own errback
	// does not run, the next errback does; an errback's success goes to the
	// next callback, its failure to the next errback.
	r := manual(t)
	defer r.Free()
	var rec record
	e1, e2 := &genericErr{"e1"}, &genericErr{"e2"}
	d := r.NewDeferred()
	ok(t, d.AddCallbacks(func(any) (any, error) { rec.add("cb1"); return nil, e1 },
		func(error) (any, error) { rec.add("eb1"); return nil, nil }))
	ok(t, d.AddCallbacks(func(any) (any, error) { rec.add("cb2"); return nil, nil },
		func(err error) (any, error) { rec.add("eb2 %v", err); return nil, e2 }))
	ok(t, d.AddCallbacks(func(any) (any, error) { rec.add("cb3"); return nil, nil },
		func(err error) (any, error) { rec.add("eb3 %v", err); return "recovered", nil }))
	ok(t, d.AddCallbacks(func(v any) (any, error) { rec.add("cb4 %v", v); return v, nil },
		func(error) (any, error) { rec.add("eb4"); return nil, nil }))
	ok(t, d.Callback(nil))
	rec.want(t, "cb1", "eb2 e1", "eb3 e2", "cb4 recovered")
}

func TestTwistedQueueLimitsEdges(t *testing.T) {
	// size limits what is kept, not what goes to a waiting get; backlog limits
	// waiting gets, not gets served at once; a cancelled get frees its place
	// in the backlog.
	r := manual(t)
	defer r.Free()
	q := r.NewQueue(0, Unlimited)
	defer q.Free()
	g := must1(q.Get())
	ok(t, q.Put(7))
	if n := successOf[int](t, g); n != 7 {
		t.Fatal(n)
	}
	q2 := r.NewQueue(Unlimited, 0)
	defer q2.Free()
	ok(t, q2.Put(1))
	if n := successOf[int](t, must1(q2.Get())); n != 1 {
		t.Fatal(n)
	}
	q3 := r.NewQueue(1, 1)
	defer q3.Free()
	g = must1(q3.Get())
	ok(t, g.Cancel())
	failureOf(t, g, ErrCancelled)
	g2 := must1(q3.Get())
	noResult(t, g2)
	if q3.Waiting() != 1 {
		t.Fatal(q3.Waiting())
	}
}
