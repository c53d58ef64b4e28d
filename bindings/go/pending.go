package deferred

// #include "shim.h"
import "C"

import "unsafe"

// Callbacks added to a deferred C has not seen yet (made by NewDeferred,
// never passed to C) wait in d.pend and reach C in one call with the next
// operation on d: C cannot run a chain it cannot reach, so nothing can tell
// the difference, and "make, add callbacks, fire" costs one call into C.
// Only young deferreds (lifecycle.go) buffer: guarding one flushes it, so
// the garbage collector's cleanup never meets a pending callback.

// A pending entry is a slot with which of callback/errback it has.
const (
	slotCb  = 1 << 31
	slotEb  = 1 << 30
	slotIdx = slotEb - 1
)

// privacy says who can fire a deferred whose callbacks may wait in Go.
type privacy uint8

const (
	public   privacy = iota // C may reach it: callbacks go to C at once
	privSole                // made by NewDeferred, only its wrapper refers to it
	privTask                // DeferToThread's: the pool's delivery fires it too
)

// expose gives the pending callbacks to C; d is no longer private.
func (d *Deferred) expose() {
	d.private = public
	if d.npend == 0 {
		return
	}
	n, a, b, more := d.takePending()
	_ = C.dfrgo_add(cPtr(unsafe.Pointer(d.c)), cPtr(unsafe.Pointer(d.r.slab.c)), n, a, b, more)
}

// fire gives the pending callbacks to C and fires d with v, in one call.
func (d *Deferred) fire(v C.dfr_value) error {
	d.private = public
	n, a, b, more := d.takePending()
	dp, sp := cPtr(unsafe.Pointer(d.c)), cPtr(unsafe.Pointer(d.r.slab.c))
	if more == nil { // the common case: no pointer for cgo to check
		return codeErr(C.dfrgo_fire2(dp, sp, n, a, b, cPtr(unsafe.Pointer(v._type)), C.uint64_t(i64Bits(&v))))
	}
	return codeErr(C.dfrgo_fire(dp, sp, n, a, b, more, v))
}

// takePending empties d's pending slots, as dfrgo_add takes them.
func (d *Deferred) takePending() (n C.size_t, a, b C.uint32_t, more *C.uint32_t) {
	n, a, b = C.size_t(d.npend), C.uint32_t(d.pendBuf[0]), C.uint32_t(d.pendBuf[1])
	if d.npend > 2 {
		more = (*C.uint32_t)(&(*d.pendMore)[0])
	}
	d.npend = 0
	d.pendMore = nil
	return
}

func (d *Deferred) addPending(slot uint32) {
	if d.npend < 2 {
		d.pendBuf[d.npend] = slot
	} else {
		if d.pendMore == nil {
			d.pendMore = new([]uint32)
		}
		*d.pendMore = append(*d.pendMore, slot)
	}
	d.npend++
}

// dropPending gives back pending slots that will never reach C (reactor
// goroutine).
func (d *Deferred) dropPending() {
	if d.npend == 0 {
		return
	}
	s := d.r.slab
	for i := int32(0); i < d.npend; i++ {
		slot := d.pendBuf[min(i, 1)]
		if i >= 2 {
			slot = (*d.pendMore)[i-2]
		}
		s.drop(C.uint32_t(slot & slotIdx))
	}
	d.npend = 0
	d.pendMore = nil
}

// drop gives back a slot that never reached C.
func (s *goSlab) drop(idx C.uint32_t) {
	c := s.c
	*s.fn(idx) = chainFns{}
	unsafe.Slice(c.free, c.cap)[c.nfree] = idx
	c.nfree++
	c.live--
}
