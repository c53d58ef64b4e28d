package deferred

// #cgo pkg-config: deferred
// #include "shim.h"
import "C"

import (
	"fmt"
	"runtime/cgo"
	"sync/atomic"
)

// Version is the version of the libdeferred the program runs with.
func Version() string { return C.GoString(C.dfr_version()) }

// The header's version, the one the binding was built against (shim.h
// refuses headers before 0.2 or of another major version).
const (
	builtMajor = int(C.DFR_VERSION_MAJOR)
	builtMinor = int(C.DFR_VERSION_MINOR)
)

func init() {
	if err := checkVersion(Version(), builtMajor, builtMinor); err != nil {
		panic(err)
	}
}

// checkVersion accepts a loaded library of the header's major version and at
// least its minor (the binding may call what that minor added).
func checkVersion(loaded string, major, minor int) error {
	var lmaj, lmin, lpatch int
	if n, _ := fmt.Sscanf(loaded, "%d.%d.%d", &lmaj, &lmin, &lpatch); n < 2 || lmaj != major || lmin < minor {
		return fmt.Errorf("deferred: built against libdeferred %d.%d, the loaded library is %q: it needs %d.x with x >= %d",
			major, minor, loaded, major, minor)
	}
	return nil
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
