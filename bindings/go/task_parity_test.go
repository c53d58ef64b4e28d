package deferred

// The behaviour Twisted's tests of twisted.internet.task check
// (twisted/test/test_task.py, Twisted 22.4: Clock, callLater and its
// DelayedCall, deferLater, LoopingCall), written again for the Go API on a
// manual-clock reactor.  README.md ("Twisted's tests and the Go binding")
// lists what has no counterpart.

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// sec is s seconds.
func sec(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// pump is Clock.pump: advance by each step in turn.
func pump(t *testing.T, r *Reactor, steps ...float64) {
	t.Helper()
	for _, s := range steps {
		ok(t, r.Advance(sec(s)))
	}
}

func repeat(step float64, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = step
	}
	return s
}

func TestTwistedClockSeconds(t *testing.T) {
	// testSeconds: a manual clock starts at 0.
	r := manual(t)
	defer r.Free()
	if r.Now() != 0 {
		t.Fatal(r.Now())
	}
}

func TestTwistedClockCallLater(t *testing.T) {
	r := manual(t)
	defer r.Free()
	// testCallLater: the handle says when and that it is active.
	call := must1(r.CallLater(sec(1), func() {}))
	if call.Time() != sec(1) || !call.Active() {
		t.Fatal(call.Time(), call.Active())
	}
	// testCallLaterCancelled.
	ok(t, call.Cancel())
	if call.Active() {
		t.Fatal("active after cancel")
	}
	if err := call.Cancel(); !errors.Is(err, ErrAlreadyCancelled) {
		t.Fatal(err)
	}
	// test_callLaterOrdering: each call gets a new handle.
	c1 := must1(r.CallLater(sec(10), func() {}))
	c2 := must1(r.CallLater(sec(1), func() {}))
	if c1 == c2 {
		t.Fatal("same handle")
	}
	// test_getDelayedCalls / test_getDelayedCallsEmpty: the Go API counts
	// them (PendingCalls) instead of listing them.
	if n := r.PendingCalls(); n != 2 {
		t.Fatal(n)
	}
	ok(t, c1.Cancel())
	ok(t, c2.Cancel())
	if n := r.PendingCalls(); n != 0 {
		t.Fatal(n)
	}
}

func TestTwistedClockAdvance(t *testing.T) {
	r := manual(t)
	defer r.Free()
	// testAdvance.
	var events []string
	call := must1(r.CallLater(sec(2), func() { events = append(events, "ran") }))
	pump(t, r, 1)
	if len(events) != 0 {
		t.Fatal(events)
	}
	pump(t, r, 1)
	if len(events) != 1 || call.Active() {
		t.Fatal(events, call.Active())
	}
	if err := call.Reset(sec(1)); !errors.Is(err, ErrAlreadyRan) {
		t.Fatal(err)
	}
	// testAdvanceCancel: cancelling a call from inside it is AlreadyCalled.
	var inside error
	var call2 *DelayedCall
	call2 = must1(r.CallLater(sec(1), func() { inside = call2.Cancel() }))
	pump(t, r, 1)
	if !errors.Is(inside, ErrAlreadyRan) {
		t.Fatal(inside)
	}
}

