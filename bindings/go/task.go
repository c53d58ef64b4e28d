package deferred

// #include "shim.h"
import "C"

import (
	"math"
	"runtime"
	"runtime/cgo"
	"time"
	"unsafe"
)

// taskFn is a Go function producing a result for C (deferLater, LoopingCall,
// lock/semaphore run).
type taskFn struct {
	r  *Reactor
	fn func() (any, error)
}

//export goTask
func goTask(h C.uintptr_t, out *C.dfr_value) {
	f := cgo.Handle(h).Value().(taskFn)
	defer func() {
		if v := recover(); v != nil {
			*out = C.dfrgo_value_failure(failureToC(panicError(v)))
		}
	}()
	v, err := f.fn()
	if err != nil {
		*out = C.dfrgo_value_failure(failureToC(err))
		return
	}
	*out = toC(v)
}

func (r *Reactor) newDeferredOrErr(c *C.dfr_deferred) (*Deferred, error) {
	if c == nil { // the library refuses bad input with a failed deferred: NULL is OOM
		return nil, ErrNoMemory
	}
	return wrapDeferred(r, c), nil
}

// DeferLater gives a deferred firing after d with fn's result (fn nil: nil).
// Cancelling it cancels the timer.
func (r *Reactor) DeferLater(d time.Duration, fn func() (any, error)) (*Deferred, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	if d < 0 {
		return nil, ErrInvalid
	}
	var h C.uintptr_t
	if fn != nil {
		h = newHandle(taskFn{r, fn})
	}
	return r.newDeferredOrErr(C.dfrgo_defer_later(r.c, C.double(d.Seconds()), h))
}

// AddTimeout cancels d after timeout; the failure is then ErrTimedOut.
func (d *Deferred) AddTimeout(timeout time.Duration) error {
	if err := d.reactor().check(); err != nil {
		return err
	}
	if timeout < 0 {
		return ErrInvalid
	}
	return codeErr(C.dfr_deferred_add_timeout(d.ptr(), d.r.c, C.double(timeout.Seconds())))
}

// AddTimeoutWith is AddTimeout with Twisted's onTimeoutCancel: when the
// timeout (and nothing else) cancels d, onTimeout gets the chain's result at
// that point — usually an ErrCancelled failure as err, or what d's canceller
// or an earlier errback made of it — and returns the result that goes on
// (an error keeps it failed).  It is not called when d fires or is cancelled
// otherwise.
func (d *Deferred) AddTimeoutWith(timeout time.Duration, onTimeout func(v any, err error) (any, error)) error {
	if err := d.reactor().check(); err != nil {
		return err
	}
	if timeout < 0 || onTimeout == nil {
		return ErrInvalid
	}
	// d.ptr() first: a released d panics before a handle is made.
	dp := d.ptr()
	h := newHandle(timeoutFn{d.r, onTimeout}) // released by the C destroy hook, refusals too
	return codeErr(C.dfrgo_add_timeout_with(dp, d.r.c, C.double(timeout.Seconds()), h))
}

type timeoutFn struct {
	r  *Reactor
	fn func(any, error) (any, error)
}

//export goOnTimeout
func goOnTimeout(h C.uintptr_t, in, out *C.dfr_value) {
	f := cgo.Handle(h).Value().(timeoutFn)
	defer func() {
		if v := recover(); v != nil {
			*out = C.dfrgo_value_failure(failureToC(panicError(v)))
		}
	}()
	v, err := toGo(f.r, in)
	res, err := f.fn(v, err)
	if err != nil {
		*out = C.dfrgo_value_failure(failureToC(err))
		return
	}
	*out = toC(res)
}

// LoopingCall calls a function every interval on the reactor.
type LoopingCall struct {
	r *Reactor
	c *C.dfr_looping_call
}

// NewLoopingCall makes a LoopingCall of fn (a *Deferred result delays the
// next call; an error stops it and fails Start's deferred).  Free it.
func (r *Reactor) NewLoopingCall(fn func() (any, error)) (*LoopingCall, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	if fn == nil {
		return nil, ErrInvalid
	}
	c := C.dfrgo_looping_call_new(r.c, newHandle(taskFn{r, fn}))
	if c == nil {
		return nil, ErrNoMemory
	}
	return &LoopingCall{r: r, c: c}, nil
}

