// Package deferred is the Go binding of libdeferred, Twisted's Deferreds and
// reactor in C.  The C engine runs every chain; this package gives it Go
// callbacks, Go values, Go errors, contexts and goroutines.
//
// # The reactor goroutine
//
// A [Reactor] belongs to one goroutine, locked to its OS thread: the one that
// called [NewReactor] (it calls runtime.LockOSThread; [Reactor.Free] undoes
// it), or the one [Start] makes.  Every [Deferred] made on a reactor belongs
// to it too, and so do its timers, LoopingCalls, locks, semaphores and
// queues.  Use them only on that goroutine — in callbacks, in functions
// given to [Reactor.Call], or in code that runs before [Reactor.Run] on it.
// Wrong-goroutine use never reaches C: methods that return an error return
// [ErrNotOwner], the others panic with it.  Methods called on a nil handle
// do the same with an error wrapping [ErrInvalid] (Free and Release of nil
// do nothing).  After [Reactor.Free], methods that return an error return
// [ErrClosed] and constructors panic with it; a freed Lock, Semaphore, Queue
// or LoopingCall gives an error wrapping ErrInvalid.  A Deferred of another
// reactor, or a released one, given to a list, Chain, Do, or returned by a
// callback is an error wrapping ErrInvalid (a callback's fails its chain).
// Reactor.Free from a function that Run, Iterate or Advance runs panics.
//
// Other goroutines cross over through three thread-safe doors:
//
//   - [Reactor.Call] runs a func() on the reactor goroutine soon (nothing
//     lost, in order per calling goroutine);
//   - [Do] runs a function there and blocks until its result — a value, or
//     a *Deferred whose result it waits for;
//   - [Wait] blocks until a deferred fires.
//
// and [Reactor.Stop].
//
//	r, _ := deferred.Start(nil) // a reactor running on its own goroutine
//	defer r.Close()
//	s, err := deferred.Do[string](ctx, r, func() (any, error) {
//		return r.DeferLater(time.Second, func() (any, error) { return "later", nil })
//	})
//
// # Contexts
//
// Blocking waits take a context first.  When it is done before the result,
// the deferred is cancelled on the reactor goroutine (its canceller runs,
// its chain sees [ErrCancelled]) and the wait returns context.Cause(ctx).
// A wait on the reactor goroutine itself would deadlock: it returns
// [ErrDeadlock].
//
// # Values
//
// A result travels through C as a value: nil is none; int64 and int (as
// int64), float64 and []byte (copied) are the library's own types, which C
// code reads; a *Deferred is a deferred value (the chain waits for it); an
// error is a failure; anything else (strings, structs, pointers) travels as
// a runtime/cgo.Handle and comes back as the very same Go value.  Values
// made by C come back as nil, int64, float64, []byte, error, *Deferred,
// [Entries] (a list) or [Ptr].  The typed helpers [Then], [Catch], [Result],
// [Do] and [Wait] convert to the type asked for (int64 to any integer type
// that holds it, bytes to string, a list of successes to []any, none to a
// nil-able zero value); any other mismatch is an [ErrWrongType] failure.
//
// # Errors
//
// A failure made in C is a *[Failure] (domain, code, message, cause).  The
// library's own codes match sentinels: errors.Is(err, ErrCancelled),
// errors.Is(err, ErrTimedOut), ...  A Go error that went through a chain
// comes back as the same error value.  A panic in a Go callback becomes a
// *[PanicError] failure on the chain (errors.Is(err, ErrPanic)); it never
// unwinds through C.  A panic in a function given to [Reactor.Call] stops
// the reactor and [Reactor.Run] returns it.  A failure still unhandled when
// its deferred goes is printed to stderr by the library, or given to the
// function set with [SetUnhandledErrorHook] (Twisted logs it).
//
// Go callbacks nested through C (a callback firing a deferred whose callback
// fires another, ...) hold C frames on the thread's stack: past 2000 levels the
// callback is not called and its chain fails with an error wrapping
// ErrInvalid, instead of overflowing the stack.
//
// runtime.Goexit (t.FailNow, t.Fatal) cannot be stopped.  In a function given
// to [DeferToThread] or [DeferToCThread] it fails that task (an error wrapping
// ErrInvalid).  On the reactor's goroutine it unwinds through C: call it in
// no callback.  If it unwinds Run, Iterate or Advance, the reactor is
// abandoned (its C half leaks): its calls and waits give ErrClosed, and Close
// returns the error.
//
// # Memory
//
// No Go pointer is kept in C.  Go values reach C as runtime/cgo.Handles (one
// per value).  Go callbacks sit in a slab owned by their reactor: C holds a
// slot's index, its destroy hook gives the slot back exactly once (after the
// callback ran, when its deferred is cancelled or freed unfired, or when the
// reactor is freed with the call pending), and the functions of a slot that
// never ran are dropped before it is reused.  Callbacks added to a deferred
// C cannot reach yet (made by [Reactor.NewDeferred] or [DeferToThread] and
// not passed to C) wait in Go and reach C with the next operation on it, so
// "make, add callbacks, fire" costs one call into C.
//
// A [Deferred] holds one C reference, dropped by [Deferred.Release] (on the
// reactor goroutine the call into C is batched: it happens at the latest
// when the reactor next calls into Go or is freed) or, failing that, when
// the garbage collector finds the Deferred unreachable.  A Deferred made
// and released within one turn of the reactor costs no garbage-collector
// bookkeeping; one that lives longer gets a cleanup when the reactor next
// calls into Go.
//
// # C coroutines
//
// Go cannot run on the stack of a C coroutine (dfr_inline_callbacks): on the
// reactor's Go-made thread the runtime aborts ("morestack on g0") when C
// calls Go on a stack it switched to.  The binding checks before every call
// into Go: a Go callback reached there (a C coroutine firing a deferred that
// has Go callbacks) runs on the reactor loop instead, the chain waiting for
// it as for a returned deferred; a Go value dropped there is released at the
// next call into Go from the loop; a Go task or canceller reached there does
// not run (the task fails with a "dfr" DFR_ENOTOWNER failure, the cancel
// takes its default course).
//
// # Threads
//
// [DeferToThread] runs Go work on worker goroutines, not on the library's C
// thread pool (a C-created thread calling into Go costs more): at most
// Options.ThreadPoolMax of them per reactor (10 by default, as the C pool
// and Twisted's), each running one call at a time, so that calls that block
// hold back no other while fewer than the maximum run.  Results come back
// to the reactor in batches, fired with one call into C.  The C engine runs
// every deferred's chain, released ones included: each Go callback is one
// C→Go call.  [DeferToCThread] runs the work on the C pool, for work that
// must share that pool's limit with C jobs.  See README.md for the
// measured costs.
//
// # Building
//
// The package links with `#cgo pkg-config: deferred`.  Against this
// repository's own build, point PKG_CONFIG_PATH at meson's uninstalled
// pkg-config file and LD_LIBRARY_PATH at the built library:
//
//	meson setup build && ninja -C build
//	export PKG_CONFIG_PATH=$PWD/build/meson-uninstalled LD_LIBRARY_PATH=$PWD/build/src
//	cd bindings/go && go test -race ./...
//
// The package needs libdeferred 0.2 or a later 0.x: another header fails the
// build (shim.h), and a loaded library older than the header built against,
// or of another major version, fails the package's init (dfr_version).
package deferred
