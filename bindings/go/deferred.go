package deferred

// #include "shim.h"
import "C"

import (
	"runtime"
	"runtime/cgo"
	"sync/atomic"
	"unsafe"
	"weak"
)

// State of a deferred (shim.h checks the values against the header).
type State int

const (
	Pending   State = 0 // no result yet (or waiting on another deferred)
	Succeeded State = 1 // has a result that is not a failure
	Failed    State = 2 // has a failure
)

// Deferred is a result that is not there yet and the chain of callbacks that
// will process it.  It belongs to its reactor's goroutine: every method must
// be called there (methods returning an error return ErrNotOwner otherwise,
// the others panic with it).  The C engine runs the chain.
type Deferred struct {
	r       *Reactor
	c       *C.dfr_deferred // our reference
	cleanup runtime.Cleanup // set before state becomes guarded
	state   atomic.Int32    // young, guarded or released (lifecycle.go)
	// A deferred made by NewDeferred that C has not seen yet (pending.go):
	// its callbacks wait here and reach C with the next call on it.  Small
	// fields only: the wrapper fits in 48 bytes (one is made per deferred).
	private privacy
	npend   uint8     // 0–2: slots in pendBuf; pendMany: in a list of r's
	pendBuf [2]uint32 // the slots, or pendBuf[0] the list's index
}

// ptr gives the C deferred for a call into C: C sees it from now on.
func (d *Deferred) ptr() *C.dfr_deferred {
	if d == nil {
		panic(errNilHandle)
	}
	if d.state.Load() == released {
		panic(errReleased)
	}
	if d.private != public && d.r.InThread() {
		d.expose()
	}
	return d.c
}

// Reactor is the reactor d belongs to (nil for a nil d).
func (d *Deferred) Reactor() *Reactor { return d.reactor() }

// reactor is d's reactor, nil for a nil d: its check and own then give a
// clear error instead of a nil dereference (as for the other handles).
func (d *Deferred) reactor() *Reactor {
	if d == nil {
		return nil
	}
	return d.r
}

// NewDeferred makes a pending deferred on r (on r's goroutine).
func (r *Reactor) NewDeferred() *Deferred {
	r.live()
	d := r.wrapOwned(r.freshDeferred())
	d.private = privSole
	return d
}

// NewCancellableDeferred is NewDeferred with a canceller, which runs when the
// deferred is cancelled before it has a result (and may fire it).  The
// canceller gets the returned *Deferred itself (a new wrapper of the same
// deferred once that one is released or collected), which it may keep.
func (r *Reactor) NewCancellableDeferred(canceller func(d *Deferred)) *Deferred {
	r.live()
	f := &cancellerFn{r: r, fn: canceller}
	c := C.dfrgo_deferred_new_cancellable(newHandle(f))
	if c == nil {
		panic(ErrNoMemory)
	}
	d := wrapDeferred(r, c)
	f.d = weak.Make(d)
	return d
}

// cancellerFn is a canceller's handle.  It points at its deferred's wrapper
// weakly (a strong pointer from the handle would keep the wrapper, hence the
// C deferred, hence the handle, alive for ever).
type cancellerFn struct {
	r  *Reactor
	fn func(*Deferred)
	d  weak.Pointer[Deferred]
}

//export goCanceller
func goCanceller(h C.uintptr_t, cd *C.dfr_deferred) {
	f := cgo.Handle(h).Value().(*cancellerFn)
	if f.fn == nil {
		return
	}
	if f.r.nest >= maxNesting { // as in goCallback
		C.dfr_deferred_errback(cd, failureToC(errTooDeep))
		return
	}
	f.r.nest++
	defer func() { f.r.nest-- }()
	// The canceller gets the deferred's own wrapper, as Twisted passes the
	// deferred itself, while it lives and is not released; else a new
	// wrapper.  Either stays usable after the canceller returns (a canceller
	// may keep it to fire it later), until released or collected.
	d := f.d.Value()
	if d == nil || d.state.Load() == released {
		d = wrapDeferred(f.r, C.dfr_deferred_ref(cd))
	}
	defer func() {
		if v := recover(); v != nil {
			// The canceller panicked: fail the deferred with the panic.
			C.dfr_deferred_errback(cd, failureToC(panicError(v)))
		}
	}()
	f.fn(d)
}

// Succeed makes a deferred that already has v (an error gives a failed one).
func (r *Reactor) Succeed(v any) *Deferred {
	r.live()
	if d, ok := v.(*Deferred); ok && d != nil {
		if d.r != r {
			panic(errForeign)
		}
		return d
	}
	c := C.dfr_succeed(toC(v))
	if c == nil {
		panic(ErrNoMemory)
	}
	return wrapDeferred(r, c)
}