func TestTwistedClockDelayAndReset(t *testing.T) {
	r := manual(t)
	defer r.Free()
	var events []string
	a, b := 1, 2
	log := func() { events = append(events, fmt.Sprint(a, b)) }
	// testCallLaterDelayed.
	call := must1(r.CallLater(sec(1), log))
	ok(t, call.Delay(sec(1)))
	if call.Time() != sec(2) {
		t.Fatal(call.Time())
	}
	pump(t, r, 1.5)
	if len(events) != 0 {
		t.Fatal(events)
	}
	pump(t, r, 1)
	if !reflect.DeepEqual(events, []string{"1 2"}) {
		t.Fatal(events)
	}
	// testCallLaterResetLater: reset counts from now.
	events = nil
	start := r.Now()
	call = must1(r.CallLater(sec(2), log))
	pump(t, r, 1)
	ok(t, call.Reset(sec(3)))
	if call.Time() != start+sec(4) {
		t.Fatal(call.Time() - start)
	}
	pump(t, r, 2)
	if len(events) != 0 {
		t.Fatal(events)
	}
	pump(t, r, 1)
	if len(events) != 1 {
		t.Fatal(events)
	}
	// testCallLaterResetSooner.
	events = nil
	start = r.Now()
	call = must1(r.CallLater(sec(4), log))
	ok(t, call.Reset(sec(3)))
	if call.Time() != start+sec(3) {
		t.Fatal(call.Time() - start)
	}
	pump(t, r, 3)
	if len(events) != 1 {
		t.Fatal(events)
	}
}

func TestTwistedClockCallsStayOrdered(t *testing.T) {
	// test_callLaterKeepsCallsOrdered, test_callLaterResetKeepsCallsOrdered and
	// test_callLaterResetInsideCallKeepsCallsOrdered.
	logger := func(r *Reactor, got *[]string) func(string) func() {
		return func(name string) func() {
			return func() { *got = append(*got, fmt.Sprintf("%s@%v", name, r.Now().Seconds())) }
		}
	}
	{
		r := manual(t)
		var got []string
		logtime := logger(r, &got)
		a := must1(r.CallLater(sec(1), logtime("a")))
		ok(t, a.Reset(sec(3)))
		must1(r.CallLater(sec(2), logtime("b")))
		pump(t, r, repeat(1, 3)...)
		if !reflect.DeepEqual(got, []string{"b@2", "a@3"}) {
			t.Fatal(got)
		}
		r.Free()
	}
	{
		r := manual(t)
		var got []string
		logtime := logger(r, &got)
		a := must1(r.CallLater(sec(1), logtime("a")))
		must1(r.CallLater(sec(2), logtime("b")))
		ok(t, a.Reset(sec(3)))
		pump(t, r, repeat(1, 3)...)
		if !reflect.DeepEqual(got, []string{"b@2", "a@3"}) {
			t.Fatal(got)
		}
		r.Free()
	}
	{
		r := manual(t)
		var got []string
		logtime := logger(r, &got)
		b := must1(r.CallLater(sec(2), logtime("b")))
		must1(r.CallLater(sec(1), func() { ok(t, b.Reset(sec(3))) }))
		must1(r.CallLater(sec(3), logtime("c")))
		pump(t, r, repeat(0.5, 10)...)
		if !reflect.DeepEqual(got, []string{"c@3", "b@4"}) {
			t.Fatal(got)
		}
		r.Free()
	}
}

// secs is r's clock in seconds, rounded to the microsecond (the C clock is a
// double: 0.5 + 0.01 is not exactly 0.51).
func secs(r *Reactor) float64 {
	return float64(r.Now().Round(time.Microsecond)) / float64(time.Second)
}

func TestTwistedLoopCallbackTimeSkips(t *testing.T) {
	// test_callbackTimeSkips: when the call itself takes longer than the
	// interval, the next call is at the next interval still in the future.
	r := manual(t)
	defer r.Free()
	var times []float64
	duration := 2.0
	lc := must1(r.NewLoopingCall(func() (any, error) {
		times = append(times, secs(r))
		return nil, r.Advance(sec(duration))
	}))
	defer lc.Free()
	must1(lc.Start(sec(0.5), true))
	if !reflect.DeepEqual(times, []float64{0}) || secs(r) != 2 {
		t.Fatal(times, secs(r))
	}
	pump(t, r, 0)
	if !reflect.DeepEqual(times, []float64{0}) {
		t.Fatal(times)
	}
	duration = 1
	pump(t, r, 0.5)
	if !reflect.DeepEqual(times, []float64{0, 2.5}) || secs(r) != 3.5 {
		t.Fatal(times, secs(r))
	}
	pump(t, r, 0)
	if !reflect.DeepEqual(times, []float64{0, 2.5}) {
		t.Fatal(times)
	}
	duration = 0
	pump(t, r, 0.5)
	if !reflect.DeepEqual(times, []float64{0, 2.5, 4}) || secs(r) != 4 {
		t.Fatal(times, secs(r))
	}
}

