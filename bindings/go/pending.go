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

// publish makes d public for a caller that hands C up to two pending slots
// with a call of its own (a batch record): more than that go to C now.
func (d *Deferred) publish() (n C.size_t, a, b C.uint32_t) {
	if d.npend == pendMany { // rare: more than a record holds
		d.expose()
		return 0, 0, 0
	}
	d.private = public
	n, a, b, _ = d.takePending()
	return n, a, b
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

// pendMany in npend: the slots are in d.r.pendLists[d.pendBuf[0]], which
// keeps the wrapper small (more than two pending callbacks is rare).
const pendMany = 3

// takePending empties d's pending slots, as dfrgo_add takes them: the first
// two by value, the others through more (which keeps their list alive).
func (d *Deferred) takePending() (n C.size_t, a, b C.uint32_t, more *C.uint32_t) {
	if d.npend != pendMany {
		n, a, b = C.size_t(d.npend), C.uint32_t(d.pendBuf[0]), C.uint32_t(d.pendBuf[1])
		d.npend = 0
		return
	}
	l := d.r.takePendList(d.pendBuf[0])
	d.npend = 0
	return C.size_t(len(l)), C.uint32_t(l[0]), C.uint32_t(l[1]), (*C.uint32_t)(&l[2])
}

func (d *Deferred) addPending(slot uint32) {
	switch d.npend {
	case 0, 1:
		d.pendBuf[d.npend] = slot
		d.npend++
	case 2: // the third: all move to a list
		r := d.r
		l := []uint32{d.pendBuf[0], d.pendBuf[1], slot}
		var i uint32
		if n := len(r.pendFree); n > 0 {
			i = r.pendFree[n-1]
			r.pendFree = r.pendFree[:n-1]
			r.pendLists[i] = l
		} else {
			i = uint32(len(r.pendLists))
			r.pendLists = append(r.pendLists, l)
		}
		d.pendBuf[0], d.npend = i, pendMany
	default:
		l := &d.r.pendLists[d.pendBuf[0]]
		*l = append(*l, slot)
	}
}

// takePendList hands list i over to the caller and frees its index.
func (r *Reactor) takePendList(i uint32) []uint32 {
	l := r.pendLists[i]
	r.pendLists[i] = nil
	r.pendFree = append(r.pendFree, i)
	return l
}

// dropPending gives back pending slots that will never reach C (reactor
// goroutine).
func (d *Deferred) dropPending() {
	if d.npend == 0 {
		return
	}
	n, a, b, more := d.takePending()
	s := d.r.slab
	s.drop(a & slotIdx)
	if n >= 2 {
		s.drop(b & slotIdx)
	}
	if n > 2 {
		for _, slot := range unsafe.Slice(more, n-2) {
			s.drop(slot & slotIdx)
		}
	}
}

// drop gives back a slot that never reached C.
func (s *goSlab) drop(idx C.uint32_t) {
	c := s.c
	*s.fn(idx) = chainFns{}
	unsafe.Slice(c.free, c.cap)[c.nfree] = idx
	c.nfree++
	c.live--
}