// NewLoopingCallWithCount is Twisted's LoopingCall.withCount: fn gets how
// many calls were due since it last ran — 1 normally, more when intervals
// passed while its deferred was pending or the loop ran late, always 1 for
// an interval of 0.  As in Twisted, a call that comes less than an interval
// after the last one (after Reset, or a Stop and Start) is skipped, so fn
// never gets 0.  Free it.
func (r *Reactor) NewLoopingCallWithCount(fn func(count int) (any, error)) (*LoopingCall, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	if fn == nil {
		return nil, ErrInvalid
	}
	lc := &LoopingCall{r: r}
	c := C.dfrgo_looping_call_new(r.c, newHandle(taskFn{r, func() (any, error) {
		return fn(int(C.dfr_looping_call_count(lc.c)))
	}}))
	if c == nil {
		return nil, ErrNoMemory
	}
	lc.c = c
	if err := codeErr(C.dfr_looping_call_with_count(c)); err != nil {
		C.dfr_looping_call_unref(c)
		return nil, err
	}
	return lc, nil
}

// Start calls fn every interval (at once when now).  The deferred fires with
// lc when Stop is called (as Twisted's fires with the LoopingCall), or fails
// with fn's error.
func (lc *LoopingCall) Start(interval time.Duration, now bool) (*Deferred, error) {
	if err := lc.check(); err != nil {
		return nil, err
	}
	if interval < 0 {
		return nil, ErrInvalid
	}
	return firesWith(lc.r, C.dfr_looping_call_start(lc.c, C.double(interval.Seconds()), C.bool(now)), lc)
}

// Stop stops the calls; Start's deferred fires.
func (lc *LoopingCall) Stop() error {
	if err := lc.check(); err != nil {
		return err
	}
	return codeErr(C.dfr_looping_call_stop(lc.c))
}

// Reset restarts the interval from now (only while running).
func (lc *LoopingCall) Reset() error {
	if err := lc.check(); err != nil {
		return err
	}
	return codeErr(C.dfr_looping_call_reset(lc.c))
}

// Running reports whether it is started.
func (lc *LoopingCall) Running() bool {
	lc.reactor().own()
	return bool(C.dfr_looping_call_running(lc.c))
}

// Free frees the LoopingCall (stopped or not) and releases fn.
func (lc *LoopingCall) Free() {
	if lc == nil {
		return
	}
	lc.reactor().own()
	if lc.c != nil {
		C.dfr_looping_call_unref(lc.c)
		lc.c = nil
	}
}

// DeferredList flags (shim.h checks them against the header at build time).
const (
	// FireOnOneCallback: fire with the first success as Entries of two:
	// the value and its index (int64).
	FireOnOneCallback = 1
	// FireOnOneErrback: fail on the first failure (ErrFirstError; its
	// Failure.Index says which input).
	FireOnOneErrback = 2
	// ConsumeErrors: inputs' own chains continue with nil after a failure.
	ConsumeErrors = 4
)

// cArray gives ds as a C array (free it with the function returned), or an
// error for a nil, released or foreign input (checked before anything is
// allocated or given to C).
func cArray(r *Reactor, ds []*Deferred) (**C.dfr_deferred, func(), error) {
	if len(ds) == 0 {
		return nil, func() {}, nil
	}
	for _, d := range ds {
		switch {
		case d == nil:
			return nil, nil, errNilHandle
		case d.r != r:
			return nil, nil, errForeign
		case d.state.Load() == released:
			return nil, nil, errReleased
		}
	}
	p := C.malloc(C.size_t(len(ds)) * C.size_t(unsafePtrSize))
	if p == nil {
		return nil, nil, ErrNoMemory
	}
	arr := unsafe.Slice((**C.dfr_deferred)(p), len(ds))
	for i, d := range ds {
		arr[i] = d.ptr()
	}
	return &arr[0], func() { C.free(unsafePointer(&arr[0])) }, nil
}

// DeferredList fires once every input has a result with Entries in input
// order (see the flags).  Cancelling it cancels the inputs.
func (r *Reactor) DeferredList(ds []*Deferred, flags uint) (*Deferred, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	cflags := C.unsigned(flags)
	if flags > math.MaxUint32 {
		cflags = math.MaxUint32 // unknown flags, as C says them (not truncated)
	}
	arr, free, err := cArray(r, ds)
	if err != nil {
		return nil, err
	}
	defer free()
	d, err := r.newDeferredOrErr(C.dfr_deferred_list(arr, C.size_t(len(ds)), cflags))
	runtime.KeepAlive(ds)
	return d, err
}

// Gather fires with every input's value (Wait or Then as []any) or fails
// with the first failure wrapped in ErrFirstError.
func (r *Reactor) Gather(ds []*Deferred, consumeErrors bool) (*Deferred, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	arr, free, err := cArray(r, ds)
	if err != nil {
		return nil, err
	}
	defer free()
	d, err := r.newDeferredOrErr(C.dfr_gather_results(arr, C.size_t(len(ds)), C.bool(consumeErrors)))
	runtime.KeepAlive(ds)
	return d, err
}
