package deferred

// #include "shim.h"
import "C"

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// goSlab is the Go half of a reactor's slab of callbacks (slab.c): the
// functions of each slot.  Only the reactor's goroutine touches it, so there
// is no lock and no cgo.Handle per callback: a slot is an index.
type goSlab struct {
	c        *C.dfrgo_slab
	r        *Reactor
	fns      []*[slabBlock]chainFns // by slot, in blocks (growing copies nothing)
	id       uint32
	orphaned bool // under slabsMu: C frees c with the last release
}

// chainFns is one callback/errback pair of a chain.
type chainFns struct {
	cb func(any) (any, error)
	eb func(error) (any, error)
}

// The slabs by id, for goCallback (read without a lock: copy on write).
var (
	slabsMu  sync.Mutex
	slabs    atomic.Pointer[[]*goSlab]
	slabFree []uint32 // ids of slabs C has freed, for reuse
)

func newSlab(r *Reactor) *goSlab {
	slabsMu.Lock()
	defer slabsMu.Unlock()
	var next []*goSlab
	if p := slabs.Load(); p != nil {
		next = append(next, *p...) // copy on write: goCallback reads without a lock
	}
	var dead [64]C.uint32_t
	for { // orphaned slabs freed since by their last release: ids come back
		n := int(C.dfrgo_take_dead_slabs(&dead[0], C.size_t(len(dead))))
		for _, id := range dead[:n] {
			next[id] = nil
			slabFree = append(slabFree, uint32(id))
		}
		if n < len(dead) {
			break
		}
	}
	s := &goSlab{r: r}
	var id uint32
	defer func() { s.id = id }()
	if n := len(slabFree); n > 0 {
		id = slabFree[n-1]
		slabFree = slabFree[:n-1]
		next[id] = s
	} else {
		id = uint32(len(next))
		next = append(next, s)
	}
	s.c = C.dfrgo_slab_new(r.c, r.tid, C.uint32_t(id))
	if s.c == nil {
		next[id] = nil
		slabFree = append(slabFree, id)
		slabs.Store(&next)
		return nil
	}
	slabs.Store(&next)
	return s
}

// orphan hands the slab over to the releases still to come (reactor freed);
// its id is reused once C freed it at once.  Slots still live keep their Go
// functions until the process ends (a deferred with pending Go callbacks
// outlived its reactor; they can no longer run on it).
func (s *goSlab) orphan() {
	s.clearZombies()
	freed := C.dfrgo_slab_orphan(s.c) != 0
	slabsMu.Lock()
	defer slabsMu.Unlock()
	s.orphaned = true
	if !freed {
		return
	}
	next := append([]*goSlab(nil), *slabs.Load()...)
	next[s.id] = nil
	slabFree = append(slabFree, s.id)
	slabs.Store(&next)
}

// slabBlock is slab.c's BLOCK.
const slabBlock = 1024

// fn is slot idx's functions.
func (s *goSlab) fn(idx C.uint32_t) *chainFns { return &s.fns[idx/slabBlock][idx%slabBlock] }

// put stores f in a free slot (reactor goroutine only).  The fast path pops
// the free stack in place; it is small enough to inline.
func (s *goSlab) put(f chainFns) (C.uint32_t, error) {
	c := s.c
	if c.nzombie != 0 || c.nfree == 0 {
		return s.putSlow(f)
	}
	c.nfree--
	idx := *(*C.uint32_t)(unsafe.Add(unsafe.Pointer(c.free), uintptr(c.nfree)*4))
	c.live++
	*s.fn(idx) = f
	return idx, nil
}

// putSlow is put when slots wait to be cleared or none is free.
//
//go:noinline
func (s *goSlab) putSlow(f chainFns) (C.uint32_t, error) {
	c := s.c
	s.clearZombies()
	if c.nfree == 0 {
		if err := codeErr(C.dfrgo_slab_refill(c)); err != nil {
			return 0, err
		}
		for len(s.fns)*slabBlock < int(c.cap) {
			s.fns = append(s.fns, new([slabBlock]chainFns))
		}
		s.clearZombies()
	}
	c.nfree--
	idx := unsafe.Slice(c.free, c.cap)[c.nfree]
	c.live++
	*s.fn(idx) = f
	return idx, nil
}

// clearZombies drops the functions of slots released without running and
// frees the slots.
func (s *goSlab) clearZombies() {
	c := s.c
	if c.nzombie == 0 {
		return
	}
	free := unsafe.Slice(c.free, c.cap)
	for _, idx := range unsafe.Slice(c.zombie, c.cap)[:c.nzombie] {
		*s.fn(idx) = chainFns{}
		free[c.nfree] = idx
		c.nfree++
	}
	c.nzombie = 0
}

// liveRefs counts the Go functions and values C holds: cgo.Handles and
// callback slots (tests check it returns to zero).  Any goroutine.
// Reactors owned by the caller first settle (drop their queued references
// and what other goroutines released).
func liveRefs() int64 {
	for _, r := range reactors() {
		if r.InThread() && r.c != nil {
			r.settle()
		}
	}
	n := liveHandles.Load() + int64(C.dfrgo_slab_live(nil))
	slabsMu.Lock()
	defer slabsMu.Unlock()
	if p := slabs.Load(); p != nil {
		for _, s := range *p {
			if s != nil && !s.orphaned {
				n += int64(C.dfrgo_slab_live(s.c))
			}
		}
	}
	return n
}

// reactors lists the reactors not yet freed.
func reactors() []*Reactor {
	slabsMu.Lock()
	defer slabsMu.Unlock()
	var out []*Reactor
	if p := slabs.Load(); p != nil {
		for _, s := range *p {
			if s != nil && !s.orphaned {
				out = append(out, s.r)
			}
		}
	}
	return out
}
