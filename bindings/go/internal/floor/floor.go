// Package floor measures the least a binding call can cost: one Go->C call
// that makes one C->Go callback, both no-ops (the benchmarks' "cgo-floor").
package floor

/*
#include "floor.h"
*/
import "C"

//export floorNoop
func floorNoop() {}

// Call crosses into C and back into Go once.
func Call() { C.floor_call() }
