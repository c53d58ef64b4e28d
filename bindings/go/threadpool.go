package deferred

// #include "shim.h"
import "C"

import (
	"sync"
	"sync/atomic"
	"unsafe"
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
	queue   fifo[poolTask]
	idle    int // workers waiting in wake (not yet signalled)
	workers int
	closed  bool

	freed  atomic.Bool // the reactor was freed: results only drop references
	dmu    sync.Mutex
	done   fifo[poolDone]
	posted bool

	// deliver's buffer (reactor goroutine), in C memory: cgo checks every
	// element of a Go slice passed to C, up to its capacity, on each call.
	fs    *C.dfrgo_result
	fsCap int
}

// The task's reference to its C deferred is d.c (fixed once wrapped).
type poolTask struct {
	d  *Deferred // its callbacks may still wait in Go (pending.go)
	fn runner
}

// runner is a task's function; taskFunc[T] is one without an allocation (a
// func value fits in an interface as is).
type runner interface{ run() (any, error) }

type taskFunc[T any] func() (T, error)

func (f taskFunc[T]) run() (any, error) { return f() }

type poolDone struct {
	d   *Deferred
	v   any
	err error
}

// A worker takes up to takeMax tasks at once when many wait (fewer locks),
// one when few do (a task that blocks holds back no other).
const takeMax = 8

func newGoPool(r *Reactor, max int) *goPool {
	p := &goPool{r: r, max: max}
	p.wake.L = &p.mu
	return p
}

// submit queues a task (reactor goroutine).
func (p *goPool) submit(t poolTask) {
	p.mu.Lock()
	p.queue.push(t)
	// Wake (or start) a worker only when the awake ones may not keep up: a
	// wake-up costs more than a short task.
	spawn := false
	if awake := p.workers - p.idle; awake == 0 || p.queue.len() > awake*takeMax {
		if p.idle > 0 {
			p.idle--
			p.wake.Signal()
		} else if p.workers < p.max {
			p.workers++
			spawn = true
		}
	}
	p.mu.Unlock()
	if spawn {
		go p.work()
	}
}

func (p *goPool) work() { p.workFrom(nil) }

// workFrom runs first (tasks a worker ended by runtime.Goexit had taken),
// then takes tasks until the pool closes.
func (p *goPool) workFrom(first []poolTask) {
	var took [takeMax]poolTask
	var done [takeMax]poolDone
	n, i := copy(took[:], first), 0
	exited := true // until the function returns: a task called runtime.Goexit
	defer func() {
		if !exited {
			return
		}
		// Goexit (t.FailNow, say) cannot be stopped: the task fails with
		// errGoexit, the tasks taken after it go to a new worker.
		done[i] = poolDone{took[i].d, nil, errGoexit}
		p.complete(done[:i+1])
		go p.workFrom(append([]poolTask(nil), took[i+1:n]...))
	}()
	p.mu.Lock()
	for {
		if n == 0 {
			for p.queue.len() == 0 {
				if p.closed {
					p.workers--
					p.mu.Unlock()
					exited = false
					return
				}
				p.idle++
				p.wake.Wait() // whoever signals takes us off idle
			}
			n = p.queue.pop(took[:min(takeMax, (p.queue.len()+p.workers-1)/p.workers)])
		}
		p.mu.Unlock()
		for i = 0; i < n; i++ {
			v, err := runTask(took[i].fn)
			done[i] = poolDone{took[i].d, v, err}
		}
		clear(took[:n])
		p.complete(done[:n])
		clear(done[:n])
		n, i = 0, 0
		p.mu.Lock()
	}
}

func runTask(fn runner) (v any, err error) {
	defer func() {
		if x := recover(); x != nil {
			v, err = nil, panicError(x)
		}
	}()
	return fn.run()
}

// complete queues results; the first of a batch wakes the reactor.
func (p *goPool) complete(ds []poolDone) {
	p.dmu.Lock()
	for _, d := range ds {
		p.done.push(d)
	}
	post := !p.posted
	p.posted = true
	p.dmu.Unlock()
	if p.freed.Load() || (post && p.r.Call(p.deliver) != nil) {
		p.deliver() // reactor freed: nothing fires, the references go
	}
}

// deliver fires the deferreds of the results queued so far, in one call into
// C, and drops the tasks' references (reactor goroutine, or anywhere once
// the reactor is freed).
func (p *goPool) deliver() {
	fire := p.r.InThread() && p.r.c != nil
	p.dmu.Lock()
	batch := p.done.take()
	p.posted = false
	p.dmu.Unlock()
	if batch.len() == 0 {
		return
	}
	var fs []C.dfrgo_result
	if fire {
		fs = p.buffer(batch.len())
	} else {
		fs = make([]C.dfrgo_result, batch.len())
	}
	i := 0
	batch.each(func(d *poolDone) {
		f := &fs[i]
		i++
		f.d = d.d.c
		if !fire {
			return
		}
		if w := d.d; w.private == privTask {
			// Callbacks added meanwhile go to C with the result (even when
			// another goroutine released w: then they wait here).
			if w.npend > 2 {
				w.expose()
			}
			w.private = public
			if w.npend > 0 {
				n, a, b, _ := w.takePending()
				f.n, f.a, f.b = C.uint32_t(n), a, b
			}
		}
		if d.err != nil {
			f.v = C.dfrgo_value_failure(failureToC(d.err))
		} else {
			f.v = toC(d.v)
		}
	})
	C.dfrgo_fire_many(&fs[0], C.size_t(len(fs)), cPtr(unsafe.Pointer(p.r.slab.c)), boolInt(fire))
	p.dmu.Lock()
	p.done.giveBack(&batch)
	p.dmu.Unlock()
	drainReleases()
}

// buffer gives deliver's buffer for n results, zeroed.
func (p *goPool) buffer(n int) []C.dfrgo_result {
	if n > p.fsCap {
		c := max(n, 2*p.fsCap, 64)
		fs := (*C.dfrgo_result)(C.realloc(unsafe.Pointer(p.fs), C.size_t(c)*C.size_t(unsafe.Sizeof(*p.fs))))
		if fs == nil {
			return make([]C.dfrgo_result, n) // Go memory: slower for cgo, still right
		}
		p.fs, p.fsCap = fs, c
	}
	s := unsafe.Slice(p.fs, n)
	clear(s)
	return s
}

// close lets the workers end once the queue is empty, and drops the
// references of results not delivered (reactor freed; a Call queued for them
// never runs).
func (p *goPool) close() {
	p.freed.Store(true)
	p.deliver()
	C.free(unsafe.Pointer(p.fs))
	p.fs, p.fsCap = nil, 0
	p.mu.Lock()
	p.closed = true
	p.wake.Broadcast()
	p.idle = 0
	p.mu.Unlock()
}
