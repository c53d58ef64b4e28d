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
