package deferred

// #include "shim.h"
import "C"

import (
	"fmt"
	"reflect"
	"unsafe"
)

// Ptr is a borrowed C pointer that travelled as a result (C objects' own
// deferreds fire with them; the Go API gives the Go handles instead: Lock,
// Semaphore, LoopingCall).
type Ptr uintptr

// Entry is one entry of a DeferredList result.
type Entry struct {
	OK    bool
	Value any   // when OK
	Err   error // when not OK
}

// Entries is what a DeferredList fires with, in input order.
type Entries []Entry

// How Go values travel through C:
//   - nil is none; int64 and int (as int64), float64 and []byte (copied) are
//     the library's own i64, f64 and bytes, so C code can read them;
//   - *Deferred is a deferred value (the chain waits for it);
//   - any other value (strings, structs, pointers, errors) travels as a
//     cgo.Handle inside a value of the binding's "go" type and comes back as
//     the very same Go value.
//
// C-produced values come back as nil, int64, float64, []byte, error
// (*Failure), *Deferred, Entries (a list) or Ptr.

// goValueOf reads the Go value in a borrowed "go" value.

// toC makes a C value owning what it needs.
func toC(v any) C.dfr_value {
	switch x := v.(type) {
	case nil:
		return C.dfr_value{}
	case int64:
		return valueI64(x)
	case int:
		return valueI64(int64(x))
	case float64:
		return valueF64(x)
	case []byte:
		var p unsafe.Pointer
		if len(x) > 0 {
			p = unsafe.Pointer(&x[0])
		}
		return C.dfr_bytes_new(p, C.size_t(len(x)))
	case *Deferred:
		if x == nil || x.c == nil {
			return C.dfr_value{}
		}
		// A chain may wait only for a deferred of its own thread's reactor
		// (C would run the other reactor's chain on this thread).
		if x.state.Load() == released {
			return C.dfrgo_value_failure(failureToC(errReleased))
		}
		if !x.r.InThread() {
			return C.dfrgo_value_failure(failureToC(errForeign))
		}
		return C.dfrgo_value_deferred(C.dfr_deferred_ref(x.ptr()))
	case error:
		return C.dfrgo_value_failure(failureToC(x))
	default:
		return valueGo(newHandle(v))
	}
}

// toGo converts a C value and drops it (the Go result owns what it needs).
// A failure value gives (nil, err).
func toGo(r *Reactor, v *C.dfr_value) (any, error) {
	defer dropValue(v)
	return peekGo(r, v)
}

// peekGo converts a borrowed C value.
func peekGo(r *Reactor, v *C.dfr_value) (any, error) {
	switch kindOf(v) {
	case C.DFRGO_NONE:
		return nil, nil
	case C.DFRGO_I64:
		return i64Of(v), nil
	case C.DFRGO_F64:
		return f64Of(v), nil
	case C.DFRGO_BYTES:
		return C.GoBytes(C.dfr_bytes_data(v), C.int(C.dfr_bytes_len(v))), nil
	case C.DFRGO_FAILURE:
		return nil, failureFromC(C.dfr_failure_from(v))
	case C.DFRGO_DEFERRED:
		return wrapDeferred(r, C.dfr_deferred_ref(C.dfr_deferred_from(v))), nil
	case C.DFRGO_LIST:
		l := C.dfr_list_from(v)
		n := int(C.dfr_list_len(l))
		out := make(Entries, n)
		for i := 0; i < n; i++ {
			e := C.dfr_list_get(l, C.size_t(i))
			val, err := peekGo(r, e)
			out[i] = Entry{OK: bool(C.dfr_list_ok(l, C.size_t(i))), Value: val, Err: err}
		}
		return out, nil
	case C.DFRGO_PTR:
		return Ptr(ptrOf(v)), nil
	case C.DFRGO_GO:
		return goValueOf(v), nil
	default:
		return nil, fmt.Errorf("%w: a C value of type %q", ErrWrongType, C.GoString(v._type.name))
	}
}

// convert gives v as a T: the value itself when it is a T; int64 to any
// integer type, float64 to float32, bytes to string, a list to []any (all
// entries must have succeeded), none to T's zero value when T can be nil.
func convert[T any](v any) (T, error) {
	var zero T
	if t, ok := v.(T); ok {
		return t, nil
	}
	rt := reflect.TypeOf((*T)(nil)).Elem()
	if v == nil {
		switch rt.Kind() {
		case reflect.Interface, reflect.Pointer, reflect.Slice, reflect.Map, reflect.Func, reflect.Chan:
			return zero, nil
		}
		return zero, fmt.Errorf("%w: got none, want %v", ErrWrongType, rt)
	}
	switch x := v.(type) {
	case []byte:
		if rt.Kind() == reflect.String {
			return reflect.ValueOf(string(x)).Convert(rt).Interface().(T), nil
		}
	case int64:
		switch rt.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint, reflect.Uint8,
			reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr, reflect.Int64:
			rv := reflect.ValueOf(x).Convert(rt)
			if rv.Convert(reflect.TypeOf(x)).Int() == x {
				return rv.Interface().(T), nil
			}
			return zero, fmt.Errorf("%w: %d overflows %v", ErrWrongType, x, rt)
		}
	case float64:
		if rt.Kind() == reflect.Float32 {
			return reflect.ValueOf(x).Convert(rt).Interface().(T), nil
		}
	case Entries:
		if rt == reflect.TypeOf([]any(nil)) {
			out := make([]any, len(x))
			for i, e := range x {
				if !e.OK {
					return zero, e.Err
				}
				out[i] = e.Value
			}
			return any(out).(T), nil
		}
	}
	return zero, fmt.Errorf("%w: got %T, want %v", ErrWrongType, v, rt)
}
