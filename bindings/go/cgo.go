package deferred

// #cgo pkg-config: deferred
// #include "shim.h"
import "C"

import (
	"fmt"
	"runtime/cgo"
	"strings"
	"sync/atomic"
)

// The major.minor this binding is written against; checked against the
// loaded library's dfr_version() at init.
const wantVersion = "0."

// Version is the version of the libdeferred the program runs with.
func Version() string { return C.GoString(C.dfr_version()) }

func init() {
	if v := Version(); !strings.HasPrefix(v, wantVersion) {
		panic(fmt.Sprintf("deferred: the binding needs libdeferred %sx, the loaded library is %s", wantVersion, v))
	}
}

// liveHandles counts the cgo.Handles the binding has given to C and not yet
// got back through a destroy hook (tests check it returns to zero).
var liveHandles atomic.Int64

func newHandle(v any) C.uintptr_t {
	liveHandles.Add(1)
	return C.uintptr_t(cgo.NewHandle(v))
}

func deleteHandle(h C.uintptr_t) {
	cgo.Handle(h).Delete()
	liveHandles.Add(-1)
}

//export goDestroy
func goDestroy(h C.uintptr_t) { deleteHandle(h) }

//export goNoop
func goNoop() {}

// cgoFloor is the least a binding call can cost: one Go->C call plus one
// C->Go callback, both no-ops (the benchmarks' "cgo-floor").
func cgoFloor() { C.dfrgo_floor() }
