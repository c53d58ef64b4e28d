package deferred

// #include "shim.h"
import "C"

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/cgo"
	"sync"
	"time"

	"github.com/libdeferred/libdeferred/bindings/go/internal/gid"
)

// Options for NewReactor and Start.
type Options struct {
	// ManualClock: time moves only by Advance (Twisted's task.Clock).
	ManualClock bool
	// ThreadPoolMin / ThreadPoolMax size the reactor's C thread pool
	// (0: the library's defaults).
	ThreadPoolMin, ThreadPoolMax uint
}

// Reactor is libdeferred's reactor.  It belongs to one goroutine, locked to
// its OS thread: the one that called NewReactor (or the one Start made).
// Deferreds made on it belong to it too.  Other goroutines reach it only
// through Call, Do, Wait and Stop.
type Reactor struct {
	mu   sync.RWMutex // guards c against Free while another goroutine calls Call
	c    *C.dfr_reactor
	tid  C.long
	g    uintptr // the owner goroutine (internal/gid), when gid.Fast
	slab *goSlab // the Go callbacks of its deferreds' chains

	// Deferred wrappers' lifecycle (lifecycle.go); reactor goroutine only.
	young   []*Deferred
	pending []C.dfrgo_pending // released tasks' callbacks, for C (queuePending)
	// Pending slots of wrappers with more than two (pending.go), by index;
	// a nil entry is free.
	pendLists [][]uint32
	pendFree  []uint32
	unrefs    []*C.dfr_deferred
	fresh     []*C.dfr_deferred
	freshBuf  []*C.dfr_deferred
	// The same with two references each (DeferToThread's) and its pool.
	fresh2    []*C.dfr_deferred
	fresh2Buf []*C.dfr_deferred
	pool      *goPool
	poolMax   int
	done      chan struct{} // Start: closed when the reactor goroutine has freed it
	closed    chan struct{} // closed by Free (waits give up)
	// closed when a stop is asked through Go: the waits of DeferToCThread
	// functions give up then (Run waits for their threads before it returns)
	stopping chan struct{}
	stopOnce sync.Once
	runErr   error // Start: what Run returned (read after done)
	looping  int   // Run, Iterate or Advance is on the stack (Free must wait)
	nest     int   // Go callbacks nested through C on the stack (maxNesting)

	panicMu sync.Mutex
	panicV  *PanicError // first panic of a Call'd function: Run returns it

	// Calls from other goroutines queue here; one dfr_reactor_call_from_thread wakes
	// the reactor for a whole batch (no handle or C call per Call).
	qmu    sync.Mutex
	queue  []func()
	posted bool        // a drain is queued in C
	self   C.uintptr_t // a handle to r, the drain's data, deleted by Free
}

// NewReactor makes a reactor owned by the calling goroutine, which it locks
// to its OS thread until Free.
func NewReactor(opts *Options) (*Reactor, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.ThreadPoolMin > math.MaxInt32 || o.ThreadPoolMax > math.MaxInt32 {
		return nil, fmt.Errorf("%w: thread pool size over %d", ErrInvalid, math.MaxInt32) // C's is unsigned
	}
	runtime.LockOSThread()
	c := C.dfrgo_reactor_new(C.bool(o.ManualClock), C.unsigned(o.ThreadPoolMin), C.unsigned(o.ThreadPoolMax))
	if c == nil {
		runtime.UnlockOSThread()
		return nil, ErrInvalid
	}
	r := &Reactor{c: c, tid: C.dfrgo_tid(), g: gid.G(), closed: make(chan struct{}), stopping: make(chan struct{}),
		unrefs: make([]*C.dfr_deferred, 0, batchMax), pending: make([]C.dfrgo_pending, 0, batchMax),
		freshBuf:  make([]*C.dfr_deferred, batchMax),
		fresh2Buf: make([]*C.dfr_deferred, batchMax), poolMax: int(o.ThreadPoolMax)}
	if r.poolMax == 0 {
		r.poolMax = 10 // the C pool's default (reactor.h)
	}
	if r.slab = newSlab(r); r.slab == nil {
		C.dfr_reactor_free(c)
		runtime.UnlockOSThread()
		return nil, ErrNoMemory
	}
	r.self = C.uintptr_t(cgo.NewHandle(r)) // not counted: lives as long as r
	return r, nil
}

