package deferred

// #include "shim.h"
import "C"

import "sync/atomic"

// unhandledHook is the function SetUnhandledErrorHook installed, nil for the
// library's default (stderr).
var unhandledHook atomic.Pointer[func(error)]

// SetUnhandledErrorHook routes failures nobody handled to fn: Twisted logs a
// deferred's failure that is still its result when the deferred is garbage
// collected ("Unhandled error in Deferred"); the library prints it to stderr,
// which is what nil restores.  fn gets the failure as the chain had it (a Go
// error as the same value).  Process-wide, like the C hook.
//
// fn runs on whichever goroutine dropped the deferred's last reference — the
// reactor's (a Release, a chain that ended), the garbage collector's cleanup
// or another — so it must not touch a reactor's objects directly (use
// Reactor.Call).  A panic in fn is dropped.  A failure dropped on a C
// coroutine's stack, where Go cannot run, is printed instead.
func SetUnhandledErrorHook(fn func(error)) {
	if fn == nil {
		C.dfrgo_set_unhandled(0)
		unhandledHook.Store(nil)
		return
	}
	unhandledHook.Store(&fn)
	C.dfrgo_set_unhandled(1)
}

// goUnhandled gives a borrowed unhandled failure to the hook: 0 when there
// is none any more (C prints it then).
//
//export goUnhandled
func goUnhandled(cf *C.dfr_failure) C.int {
	p := unhandledHook.Load()
	if p == nil {
		return 0
	}
	defer func() { _ = recover() }() // never unwind through C
	(*p)(failureFromC(cf))
	return 1
}
