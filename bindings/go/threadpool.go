package deferred

// #include "shim.h"
import "C"

import (
	"sync"
)

// goPool runs DeferToThread's functions on worker goroutines, at most
// Options.ThreadPoolMax of them (10 by default, as the reactor's C pool and
// Twisted's): a goroutine per call costs more than the call (creation,
// scheduling, exit), and a pool bounds the work in flight as Twisted's
// deferToThread does.  Results go back in batches: one Call wakes the reactor
// for all the results that arrived meanwhile, and one call into C fires them
// all.  Each task holds its own reference to its C deferred (made with it), so
// the wrapper may be released or collected before the result comes.
type goPool struct {
	r   *Reactor
	max int

	mu      sync.Mutex
	wake    sync.Cond
	queue   []poolTask
	head    int
	idle    int // workers waiting in wake (not yet signalled)
	workers int
	closed  bool

	dmu    sync.Mutex
	done   []poolDone
	spare  []poolDone // the other buffer (swapped with done by deliver)
	posted bool

	// deliver's buffers (reactor goroutine)
	ds []*C.dfr_deferred
	vs []C.dfr_value
}

type poolTask struct {
	c  *C.dfr_deferred // the task's reference
	fn func() (any, error)
}

type poolDone struct {
	c   *C.dfr_deferred
	v   any
	err error
}

func newGoPool(r *Reactor, max int) *goPool {
	p := &goPool{r: r, max: max}
	p.wake.L = &p.mu
	return p
}

// submit queues a task (reactor goroutine).
func (p *goPool) submit(t poolTask) {
	p.mu.Lock()
	p.queue = append(p.queue, t)
	spawn := false
	if p.idle > 0 {
		p.idle--
		p.wake.Signal()
	} else if p.workers < p.max {
		p.workers++
		spawn = true
	}
	p.mu.Unlock()
	if spawn {
		go p.work()
	}
}

func (p *goPool) work() {
	p.mu.Lock()
	for {
		for p.head == len(p.queue) {
			if p.closed {
				p.workers--
				p.mu.Unlock()
				return
			}
			p.idle++
			p.wake.Wait() // whoever signals takes us off idle
		}
		t := p.queue[p.head]
		p.queue[p.head] = poolTask{}
		if p.head++; p.head == len(p.queue) {
			p.queue, p.head = p.queue[:0], 0
		}
		p.mu.Unlock()
		v, err := runTask(t.fn)
		p.complete(poolDone{t.c, v, err})
		p.mu.Lock()
	}
}

func runTask(fn func() (any, error)) (v any, err error) {
	defer func() {
		if x := recover(); x != nil {
			v, err = nil, panicError(x)
		}
	}()
	return fn()
}

// complete queues a result; the first of a batch wakes the reactor.
func (p *goPool) complete(d poolDone) {
	p.dmu.Lock()
	p.done = append(p.done, d)
	post := !p.posted
	p.posted = true
	p.dmu.Unlock()
	if post && p.r.Call(p.deliver) != nil {
		p.deliver() // reactor freed: nothing fires, the references go
	}
}

// deliver fires the deferreds of the results queued so far, in one call into
// C, and drops the tasks' references (reactor goroutine, or anywhere once
// the reactor is freed).
func (p *goPool) deliver() {
	fire := p.r.InThread() && p.r.c != nil
	p.dmu.Lock()
	batch := p.done
	if fire { // reuse the buffers (only the reactor goroutine swaps them)
		p.done, p.spare = p.spare[:0], batch
	} else {
		p.done = nil
	}
	p.posted = false
	p.dmu.Unlock()
	if len(batch) == 0 {
		return
	}
	ds, vs := make([]*C.dfr_deferred, len(batch)), make([]C.dfr_value, len(batch))
	if fire {
		p.ds, p.vs = growTo(p.ds, len(batch)), growTo(p.vs, len(batch))
		ds, vs = p.ds, p.vs
	}
	for i, d := range batch {
		ds[i] = d.c
		if !fire {
			continue
		}
		if d.err != nil {
			vs[i] = C.dfrgo_value_failure(failureToC(d.err))
		} else {
			vs[i] = toC(d.v)
		}
	}
	C.dfrgo_fire_many(&ds[0], &vs[0], C.size_t(len(batch)), boolInt(fire))
	clear(batch) // the values go
	drainReleases()
}

// growTo gives s with length n, zeroed, reusing its array when large enough.
func growTo[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// close lets the workers end once the queue is empty (reactor freed).
func (p *goPool) close() {
	p.mu.Lock()
	p.closed = true
	p.wake.Broadcast()
	p.idle = 0
	p.mu.Unlock()
}