// Start makes a reactor on a goroutine of its own and runs it there; it
// returns once the reactor runs.  Close stops and frees it.
func Start(opts *Options) (*Reactor, error) {
	ready := make(chan error, 1)
	var r *Reactor
	done := make(chan struct{})
	go func() {
		defer close(done)
		var err error
		r, err = NewReactor(opts)
		if err != nil {
			ready <- err
			return
		}
		r.done = done
		if err := r.callWhenRunning(func() { ready <- nil }); err != nil {
			r.Free()
			ready <- err
			return
		}
		r.runErr = r.Run()
		r.Free()
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	return r, nil
}

// Close stops a reactor made by Start and waits until its goroutine has
// freed it; it returns what Run returned (a *PanicError when a function given
// to Call panicked).  Any goroutine but the reactor's; from a DeferToCThread
// function of r, ErrDeadlock (Run waits for its pool's jobs).
func (r *Reactor) Close() error {
	if r.zero() {
		return errNilHandle
	}
	if r.done == nil {
		return errors.New("deferred: Close is for reactors made by Start; use Stop and Free")
	}
	if r.InThread() {
		return ErrDeadlock
	}
	if gid.Fast {
		if owner, ok := cthreadG.Load(gid.G()); ok && owner == r {
			return ErrDeadlock // r's Run waits for this DeferToCThread function
		}
	}
	_ = r.Stop()
	<-r.done
	return r.runErr
}

// InThread reports whether the caller runs on the reactor's goroutine
// (Twisted's isInIOThread).
func (r *Reactor) InThread() bool {
	if r == nil {
		return false
	}
	if gid.Fast {
		return gid.G() == r.g // no call into C
	}
	return C.dfrgo_tid() == r.tid
}

// zero: a nil or zero-value Reactor (not made by NewReactor or Start).
func (r *Reactor) zero() bool { return r == nil || r.slab == nil }

// own panics when the caller is not the reactor's goroutine (a programming
// error like a concurrent map write: it never reaches C).
func (r *Reactor) own() {
	if r.zero() {
		panic(errNilHandle)
	}
	if !r.InThread() {
		panic(ErrNotOwner)
	}
}

// live is own for a constructor: a freed reactor makes nothing (ErrClosed).
func (r *Reactor) live() {
	r.own()
	if r.c == nil {
		panic(ErrClosed)
	}
}

// check is own as an error, also for a freed reactor.
func (r *Reactor) check() error {
	if r.zero() {
		return errNilHandle
	}
	if !r.InThread() {
		return ErrNotOwner
	}
	if r.c == nil {
		return ErrClosed
	}
	return nil
}

// Run runs the reactor until Stop.  A reactor runs once.  If a function given
// to Call panicked, Run stops the reactor and returns the *PanicError.
func (r *Reactor) Run() error {
	if err := r.check(); err != nil {
		return err
	}
	r.looping++
	returned := false
	defer r.leaveLoop(&returned)
	err := codeErr(C.dfr_reactor_run(r.c))
	returned = true
	if err != nil {
		return err
	}
	return r.takePanic()
}

// Stop asks a running reactor to stop.  Any goroutine.
func (r *Reactor) Stop() error {
	if r.zero() {
		return errNilHandle
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.c == nil {
		return ErrClosed
	}
	err := codeErr(C.dfr_reactor_stop(r.c))
	if err == nil {
		r.stopOnce.Do(func() { close(r.stopping) })
	}
	return err
}

// Free frees a reactor that is not running: pending calls are dropped (their
// Go functions released; a pending DeferLater and a running LoopingCall's
// deferred fail with ErrNotRunning), and unlocks the goroutine from its thread.
// Free from a function that Run, Iterate or Advance called panics with
// errFreeInLoop (Stop, and Free once Run returned).
func (r *Reactor) Free() {
	if r == nil {
		return
	}
	r.own()
	if r.looping > 0 {
		// C would put the free off until the loop returns, but the Go side
		// (its handle, slab and queue) would be gone under the running loop.
		panic(errFreeInLoop)
	}
	r.mu.Lock()
	c := r.c
	r.c = nil
	r.mu.Unlock()
	if c != nil {
		// Waits give up first: C's free joins its pool's threads, and a
		// DeferToCThread function may be waiting (Do, Wait) on r.
		close(r.closed)
		r.retire()
		C.dfr_reactor_free(c)
		drainReleases()
		r.slab.orphan()
		r.qmu.Lock()
		r.queue = nil // never run
		r.qmu.Unlock()
		cgo.Handle(r.self).Delete()
		runtime.UnlockOSThread()
	}
}

// leaveLoop, deferred by Run, Iterate and Advance after r.looping++, undoes
// it.  When they did not return (returned false), runtime.Goexit (t.FailNow
// in a callback, say) or a panic unwound the goroutine through C's loop: C's
// frames are gone mid-run, so r cannot be freed; it is abandoned (left to
// leak in C) and the Go side says ErrClosed from now on, waiters included.
func (r *Reactor) leaveLoop(returned *bool) {
	r.looping--
	if !*returned && r.c != nil {
		r.abandon()
	}
}

// abandon: see leaveLoop.
func (r *Reactor) abandon() {
	r.mu.Lock()
	r.c = nil
	r.mu.Unlock()
	r.runErr = errGoexit
	r.qmu.Lock()
	r.queue = nil // never run
	r.qmu.Unlock()
	if r.pool != nil {
		r.pool.close()
	}
	r.slab.orphan() // its running slot never comes back
	close(r.closed)
}

// Running reports whether the reactor runs.
func (r *Reactor) Running() bool {
	r.own()
	return r.c != nil && bool(C.dfr_reactor_running(r.c))
}

// Iterate runs one loop iteration waiting at most maxWait (not while running).
func (r *Reactor) Iterate(maxWait time.Duration) error {
	if err := r.check(); err != nil {
		return err
	}
	r.looping++
	returned := false
	defer r.leaveLoop(&returned)
	err := codeErr(C.dfr_reactor_iterate(r.c, C.double(maxWait.Seconds())))
	returned = true
	return err
}

// Now is the reactor's clock (monotonic; a manual clock starts at 0).
func (r *Reactor) Now() time.Duration {
	r.own()
	return seconds(float64(C.dfr_reactor_seconds(r.c)))
}

// Advance moves a manual clock forward and runs what became due.
func (r *Reactor) Advance(d time.Duration) error {
	if err := r.check(); err != nil {
		return err
	}
	r.looping++
	returned := false
	defer r.leaveLoop(&returned)
	err := codeErr(C.dfr_reactor_advance(r.c, C.double(d.Seconds())))
	returned = true
	return err
}

// PendingCalls is the number of pending delayed calls.
func (r *Reactor) PendingCalls() int {
	r.own()
	return int(C.dfr_reactor_pending_calls(r.c))
}

func seconds(s float64) time.Duration {
	if math.IsNaN(s) {
		return -1
	}
	return time.Duration(s * float64(time.Second))
}

// Call runs fn on the reactor's goroutine soon.  Any goroutine; calls run in
// the order they were made; nothing is lost.  Calls made before Run run once
// it starts; calls still pending when the reactor is freed never run.  A
// panic in fn stops the reactor and Run returns it as a *PanicError.
func (r *Reactor) Call(fn func()) error {
	if r.zero() || fn == nil {
		return ErrInvalid
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.c == nil {
		return ErrClosed
	}
	r.qmu.Lock()
	r.queue = append(r.queue, fn)
	post := !r.posted
	r.posted = true
	r.qmu.Unlock()
	if !post {
		return nil
	}
	if err := codeErr(C.dfrgo_post(r.c, r.self)); err != nil {
		r.qmu.Lock()
		r.queue = r.queue[:len(r.queue)-1] // the queue is ours: nothing else posted
		r.posted = false
		r.qmu.Unlock()
		return err
	}
	return nil
}

// goDrain runs the queued calls on the reactor goroutine, in order.
//
//export goDrain
func goDrain(h C.uintptr_t) {
	drainReleases()
	r := cgo.Handle(h).Value().(*Reactor)
	r.settle()
	r.qmu.Lock()
	batch := r.queue
	r.queue = nil
	r.posted = false
	r.qmu.Unlock()
	for _, fn := range batch {
		r.runCall(fn)
	}
}

// runCall runs a Call'd function; a panic stops the reactor (Run returns it).
func (r *Reactor) runCall(fn func()) {
	defer func() {
		if v := recover(); v != nil {
			r.panicMu.Lock()
			if r.panicV == nil {
				r.panicV = panicError(v)
			}
			r.panicMu.Unlock()
			if C.dfr_reactor_stop(r.c) == 0 {
				r.stopOnce.Do(func() { close(r.stopping) })
			}
		}
	}()
	fn()
}

func (r *Reactor) callWhenRunning(fn func()) error {
	return r.Call(fn) // calls from other threads wait for run; same effect here
}

type reactorFn struct {
	r  *Reactor
	fn func()
}

//export goFn
func goFn(h C.uintptr_t) {
	drainReleases()
	f := cgo.Handle(h).Value().(reactorFn)
	deleteHandle(h) // runs once: its destroy hook will not
	f.r.settle()
	f.r.runCall(f.fn)
}

func (r *Reactor) takePanic() error {
	r.panicMu.Lock()
	defer r.panicMu.Unlock()
	if r.panicV != nil {
		p := r.panicV
		r.panicV = nil
		return p
	}
	return nil
}

// DelayedCall is the handle of a CallLater call.
type DelayedCall struct {
	r *Reactor
	c *C.dfr_delayed_call
}

// CallLater runs fn on the reactor after d (>= 0).
func (r *Reactor) CallLater(d time.Duration, fn func()) (*DelayedCall, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	if fn == nil || d < 0 {
		return nil, ErrInvalid
	}
	dc := &DelayedCall{r: r}
	if err := codeErr(C.dfrgo_call_later(r.c, C.double(d.Seconds()), newHandle(reactorFn{r, fn}), &dc.c)); err != nil {
		return nil, err
	}
	runtime.AddCleanup(dc, func(c *C.dfr_delayed_call) { C.dfr_delayed_call_unref(c) }, dc.c)
	return dc, nil
}

// Cancel: ErrAlreadyCancelled / ErrAlreadyRan once cancelled / run.
func (dc *DelayedCall) Cancel() error {
	if err := dc.reactor().check(); err != nil {
		return err
	}
	return codeErr(C.dfr_delayed_call_cancel(dc.c))
}

// Reset reschedules the call to d from now.
func (dc *DelayedCall) Reset(d time.Duration) error {
	if err := dc.reactor().check(); err != nil {
		return err
	}
	return codeErr(C.dfr_delayed_call_reset(dc.c, C.double(d.Seconds())))
}

// Delay pushes the call back by d (may be negative).
func (dc *DelayedCall) Delay(d time.Duration) error {
	if err := dc.reactor().check(); err != nil {
		return err
	}
	return codeErr(C.dfr_delayed_call_delay(dc.c, C.double(d.Seconds())))
}

// Active reports whether the call is still pending.
func (dc *DelayedCall) Active() bool {
	dc.reactor().own()
	return bool(C.dfr_delayed_call_active(dc.c))
}

// Time is when the call runs on the reactor's clock; -1 once it ran or was
// cancelled.
func (dc *DelayedCall) Time() time.Duration {
	dc.reactor().own()
	return seconds(float64(C.dfr_delayed_call_time(dc.c)))
}
