package deferred

// #include "shim.h"
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// Sentinel errors: errors.Is(err, ErrCancelled) is true for a failure with
// the library's code for it (domain "dfr"), wherever it came from.
var (
	ErrInvalid          = errors.New("deferred: invalid argument")
	ErrNoMemory         = errors.New("deferred: out of memory")
	ErrAlreadyCalled    = errors.New("deferred: already called")
	ErrCancelled        = errors.New("deferred: cancelled")
	ErrTimedOut         = errors.New("deferred: timed out")
	ErrFirstError       = errors.New("deferred: first error")
	ErrNotRunning       = errors.New("deferred: reactor not running")
	ErrAlreadyCancelled = errors.New("deferred: delayed call already cancelled")
	ErrAlreadyRan       = errors.New("deferred: delayed call already ran")
	ErrDeadlock         = errors.New("deferred: would wait on itself")
	ErrOverflow         = errors.New("deferred: queue full")
	ErrUnderflow        = errors.New("deferred: queue backlog full")
	// ErrAlreadyRunning: a LoopingCall started twice.
	ErrAlreadyRunning = errors.New("deferred: already running")
	// ErrNotRestartable: a reactor runs once; Run again fails with it.
	ErrNotRestartable = errors.New("deferred: reactor already ran (not restartable)")
	// ErrAlreadyStarted: a thread pool started twice.
	ErrAlreadyStarted = errors.New("deferred: thread pool already started")
	// ErrInUse: the allocator was set after the library had allocated.
	ErrInUse = errors.New("deferred: allocator already in use")
	// ErrNotOwner: a reactor-bound object was used from a goroutine other
	// than the reactor's.  Use Reactor.Call, Do or Wait to cross over.
	ErrNotOwner = errors.New("deferred: used from a goroutine other than its reactor's (use Reactor.Call, Do or Wait)")
	// errNilHandle: a method called on a nil (or zero-value) handle.
	errNilHandle = fmt.Errorf("%w: nil or zero-value handle (make them with the package's functions)", ErrInvalid)
	// errFreeInLoop: Reactor.Free called while the reactor runs a loop.
	errFreeInLoop = fmt.Errorf("%w: Reactor.Free from inside Run, Iterate or Advance (Stop it, and Free once Run returned)", ErrInvalid)
	// errForeign: a Deferred of another reactor given to this one's.
	errForeign = fmt.Errorf("%w: a Deferred of another reactor (each chain stays on its own reactor; cross with Reactor.Call, Do or Wait)", ErrInvalid)
	// errReleased: a released Deferred given where a live one is needed.
	errReleased = fmt.Errorf("%w: use of a released Deferred", ErrInvalid)
	// errFreed: a Lock, Semaphore, Queue or LoopingCall used after its Free.
	errFreed = fmt.Errorf("%w: used after Free", ErrInvalid)
	// errNilFunc: a nil function given to Then, Catch or Finally.
	errNilFunc = fmt.Errorf("%w: nil function", ErrInvalid)
	// errGoexit: a function called runtime.Goexit (t.FailNow, say) where the
	// binding must return.
	errGoexit = fmt.Errorf("%w: runtime.Goexit (t.FailNow?) in a function given to the reactor", ErrInvalid)
	// errTooDeep: callbacks nested through C past maxNesting.
	errTooDeep = fmt.Errorf("%w: callbacks nested over %d deep (a callback firing a deferred whose callback fires another...)", ErrInvalid, maxNesting)
	// ErrPending: Result on a deferred that has no result yet.
	ErrPending = errors.New("deferred: no result yet")
	// ErrWrongType: a result could not be converted to the type asked for.
	ErrWrongType = errors.New("deferred: wrong result type")
	// ErrPanic: a Go callback panicked; the failure is a *PanicError.
	ErrPanic = errors.New("deferred: panic in callback")
	// ErrClosed: the reactor has been freed.
	ErrClosed = errors.New("deferred: reactor freed")
)

