package deferred

// #include "shim.h"
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// Values are read and made in Go, without a crossing into C, by comparing
// the type pointer with the library's built-in types and the binding's own.
var (
	typeI64      = &C.dfr_type_i64
	typeF64      = &C.dfr_type_f64
	typePtr      = &C.dfr_type_ptr
	typeBytes    = &C.dfr_type_bytes
	typeFailure  = &C.dfr_type_failure
	typeDeferred = &C.dfr_type_deferred
	typeList     = &C.dfr_type_list
	typeGo       = C.dfrgo_go_type()
)

func kindOf(v *C.dfr_value) int {
	switch v._type {
	case nil:
		return C.DFRGO_NONE
	case typeI64:
		return C.DFRGO_I64
	case typeF64:
		return C.DFRGO_F64
	case typePtr:
		return C.DFRGO_PTR
	case typeBytes:
		return C.DFRGO_BYTES
	case typeFailure:
		return C.DFRGO_FAILURE
	case typeDeferred:
		return C.DFRGO_DEFERRED
	case typeList:
		return C.DFRGO_LIST
	case typeGo:
		return C.DFRGO_GO
	}
	return C.DFRGO_OTHER
}

func i64Of(v *C.dfr_value) int64    { return *(*int64)(unsafe.Pointer(&v.u)) }
func f64Of(v *C.dfr_value) float64  { return *(*float64)(unsafe.Pointer(&v.u)) }
func ptrOf(v *C.dfr_value) uintptr  { return *(*uintptr)(unsafe.Pointer(&v.u)) }
func i64Bits(v *C.dfr_value) uint64 { return *(*uint64)(unsafe.Pointer(&v.u)) }
func valueI64(x int64) C.dfr_value {
	v := C.dfr_value{_type: typeI64}
	*(*int64)(unsafe.Pointer(&v.u)) = x
	return v
}
func valueF64(x float64) C.dfr_value {
	v := C.dfr_value{_type: typeF64}
	*(*float64)(unsafe.Pointer(&v.u)) = x
	return v
}

// goValueOf reads the Go value of a borrowed "go" value (u.ptr is a C box
// holding the handle).
func goValueOf(v *C.dfr_value) any {
	return cgo.Handle(C.dfrgo_go_handle(v)).Value()
}

func valueGo(h C.uintptr_t) C.dfr_value { return C.dfrgo_value_go(h) }

// drainReleases releases the handles whose destroy hooks ran on a C
// coroutine's stack, where Go cannot run.  Called on the way into Go from
// the reactor loop, by Release and by Free.
func drainReleases() {
	if C.dfrgo_releases_pending == 0 {
		return
	}
	var buf [64]C.dfrgo_release
	for {
		n := int(C.dfrgo_take_releases(&buf[0], C.size_t(len(buf))))
		for _, e := range buf[:n] {
			deleteHandle(e.h)
		}
		if n < len(buf) {
			return
		}
	}
}

// dropValue frees a value, crossing into C only for the types that need it.
func dropValue(v *C.dfr_value) {
	switch kindOf(v) {
	case C.DFRGO_NONE, C.DFRGO_I64, C.DFRGO_F64, C.DFRGO_PTR:
	default:
		C.dfr_value_drop(*v)
	}
}
