package deferred

import "unsafe"

const unsafePtrSize = unsafe.Sizeof(uintptr(0))

func unsafePointer[T any](p *T) unsafe.Pointer { return unsafe.Pointer(p) }