// Fail makes a deferred that already failed with err.
func (r *Reactor) Fail(err error) *Deferred {
	r.live()
	if err == nil || nilError(err) {
		err = ErrInvalid
	}
	c := C.dfr_fail(failureToC(err))
	if c == nil {
		panic(ErrNoMemory)
	}
	return wrapDeferred(r, c)
}

// MaybeDeferred is Twisted's maybeDeferred: it calls fn now and gives its
// result as a deferred — the *Deferred fn returned, a failed one for an error
// or a panic (a *PanicError), else one that already has the value.
func (r *Reactor) MaybeDeferred(fn func() (any, error)) *Deferred {
	r.own()
	if fn == nil {
		return r.Fail(ErrInvalid)
	}
	v, err := func() (v any, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = panicError(p)
			}
		}()
		return fn()
	}()
	if err != nil {
		return r.Fail(err)
	}
	if d, ok := v.(*Deferred); ok && d == nil {
		v = nil // a nil *Deferred is none
	}
	return r.Succeed(v)
}

// AddCallbacks appends a callback/errback pair; a nil one passes the result
// through.  The callback gets the result, the errback the failure; what
// either returns is the next result: a value, a *Deferred (the chain waits
// for it) or an error (the errback path).  A panic becomes a *PanicError
// failure (errors.Is(err, ErrPanic)).
func (d *Deferred) AddCallbacks(cb func(any) (any, error), eb func(error) (any, error)) error {
	if err := d.reactor().check(); err != nil {
		return err
	}
	if cb == nil && eb == nil {
		return nil
	}
	if d.state.Load() == released {
		panic(errReleased)
	}
	s := d.r.slab
	idx, err := s.put(chainFns{cb, eb})
	if err != nil {
		return err
	}
	slot := uint32(idx)
	if cb != nil {
		slot |= slotCb
	}
	if eb != nil {
		slot |= slotEb
	}
	if d.private != public && d.state.Load() == young {
		d.addPending(slot) // C cannot reach d before ptr() flushes
		return nil
	}
	return codeErr(C.dfrgo_add1(cPtr(unsafe.Pointer(d.ptr())), cPtr(unsafe.Pointer(s.c)), C.uint32_t(slot)))
}

// AddCallback appends a callback (errors pass by).
func (d *Deferred) AddCallback(cb func(any) (any, error)) error {
	if cb == nil {
		return ErrInvalid
	}
	return d.AddCallbacks(cb, nil)
}

// AddErrback appends an errback (results pass by).
func (d *Deferred) AddErrback(eb func(error) (any, error)) error {
	if eb == nil {
		return ErrInvalid
	}
	return d.AddCallbacks(nil, eb)
}

// AddBoth appends fn for both paths: it gets (result, nil) or (nil, failure).
func (d *Deferred) AddBoth(fn func(any, error) (any, error)) error {
	if fn == nil {
		return ErrInvalid
	}
	return d.AddCallbacks(func(v any) (any, error) { return fn(v, nil) },
		func(err error) (any, error) { return fn(nil, err) })
}