// maxNesting bounds the Go callbacks (and cancellers) a reactor's goroutine
// runs nested through C — a callback firing a deferred whose callback fires
// another, and so on.  Each level holds C frames (about 0.5 kB, more with
// sanitizers) on the thread's stack, which does not grow: 20000 of them
// overflowed 8 MB (SIGSEGV in C).  Past the bound the callback is not called
// and its chain fails with errTooDeep, as Python's recursion limit would.
const maxNesting = 2000

var codeErrors = map[int]error{
	C.DFR_EINVAL: ErrInvalid, C.DFR_ENOMEM: ErrNoMemory, C.DFR_EALREADY: ErrAlreadyCalled,
	C.DFR_ECANCELLED: ErrCancelled, C.DFR_ETIMEDOUT: ErrTimedOut, C.DFR_EFIRST: ErrFirstError,
	C.DFR_ENOTRUNNING: ErrNotRunning, C.DFR_EALREADY_CANCELLED: ErrAlreadyCancelled,
	C.DFR_EALREADY_RAN: ErrAlreadyRan, C.DFR_EDEADLK: ErrDeadlock,
	C.DFR_EOVERFLOW: ErrOverflow, C.DFR_EUNDERFLOW: ErrUnderflow, C.DFR_ENOTOWNER: ErrNotOwner,
	C.DFR_EALREADY_RUNNING: ErrAlreadyRunning, C.DFR_ENOTRESTARTABLE: ErrNotRestartable,
	C.DFR_EALREADY_STARTED: ErrAlreadyStarted, C.DFR_EINUSE: ErrInUse,
}

// codeErr turns a negative DFR_E* return code into a sentinel (nil for 0).
func codeErr(rc C.int) error {
	if rc >= 0 {
		return nil
	}
	if e, ok := codeErrors[int(rc)]; ok {
		return e
	}
	return fmt.Errorf("deferred: %s (%d)", C.GoString(C.dfr_strerror(rc)), int(rc))
}

// Failure is a failure made by C code (Twisted's Failure): a domain, a code,
// a message and an optional cause.  Domain "dfr" is the library's own codes,
// which errors.Is matches against the sentinels (ErrCancelled, ...).
type Failure struct {
	Domain  string
	Code    int
	Message string
	// Index: for a first-error failure (ErrFirstError), which input failed;
	// else -1.
	Index int64
	// Cause is the wrapped failure, nil if none.
	Cause error

	c *C.dfr_failure // a reference, released by a cleanup when f goes
}

func (f *Failure) Error() string {
	if f == nil {
		return "deferred: <nil *Failure>"
	}
	s := fmt.Sprintf("%s error %d", f.Domain, f.Code)
	if f.Message != "" {
		s += ": " + f.Message
	}
	if f.Cause != nil {
		s += ": " + f.Cause.Error()
	}
	return s
}

// Unwrap gives the cause.
func (f *Failure) Unwrap() error {
	if f == nil {
		return nil
	}
	return f.Cause
}

// Is matches the sentinel of the failure's code in domain "dfr".
func (f *Failure) Is(target error) bool {
	return f != nil && f.Domain == "dfr" && codeErrors[f.Code] == target
}

// NewFailure makes a failure to errback a chain with (domain must be
// non-empty; "dfr" is the library's).
func NewFailure(domain string, code int, message string) *Failure {
	return &Failure{Domain: domain, Code: code, Message: message, Index: -1}
}

// PanicError is the failure a Go callback's panic becomes.
type PanicError struct {
	Value any
	Stack []byte
}

func (p *PanicError) Error() string {
	if p == nil {
		return "deferred: <nil *PanicError>"
	}
	return fmt.Sprintf("deferred: panic in callback: %v", p.Value)
}

func (p *PanicError) Is(t error) bool { return t == ErrPanic }

