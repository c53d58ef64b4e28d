package deferred

// #include "shim.h"
import "C"

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/libdeferred/libdeferred/bindings/go/internal/gid"
)

type outcome struct {
	v   any
	err error
}

// Wait blocks a goroutine other than the reactor's until d has a result and
// gives it as a T (taking it from the chain, which continues with nil).
// When ctx is done first, d is cancelled on the reactor's goroutine and Wait
// returns context.Cause(ctx); a value that comes as ctx is done is either
// returned or left in the chain, never dropped.  On the reactor's goroutine:
// ErrDeadlock.
func Wait[T any](ctx context.Context, d *Deferred) (T, error) {
	if d == nil {
		var zero T
		return zero, ErrInvalid
	}
	return Do[T](ctx, d.r, func() (any, error) { return d, nil })
}

// Do runs fn on r's goroutine and waits for its result: a value, or a
// *Deferred whose result it then waits for, converted to a T.  When ctx is
// done first, that deferred is cancelled (on the reactor's goroutine) and Do
// returns context.Cause(ctx).  A panic in fn is a *PanicError.  From the
// reactor's goroutine Do returns ErrDeadlock; after Free, ErrClosed.
func Do[T any](ctx context.Context, r *Reactor, fn func() (any, error)) (T, error) {
	var zero T
	if r.zero() || fn == nil || ctx == nil {
		return zero, ErrInvalid
	}
	if r.InThread() {
		return zero, ErrDeadlock
	}
	if err := ctx.Err(); err != nil {
		return zero, context.Cause(ctx)
	}
	// The waiter and the result race when ctx is done (or r freed) as the
	// result comes: st settles it once.  A result that finds the waiter gone
	// stays in the chain instead of being taken and dropped (a failure is
	// still taken: it is usually the cancel the waiter made).
	const waiting, delivered, abandoned = 0, 1, 2
	var st atomic.Int32
	ch := make(chan outcome, 1)
	send := func(o outcome) bool {
		if !st.CompareAndSwap(waiting, delivered) {
			return false
		}
		ch <- o
		return true
	}
	var d *Deferred // set and read on the reactor goroutine only
	err := r.Call(func() {
		v, err := func() (v any, err error) {
			defer func() {
				if p := recover(); p != nil {
					err = panicError(p)
				}
			}()
			return fn()
		}()
		dd, ok := v.(*Deferred)
		if err != nil || !ok || dd == nil {
			if ok {
				v = nil // a nil *Deferred is none
			}
			send(outcome{v, err})
			return
		}
		// fn's deferred must be a live one of r: another reactor's would
		// say ErrNotOwner, a released one would panic and stop r.
		switch {
		case dd.r != r:
			send(outcome{nil, errForeign})
			return
		case dd.state.Load() == released:
			send(outcome{nil, errReleased})
			return
		}
		d = dd
		defer func() { // released meanwhile by another goroutine: say so, keep r running
			if p := recover(); p != nil {
				d = nil
				send(outcome{nil, panicError(p)})
			}
		}()
		if err := d.AddBoth(func(v any, err error) (any, error) {
			if !send(outcome{v, err}) && err == nil {
				return v, nil // the waiter gave up: the value stays
			}
			return nil, nil
		}); err != nil {
			send(outcome{nil, err})
		}
	})
	if err != nil {
		return zero, err
	}
	result := func(o outcome) (T, error) {
		if o.err != nil {
			return zero, o.err
		}
		return convert[T](o.v)
	}
	// From a DeferToCThread function of r, a wait gives up when r stops:
	// Run waits for the function's thread before it returns, so the call
	// would never run.
	var stopping <-chan struct{}
	if gid.Fast {
		if owner, ok := cthreadG.Load(gid.G()); ok && owner == r {
			stopping = r.stopping
		}
	}
	select {
	case o := <-ch:
		return result(o)
	case <-stopping:
		if !st.CompareAndSwap(waiting, abandoned) {
			return result(<-ch)
		}
		return zero, ErrNotRunning
	case <-ctx.Done():
		if !st.CompareAndSwap(waiting, abandoned) {
			return result(<-ch) // it came first
		}
		_ = r.Call(func() {
			if d != nil && d.state.Load() != released { // a released d may be gone
				_ = d.Cancel()
			}
		})
		return zero, context.Cause(ctx)
	case <-r.closed:
		if !st.CompareAndSwap(waiting, abandoned) {
			return result(<-ch) // came with the free (Free fails pending calls)
		}
		return zero, ErrClosed
	}
}

// DeferToThread runs fn on a worker goroutine and gives a deferred (on r,
// from r's goroutine) that fires with its result on r's goroutine.  Go work
// runs on goroutines, not on the library's C thread pool (no C-created
// thread has to call into Go): at most Options.ThreadPoolMax worker
// goroutines per reactor (default 10, as the C pool), each running one call
// at a time, as Twisted's pool does: calls that block hold back no other
// while fewer than the maximum run; past it, calls wait their turn in
// order.  Results come back to the reactor in batches (see the package
// docs for the measured costs).  A panic in fn fails the deferred with a
// *PanicError.  Cancelling the deferred does not stop fn; its result is
// then dropped.
func DeferToThread[T any](r *Reactor, fn func() (T, error)) (*Deferred, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	if fn == nil {
		return nil, ErrInvalid
	}
	if r.pool == nil {
		r.pool = newGoPool(r, r.poolMax)
	}
	d := r.wrapOwned(r.freshTaskDeferred()) // two references: d's and the task's
	d.private = privTask                    // only the pool's delivery fires it
	r.pool.submit(poolTask{d, taskFunc[T](fn)})
	return d, nil
}

// DeferToCThread runs fn on the reactor's C thread pool (a C-created thread
// calling into Go) and gives a deferred firing with its result on r's
// goroutine.  Slower per call than DeferToThread; it exists for work that
// must share the C pool's limit with C jobs.  fn must not return a *Deferred.
func DeferToCThread[T any](r *Reactor, fn func() (T, error)) (*Deferred, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	if fn == nil {
		return nil, ErrInvalid
	}
	h := newHandle(taskFn{r, func() (any, error) { return offCThread(r, fn) }})
	return r.newDeferredOrErr(C.dfrgo_defer_to_thread(r.c, h))
}

// offCThread runs fn on a goroutine of its own and waits for it: on the C
// pool's thread a runtime.Goexit in fn (t.FailNow, say) is a fatal error
// ("Goexit called in a thread that was not created by the Go runtime"); here
// it fails the task with errGoexit.  A panic is a *PanicError, as in goTask.
// The C thread stops waiting when r is freed (C's free joins it, and fn may
// be waiting for r: Close, Do, Wait); fn's result is then dropped.
func offCThread[T any](r *Reactor, fn func() (T, error)) (any, error) {
	ch := make(chan outcome, 1)
	go func() {
		if gid.Fast { // Close from fn would wait for this thread: ErrDeadlock
			cthreadG.Store(gid.G(), r)
			defer cthreadG.Delete(gid.G())
		}
		exited := true
		defer func() {
			if p := recover(); p != nil {
				ch <- outcome{nil, panicError(p)}
			} else if exited {
				ch <- outcome{nil, errGoexit}
			}
		}()
		v, err := fn()
		exited = false
		ch <- outcome{v, err}
	}()
	select {
	case o := <-ch:
		return o.v, o.err
	case <-r.closed:
		return nil, ErrClosed
	}
}

// cthreadG: the goroutines running DeferToCThread functions, by goroutine,
// with their reactor.  C's Run waits for its pool's jobs before it returns,
// so Close from one of them would wait for itself.
var cthreadG sync.Map