func TestTwistedLoopReactorTimeSkips(t *testing.T) {
	// test_reactorTimeSkips.
	r := manual(t)
	defer r.Free()
	var times []float64
	lc := must1(r.NewLoopingCall(func() (any, error) { times = append(times, secs(r)); return nil, nil }))
	defer lc.Free()
	must1(lc.Start(sec(0.5), true))
	if !reflect.DeepEqual(times, []float64{0}) {
		t.Fatal(times)
	}
	pump(t, r, 2)
	if !reflect.DeepEqual(times, []float64{0, 2}) {
		t.Fatal(times)
	}
	pump(t, r, 1)
	if !reflect.DeepEqual(times, []float64{0, 2, 3}) {
		t.Fatal(times)
	}
	pump(t, r, 0)
	if !reflect.DeepEqual(times, []float64{0, 2, 3}) {
		t.Fatal(times)
	}
}

type timeCount struct {
	at    float64
	count int
}

func TestTwistedLoopReactorTimeCountSkips(t *testing.T) {
	// test_reactorTimeCountSkips and test_countLengthyIntervalCounts.
	const interval, delay = 0.5, 0.01
	r := manual(t)
	defer r.Free()
	var got []timeCount
	lc := must1(r.NewLoopingCallWithCount(func(n int) (any, error) {
		got = append(got, timeCount{secs(r), n})
		return nil, nil
	}))
	defer lc.Free()
	must1(lc.Start(sec(interval), true))
	pump(t, r, interval+delay)
	pump(t, r, 3*interval+delay)
	pump(t, r, 0)
	want := []timeCount{{0, 1}, {interval + delay, 1}, {4*interval + 2*delay, 3}}
	if !reflect.DeepEqual(got, want) {
		t.Fatal(got)
	}

	r2 := manual(t)
	defer r2.Free()
	got = nil
	lc2 := must1(r2.NewLoopingCallWithCount(func(n int) (any, error) {
		got = append(got, timeCount{secs(r2), n})
		return nil, nil
	}))
	defer lc2.Free()
	must1(lc2.Start(sec(interval), true))
	pump(t, r2, interval+delay, interval*1.75, interval*0.25)
	want = []timeCount{{0, 1}, {interval + delay, 1}, {2.75*interval + delay, 1}, {3*interval + delay, 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatal(got)
	}
}

func TestTwistedLoopWithCountFloatingPointBoundary(t *testing.T) {
	// test_withCountFloatingPointBoundary: never a count of 0; the counts add
	// up to the intervals that passed.
	r := manual(t)
	defer r.Free()
	var counts []int
	lc := must1(r.NewLoopingCallWithCount(func(n int) (any, error) { counts = append(counts, n); return nil, nil }))
	defer lc.Free()
	const count = 10
	interval := 1.0 / count
	must1(lc.Start(sec(interval), false))
	for i := 0; i < count; i++ {
		pump(t, r, interval)
	}
	sum := 0.0
	for i := 0; i < count; i++ {
		sum += interval
	}
	if eps := 1.0 - sum; eps > 0 {
		pump(t, r, eps)
	}
	total := 0
	for _, n := range counts {
		if n == 0 {
			t.Fatal(counts)
		}
		total += n
	}
	if total != count {
		t.Fatal(counts)
	}
}

func TestTwistedLoopWithCountIntervalZero(t *testing.T) {
	// test_withCountIntervalZero: interval 0 counts 1 every time.  Twisted's
	// Clock runs the calls an advance(0) makes due in that same advance; the
	// library runs one pass per Advance (docs/reactor.md), so each call here
	// takes an Advance(0).
	r := manual(t)
	defer r.Free()
	var counts []int
	var lc *LoopingCall
	lc = must1(r.NewLoopingCallWithCount(func(n int) (any, error) {
		counts = append(counts, n)
		if len(counts) > 4 {
			return nil, lc.Stop()
		}
		return nil, nil
	}))
	defer lc.Free()
	d := must1(lc.Start(0, false))
	pump(t, r, 0)
	if !reflect.DeepEqual(counts, []int{1}) {
		t.Fatal("one pass per Advance:", counts)
	}
	pump(t, r, repeat(0, 4)...)
	successOf[*LoopingCall](t, d)
	if !reflect.DeepEqual(counts, []int{1, 1, 1, 1, 1}) {
		t.Fatal(counts)
	}

	// test_withCountIntervalZeroDelay: a call's pending deferred holds the
	// loop; after it fires the counts are still 1.
	counts = nil
	wait := r.NewDeferred()
	lc2 := must1(r.NewLoopingCallWithCount(func(n int) (any, error) {
		counts = append(counts, n)
		if len(counts) == 2 {
			return wait, nil
		}
		if len(counts) > 4 {
			return nil, lc.Stop()
		}
		return nil, nil
	}))
	defer lc2.Free()
	lc = lc2
	must1(lc2.Start(0, false))
	pump(t, r, 0, 0, 0)
	if !reflect.DeepEqual(counts, []int{1, 1}) {
		t.Fatal(counts)
	}
	pump(t, r, 2)
	if !reflect.DeepEqual(counts, []int{1, 1}) {
		t.Fatal(counts)
	}
	ok(t, wait.Callback(nil))
	pump(t, r, 0, 0, 0, 0)
	if !reflect.DeepEqual(counts, []int{1, 1, 1, 1, 1}) {
		t.Fatal(counts)
	}
}

func TestTwistedLoopBasicFunction(t *testing.T) {
	// testBasicFunction / testDelayedStart: arguments are a closure's; Stop
	// fires Start's deferred with the LoopingCall, and nothing stays
	// scheduled.
	for _, now := range []bool{true, false} {
		r := manual(t)
		var calls []string
		a, b, d := "a", "b", "d"
		lc := must1(r.NewLoopingCall(func() (any, error) { calls = append(calls, a+b+d); return nil, nil }))
		res := must1(lc.Start(sec(0.1), now))
		var results []any
		ok(t, res.AddCallback(func(v any) (any, error) { results = append(results, v); return v, nil }))
		pump(t, r, 0.05, 0.1, 0.1)
		want := 3
		if !now {
			want = 2
		}
		if len(calls) != want || calls[0] != "abd" {
			t.Fatal(now, calls)
		}
		ok(t, lc.Stop())
		if len(results) != 1 || results[0] != lc {
			t.Fatal(results)
		}
		if n := r.PendingCalls(); n != 0 {
			t.Fatal("still scheduled:", n)
		}
		lc.Free()
		r.Free()
	}
	noHandles(t) // the LoopingCall result's handle too
}

func TestTwistedLoopBadDelayAndStopAtOnce(t *testing.T) {
	r := manual(t)
	defer r.Free()
	ran := 0
	lc := must1(r.NewLoopingCall(func() (any, error) { ran++; return nil, nil }))
	defer lc.Free()
	// testBadDelay.
	if _, err := lc.Start(-sec(1), true); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	// testStopAtOnce / testStoppingBeforeDelayedStart.
	for _, delay := range []float64{0, 10} {
		must1(lc.Start(sec(delay), false))
		ok(t, lc.Stop())
		if ran != 0 || r.PendingCalls() != 0 {
			t.Fatal(delay, ran, r.PendingCalls())
		}
	}
	// Stopping a LoopingCall that is not running is refused (Twisted
	// asserts it is running).
	if err := lc.Stop(); err == nil {
		t.Fatal("stopped twice")
	}
}

func TestTwistedLoopReset(t *testing.T) {
	// test_reset: the next call is an interval after the reset.
	r := manual(t)
	defer r.Free()
	ran := 0
	lc := must1(r.NewLoopingCall(func() (any, error) { ran++; return nil, nil }))
	defer lc.Free()
	must1(lc.Start(sec(2), false))
	pump(t, r, 1)
	ok(t, lc.Reset())
	pump(t, r, 1)
	if ran != 0 {
		t.Fatal(ran)
	}
	pump(t, r, 1)
	if ran != 1 {
		t.Fatal(ran)
	}
}

func TestTwistedLoopFailure(t *testing.T) {
	// testFailure / testFailAndStop: an error (or a panic) stops the loop and
	// fails Start's deferred with it, even when the function stopped it first.
	r := manual(t)
	defer r.Free()
	e := &genericErr{"bar"}
	var lc *LoopingCall
	for _, stopFirst := range []bool{false, true} {
		lc = must1(r.NewLoopingCall(func() (any, error) {
			if stopFirst {
				ok(t, lc.Stop())
			}
			return nil, e
		}))
		d := must1(lc.Start(sec(0.1), true))
		if err := failureOf(t, d, nil); err != e {
			t.Fatal(stopFirst, err)
		}
		if lc.Running() || r.PendingCalls() != 0 {
			t.Fatal("still running")
		}
		lc.Free()
	}
	lc = must1(r.NewLoopingCall(func() (any, error) { panic("bar") }))
	defer lc.Free()
	failureOf(t, must1(lc.Start(sec(0.1), true)), ErrPanic)
}

func TestTwistedLoopEveryIteration(t *testing.T) {
	// testEveryIteration: interval 0 runs once per reactor iteration until
	// stopped.
	r := manual(t)
	defer r.Free()
	ran := 0
	var lc *LoopingCall
	lc = must1(r.NewLoopingCall(func() (any, error) {
		ran++
		if ran > 5 {
			return nil, lc.Stop()
		}
		return nil, nil
	}))
	defer lc.Free()
	d := must1(lc.Start(0, true))
	for i := 0; i < 10 && lc.Running(); i++ {
		pump(t, r, 0)
	}
	if ran != 6 {
		t.Fatal(ran)
	}
	successOf[*LoopingCall](t, d)
}

func TestTwistedLoopStopAtOnceLater(t *testing.T) {
	// testStopAtOnceLater: a stop from a timer before the first call.
	r := manual(t)
	defer r.Free()
	lc := must1(r.NewLoopingCall(func() (any, error) { t.Error("should never run"); return nil, nil }))
	defer lc.Free()
	must1(lc.Start(sec(1), false))
	must1(r.CallLater(0, func() { ok(t, lc.Stop()) }))
	pump(t, r, 0, 1, 1)
}

func TestTwistedLoopWaitDeferred(t *testing.T) {
	// testWaitDeferred: the function is not called again while its deferred
	// is pending.
	r := manual(t)
	defer r.Free()
	calls := 0
	var lc *LoopingCall
	lc = must1(r.NewLoopingCall(func() (any, error) {
		calls++
		d := r.NewDeferred()
		ok(t, d.AddCallback(func(any) (any, error) { return nil, lc.Stop() }))
		must1(r.CallLater(sec(1), func() { ok(t, d.Callback(nil)) }))
		return d, nil
	}))
	defer lc.Free()
	must1(lc.Start(sec(0.2), true))
	pump(t, r, 0.2, 0.8)
	if calls != 1 || r.PendingCalls() != 0 || lc.Running() {
		t.Fatal(calls, r.PendingCalls())
	}
}

func TestTwistedLoopFailurePropagation(t *testing.T) {
	// testFailurePropagation: the function's deferred failing fails the loop.
	r := manual(t)
	defer r.Free()
	e := &genericErr{"test"}
	lc := must1(r.NewLoopingCall(func() (any, error) {
		d := r.NewDeferred()
		must1(r.CallLater(sec(0.3), func() { ok(t, d.Errback(e)) }))
		return d, nil
	}))
	defer lc.Free()
	d := must1(lc.Start(sec(1), true))
	pump(t, r, 0.3)
	if r.PendingCalls() != 0 {
		t.Fatal(r.PendingCalls())
	}
	if err := failureOf(t, d, nil); err != e {
		t.Fatal(err)
	}
}

func TestTwistedLoopDeferredWithCount(t *testing.T) {
	// test_deferredWithCount: calls skipped while the deferred was pending
	// are counted.
	r := manual(t)
	defer r.Free()
	wait := r.NewDeferred()
	var counts []int
	lc := must1(r.NewLoopingCallWithCount(func(n int) (any, error) {
		counts = append(counts, n)
		if len(counts) == 1 {
			return wait, nil
		}
		return nil, nil
	}))
	defer lc.Free()
	must1(lc.Start(sec(0.2), false))
	if len(counts) != 0 {
		t.Fatal(counts)
	}
	pump(t, r, 0.2, 0.4)
	if len(counts) != 1 {
		t.Fatal(counts)
	}
	ok(t, wait.Callback(nil))
	pump(t, r, 0.2)
	if !reflect.DeepEqual(counts, []int{1, 3}) {
		t.Fatal(counts)
	}
}

func TestTwistedDeferLater(t *testing.T) {
	r := manual(t)
	defer r.Free()
	// test_callback: fires after the delay with the function's result.
	flag := &struct{ n int }{1}
	var calls []string
	foo, bar := "foo", "bar"
	d := must1(r.DeferLater(sec(3), func() (any, error) { calls = append(calls, foo+bar); return flag, nil }))
	pump(t, r, 2)
	if len(calls) != 0 {
		t.Fatal(calls)
	}
	pump(t, r, 1)
	if len(calls) != 1 || successOf[any](t, d) != flag {
		t.Fatal(calls)
	}
	// test_errback: an error (or a panic) fails it.
	e := &genericErr{"test"}
	d = must1(r.DeferLater(sec(1), func() (any, error) { return nil, e }))
	pump(t, r, 1)
	if err := failureOf(t, d, nil); err != e {
		t.Fatal(err)
	}
	d = must1(r.DeferLater(sec(1), func() (any, error) { panic(e) }))
	pump(t, r, 1)
	if err := failureOf(t, d, ErrPanic); !errors.Is(err, e) {
		t.Fatal(err)
	}
	// test_cancel: cancelling removes the call; the function never runs.
	called := false
	d = must1(r.DeferLater(sec(1), func() (any, error) { called = true; return nil, nil }))
	ok(t, d.Cancel())
	failureOf(t, d, ErrCancelled)
	if r.PendingCalls() != 0 {
		t.Fatal(r.PendingCalls())
	}
	pump(t, r, 2)
	if called {
		t.Fatal("ran after cancel")
	}
	// test_noCallback: no function fires it with nil.
	d = must1(r.DeferLater(sec(2), nil))
	noResult(t, d)
	pump(t, r, 2)
	if v := successOf[any](t, d); v != nil {
		t.Fatal(v)
	}
}

func TestTwistedDelayedCallAfterDone(t *testing.T) {
	// reset, delay and cancel of a cancelled call: AlreadyCancelled; of a
	// call that ran: AlreadyCalled (ErrAlreadyRan).
	r := manual(t)
	defer r.Free()
	dc := must1(r.CallLater(sec(1), func() {}))
	ok(t, dc.Cancel())
	for name, err := range map[string]error{"reset": dc.Reset(sec(1)), "delay": dc.Delay(sec(1)), "cancel": dc.Cancel()} {
		if !errors.Is(err, ErrAlreadyCancelled) {
			t.Fatal(name, err)
		}
	}
	dc = must1(r.CallLater(sec(1), func() {}))
	pump(t, r, 1)
	for name, err := range map[string]error{"reset": dc.Reset(sec(1)), "delay": dc.Delay(sec(1)), "cancel": dc.Cancel()} {
		if !errors.Is(err, ErrAlreadyRan) {
			t.Fatal(name, err)
		}
	}
	// A negative delay may move a call into the past: it runs at the next
	// pass.
	ran := false
	dc = must1(r.CallLater(sec(5), func() { ran = true }))
	ok(t, dc.Delay(-sec(10)))
	if dc.Time() != r.Now()-sec(5) {
		t.Fatal(dc.Time(), r.Now())
	}
	pump(t, r, 0)
	if !ran {
		t.Fatal("did not run")
	}
}

func TestTwistedLoopStopWhileWaiting(t *testing.T) {
	// LoopingCall.stop while the function's deferred is pending: Start's
	// deferred fires (with the LoopingCall) only once that deferred does, or
	// fails with its failure; reset is refused once stopped.  A reset while
	// waiting does nothing: the next call is on the interval grid after the
	// deferred fires.
	r := manual(t)
	defer r.Free()
	inner := r.NewDeferred()
	lc := must1(r.NewLoopingCall(func() (any, error) { return inner, nil }))
	defer lc.Free()
	d := must1(lc.Start(sec(1), true))
	ok(t, lc.Stop())
	noResult(t, d)
	if lc.Running() {
		t.Fatal("running after stop")
	}
	if err := lc.Reset(); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	ok(t, inner.Callback(nil))
	if successOf[*LoopingCall](t, d) != lc || r.PendingCalls() != 0 {
		t.Fatal(r.PendingCalls())
	}

	inner2 := r.NewDeferred()
	lc2 := must1(r.NewLoopingCall(func() (any, error) { return inner2, nil }))
	defer lc2.Free()
	d = must1(lc2.Start(sec(1), true))
	ok(t, lc2.Stop())
	e := &genericErr{"late"}
	ok(t, inner2.Errback(e))
	if err := failureOf(t, d, nil); err != e {
		t.Fatal(err)
	}

	inner3 := r.NewDeferred()
	var times []float64
	lc3 := must1(r.NewLoopingCall(func() (any, error) {
		times = append(times, secs(r))
		if len(times) == 1 {
			return inner3, nil
		}
		return nil, nil
	}))
	defer lc3.Free()
	must1(lc3.Start(sec(1), true))
	pump(t, r, 0.5)
	ok(t, lc3.Reset())
	if r.PendingCalls() != 0 {
		t.Fatal(r.PendingCalls())
	}
	ok(t, inner3.Callback(nil))
	pump(t, r, 0.5, 0.5)
	if !reflect.DeepEqual(times, []float64{0, 1}) {
		t.Fatal(times)
	}
	ok(t, lc3.Stop())
}

func TestTwistedLoopWithCountRestartAndReset(t *testing.T) {
	// withCount across a stop and start, a reset and a long gap (the counts
	// Twisted 22.4 gives for the same steps).
	r := manual(t)
	defer r.Free()
	var got []timeCount
	lc := must1(r.NewLoopingCallWithCount(func(n int) (any, error) {
		got = append(got, timeCount{secs(r), n})
		return nil, nil
	}))
	defer lc.Free()
	must1(lc.Start(sec(1), true))
	pump(t, r, 1.5)
	ok(t, lc.Stop())
	must1(lc.Start(sec(1), true))
	pump(t, r, 0.5, 1)
	ok(t, lc.Reset())
	pump(t, r, 1, 3.2)
	want := []timeCount{{0, 1}, {1.5, 1}, {3, 1}, {4, 1}, {7.2, 3}}
	if !reflect.DeepEqual(got, want) {
		t.Fatal(got)
	}
	ok(t, lc.Stop())
}
