package deferred

// The behaviour Twisted's own Deferred tests (twisted/test/test_defer.py,
// Twisted 22.4) check, written again for the Go API: one Go test per
// Twisted test or small group of them, named after it.  README.md ("Twisted's
// tests and the Go binding") lists the Twisted tests with no counterpart here
// and the deliberate differences.

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
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
