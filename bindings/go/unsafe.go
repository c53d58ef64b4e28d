package deferred

// #include <stdint.h>
import "C"

import "unsafe"

const unsafePtrSize = unsafe.Sizeof(uintptr(0))

func unsafePointer[T any](p *T) unsafe.Pointer { return unsafe.Pointer(p) }

// cPtr passes a C pointer to the shim as an integer (no cgo pointer check:
// it is never a Go pointer).
func cPtr(p unsafe.Pointer) C.uintptr_t { return C.uintptr_t(uintptr(p)) }