func (p *PanicError) Unwrap() error {
	if p == nil {
		return nil
	}
	e, _ := p.Value.(error)
	return e
}

func panicError(v any) *PanicError {
	buf := make([]byte, 4096)
	return &PanicError{Value: v, Stack: buf[:runtime.Stack(buf, false)]}
}

// failureFromC converts a borrowed C failure.  A failure carrying a Go error
// as its payload gives that Go error back (the same value).
func failureFromC(cf *C.dfr_failure) error {
	if cf == nil {
		return ErrInvalid
	}
	if p := C.dfr_failure_payload(cf); p != nil && kindOf(p) == C.DFRGO_GO {
		if e, ok := goValueOf(p).(error); ok {
			return e
		}
	}
	f := &Failure{
		Domain:  C.GoString(C.dfr_failure_domain(cf)),
		Code:    int(C.dfr_failure_code(cf)),
		Message: C.GoString(C.dfr_failure_message(cf)),
		Index:   int64(C.dfr_failure_index(cf)),
		c:       C.dfr_failure_ref(cf),
	}
	if cause := C.dfr_failure_cause(cf); cause != nil {
		f.Cause = failureFromC((*C.dfr_failure)(unsafe.Pointer(cause)))
	}
	runtime.AddCleanup(f, func(c *C.dfr_failure) { C.dfr_failure_unref(c) }, f.c)
	return f
}

// failureToC makes a new C failure reference for a Go error.  A *Failure that
// came from C is passed on as is; any other error becomes a failure of domain
// "go" carrying the error itself as payload, so it comes back as the same
// value.  NULL only when out of memory.
func failureToC(err error) *C.dfr_failure {
	return failureToCDepth(err, 0)
}

// maxCauses bounds a *Failure's chain of causes (a cycle would recurse until
// the goroutine's stack overflows, a fatal error).
const maxCauses = 64

func failureToCDepth(err error, depth int) *C.dfr_failure {
	if nilError(err) {
		err = fmt.Errorf("%w: a nil %T used as an error", ErrInvalid, err)
	}
	if f, ok := err.(*Failure); ok {
		if f.c != nil {
			return C.dfr_failure_ref(f.c)
		}
		dom := C.CString(f.Domain)
		defer C.free(unsafe.Pointer(dom))
		msg := C.CString(f.Message)
		defer C.free(unsafe.Pointer(msg))
		var cause *C.dfr_failure
		if f.Cause != nil && depth < maxCauses {
			cause = failureToCDepth(f.Cause, depth+1)
		}
		if cause != nil {
			return C.dfr_failure_wrap(cause, C.dfrgo_domain(dom), C.int(f.Code), msg)
		}
		return C.dfr_failure_new(C.dfrgo_domain(dom), C.int(f.Code), msg)
	}
	code := C.int(-1)
	if p, ok := err.(*PanicError); ok && p != nil {
		code = -2
	}
	msg := C.CString(errorText(err))
	defer C.free(unsafe.Pointer(msg))
	cf := C.dfr_failure_new(C.dfrgo_domain(goDomain), code, msg)
	if cf != nil {
		C.dfr_failure_set_payload(cf, valueGo(newHandle(err)))
	}
	return cf
}

var goDomain = C.CString("go") // kept for the life of the process

// nilError reports a typed nil of the package's error types (their Error
// methods need a value): Errback, Fail and callbacks' errors refuse them.
func nilError(err error) bool {
	switch e := err.(type) {
	case *Failure:
		return e == nil
	case *PanicError:
		return e == nil
	}
	return false
}

// errorText is err.Error(), or a description when that panics (a typed nil
// whose method needs a value): a failure still carries err itself.
func errorText(err error) (s string) {
	defer func() {
		if v := recover(); v != nil {
			s = fmt.Sprintf("%T (its Error method panicked: %v)", err, v)
		}
	}()
	return err.Error()
}