func boolInt(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

//export goCallback
func goCallback(id, idx C.uint32_t, isErr C.int, in *C.dfr_value, out *C.dfr_value) {
	s := (*slabs.Load())[id]
	p := s.fn(idx)
	f := *p // runs once: the slot is given back after
	*p = chainFns{}
	r := s.r
	if r.nest >= maxNesting {
		if in._type != nil {
			dropValue(in)
		}
		*out = C.dfrgo_value_failure(failureToC(errTooDeep))
		return
	}
	r.nest++
	defer func() {
		r.nest--
		if v := recover(); v != nil {
			*out = C.dfrgo_value_failure(failureToC(panicError(v)))
		}
	}()
	var v any
	var err error
	if in._type != nil { // none (the usual result of a Go callback) needs no conversion
		v, err = toGo(s.r, in)
	}
	var res any
	if isErr != 0 {
		res, err = f.eb(err)
	} else {
		res, err = f.cb(v)
	}
	if err != nil {
		*out = C.dfrgo_value_failure(failureToC(err))
		return
	}
	*out = toC(res)
}

// Callback fires d with v (an error takes the errback path).
// ErrAlreadyCalled when it already fired.
func (d *Deferred) Callback(v any) error {
	if _, ok := v.(*Deferred); ok {
		return ErrInvalid
	}
	if err := d.reactor().check(); err != nil {
		return err
	}
	if d.private == privSole && d.npend > 0 && d.state.Load() == young {
		return d.fire(toC(v)) // its callbacks and the result: one call into C
	}
	return codeErr(C.dfr_deferred_callback(d.ptr(), toC(v)))
}

// Errback fires d with a failure.
func (d *Deferred) Errback(err error) error {
	if e := d.reactor().check(); e != nil {
		return e
	}
	if err == nil || nilError(err) {
		return ErrInvalid
	}
	return codeErr(C.dfr_deferred_errback(d.ptr(), failureToC(err)))
}

// Cancel cancels d (its canceller, else an ErrCancelled failure); no effect
// once it has a result.
func (d *Deferred) Cancel() error {
	if err := d.reactor().check(); err != nil {
		return err
	}
	C.dfr_deferred_cancel(d.ptr())
	return nil
}

// Pause stops callbacks from running until Unpause.
func (d *Deferred) Pause() error {
	if err := d.reactor().check(); err != nil {
		return err
	}
	return codeErr(C.dfr_deferred_pause(d.ptr()))
}

// Unpause undoes one Pause and runs what waited.
func (d *Deferred) Unpause() error {
	if err := d.reactor().check(); err != nil {
		return err
	}
	return codeErr(C.dfr_deferred_unpause(d.ptr()))
}

// Chain makes other fire with d's result; d continues with nil
// (chainDeferred).
func (d *Deferred) Chain(other *Deferred) error {
	if err := d.reactor().check(); err != nil {
		return err
	}
	if other == nil {
		return ErrInvalid
	}
	if other.r != d.r {
		return errForeign
	}
	if other.state.Load() == released {
		return errReleased
	}
	return codeErr(C.dfr_deferred_chain(d.ptr(), other.ptr()))
}

// State of d.
func (d *Deferred) State() State {
	d.reactor().own()
	return State(C.dfr_deferred_state(d.ptr()))
}

// Result gives d's current result as a T without taking it from the chain:
// ErrPending while it has none, the failure when it failed.
func Result[T any](d *Deferred) (T, error) {
	var zero T
	if err := d.reactor().check(); err != nil {
		return zero, err
	}
	p := C.dfr_deferred_result(d.ptr())
	if p == nil {
		return zero, ErrPending
	}
	v, err := peekGo(d.r, p)
	if err != nil {
		return zero, err
	}
	return convert[T](v)
}

// Then appends a typed callback: fn gets the result as a T (a result of
// another type fails the chain with ErrWrongType) and its U is the next
// result.  It returns d for chaining and panics off the reactor goroutine.
func Then[T, U any](d *Deferred, fn func(T) (U, error)) *Deferred {
	if fn == nil {
		panic(errNilFunc)
	}
	must(d.AddCallback(func(v any) (any, error) {
		t, err := convert[T](v)
		if err != nil {
			return nil, err
		}
		return fn(t)
	}))
	return d
}

// Catch appends a typed errback: fn gets the failure and its U is the next
// (successful, unless it returns an error) result.  Returns d.
func Catch[U any](d *Deferred, fn func(error) (U, error)) *Deferred {
	if fn == nil {
		panic(errNilFunc)
	}
	must(d.AddErrback(func(err error) (any, error) { return fn(err) }))
	return d
}

// Finally appends fn for both paths; the result (or failure) passes on
// unless fn returns an error.  Returns d.
func Finally(d *Deferred, fn func() error) *Deferred {
	if fn == nil {
		panic(errNilFunc)
	}
	must(d.AddBoth(func(v any, err error) (any, error) {
		if e := fn(); e != nil {
			return nil, e
		}
		return v, err
	}))
	return d
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// C gives d's C pointer (a borrowed dfr_deferred *) for C code that
// consumes it; keep d alive while C uses it, or take a reference in C.
//
// On d's reactor's goroutine only (elsewhere its callbacks still waiting in
// Go would not reach C first): it panics with ErrNotOwner.
func (d *Deferred) C() unsafe.Pointer {
	d.reactor().own()
	return unsafe.Pointer(d.ptr())
}

// C gives r's C pointer (a borrowed dfr_reactor *).
func (r *Reactor) C() unsafe.Pointer { return unsafe.Pointer(r.c) }

// WrapC takes a reference to a C dfr_deferred * (which must belong to r) and
// gives it to Go.
func WrapC(r *Reactor, p unsafe.Pointer) *Deferred {
	r.live()
	if p == nil {
		return nil
	}
	return wrapDeferred(r, C.dfr_deferred_ref((*C.dfr_deferred)(p)))
}
