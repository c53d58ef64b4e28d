package deferred

// #include "shim.h"
import "C"

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// goPool runs DeferToThread's functions on worker goroutines, at most
// Options.ThreadPoolMax of them (10 by default, as the reactor's C pool and
// Twisted's): a goroutine per call costs more than the call (creation,
// scheduling, exit), and a pool bounds the work in flight as Twisted's
// deferToThread does.  As in Twisted's pool, a worker runs one task at a
// time and each task waiting gets a worker of its own while fewer than the
// maximum run: a task that blocks holds back no other.
//
// Waking a sleeping goroutine goes through the scheduler and often the
// kernel; paid per task by the reactor's goroutine, it would cost more than
// the rest of DeferToThread.  So a worker that finds the queue empty watches
// it for a while (spin) before it sleeps, and the reactor wakes a worker at
// once only when none is awake.  When all the awake ones are busy, it arms
// the kick instead: kickAfter later, a worker is woken for each task still
// waiting.  A burst of short tasks is then run by the workers already awake,
// and a task queued behind long ones starts within kickAfter.
//
// Results go back in batches: one Call wakes the reactor for all the
// results that arrived meanwhile, and one call into C fires them all.  Each
// task holds its own reference to its C deferred (made with it), so the
// wrapper may be released or collected before the result comes.
type goPool struct {
	r   *Reactor
	max int

	// Read by submit on each task, written rarely: apart from the rest.
	queue *taskq      // pushed by the reactor's goroutine alone
	armed atomic.Bool // kick is set to run
	awake atomic.Int32
	_     [cacheLine]byte

	take     sync.Mutex   // the workers', to pop
	spinning atomic.Int32 // 1 while a worker watches the queue (at most one)
	busy     atomic.Int32 // workers running a task
	_        [cacheLine]byte

	mu      sync.Mutex // the workers' count and sleep
	wake    sync.Cond
	idle    int // workers waiting in wake (not yet signalled)
	workers int // idle + awake
	closed  atomic.Bool
	kick    *time.Timer

	freed  atomic.Bool // the reactor was freed: results only drop references
	dmu    sync.Mutex
	done   fifo[poolDone]
	posted bool

	// deliver's buffer (reactor goroutine), in C memory: cgo checks every
	// element of a Go slice passed to C, up to its capacity, on each call.
	fs    *C.dfrgo_result
	fsCap int
}

// cacheLine keeps fields that different goroutines write apart.
const cacheLine = 64

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

const (
	// spinFor: how long a worker that emptied the queue watches it before
	// it sleeps; a burst of submissions comes far faster.
	spinFor = 20 * time.Microsecond
	// kickAfter: how long a task may wait for a busy worker before one is
	// woken for it; starting an OS thread in Twisted's pool takes as long.
	kickAfter = 50 * time.Microsecond
)

func newGoPool(r *Reactor, max int) *goPool {
	p := &goPool{r: r, max: max, queue: newTaskq()}
	p.wake.L = &p.mu
	p.kick = time.AfterFunc(time.Hour, p.kickNow)
	p.kick.Stop()
	return p
}

// submit queues a task (reactor goroutine).  When no worker is awake, it
// wakes one; otherwise an awake one or the kick comes for the task, and
// submit only arms the kick (once per kickAfter).  Submit and a worker going
// to sleep each publish first and look second (sequentially consistent
// atomics): the worker sees the task, or submit sees that nobody is awake.
// The fields read here change rarely, so a burst touches no cache line the
// workers write, but the queue's.
func (p *goPool) submit(t poolTask) {
	p.queue.push(t)
	if p.awake.Load() == 0 {
		p.mu.Lock()
		spawn := p.awake.Load() == 0 && p.wakeOne()
		p.mu.Unlock()
		if spawn {
			go p.work()
		}
	}
	if !p.armed.Load() && p.armed.CompareAndSwap(false, true) {
		p.kick.Reset(kickAfter)
	}
}

// wakeOne (p.mu held) signals an idle worker, or reports that one should be
// started (counted already), or neither at the maximum.
func (p *goPool) wakeOne() (spawn bool) {
	if p.idle > 0 {
		p.idle--
		p.awake.Add(1)
		p.wake.Signal()
		return false
	}
	if p.workers < p.max {
		p.workers++
		p.awake.Add(1)
		return true
	}
	return false
}

// kickNow wakes a worker for each task that the awake workers not running
// one will not take (the timer's goroutine).
func (p *goPool) kickNow() {
	p.armed.Store(false)
	p.mu.Lock()
	spawns := 0
	if !p.closed.Load() {
		free := int(p.awake.Load() - p.busy.Load()) // awake, not running one
		p.take.Lock()
		n := p.queue.waiting(p.max+free) - free
		p.take.Unlock()
		for ; n > 0 && (p.idle > 0 || p.workers < p.max); n-- {
			if p.wakeOne() {
				spawns++
			}
		}
	}
	p.mu.Unlock()
	for ; spawns > 0; spawns-- {
		go p.work()
	}
}

// work takes tasks, one at a time, until the pool closes.
func (p *goPool) work() {
	var t poolTask
	exited := true // until the function returns: a task called runtime.Goexit
	defer func() {
		if !exited {
			return
		}
		// Goexit (t.FailNow, say) cannot be stopped: the task fails with
		// errGoexit, and a new worker takes this one's place.
		p.busy.Add(-1)
		p.complete(poolDone{t.d, nil, errGoexit})
		go p.work()
	}()
	for {
		var ok bool
		p.take.Lock()
		t, ok = p.queue.pop()
		p.take.Unlock()
		if !ok {
			if !p.spin() && p.sleep() {
				exited = false
				return
			}
			continue
		}
		p.busy.Add(1)
		v, err := runTask(t.fn)
		p.busy.Add(-1)
		p.complete(poolDone{t.d, v, err})
		t = poolTask{}
	}
}

// spin lets one worker at a time watch the queue for up to spinFor,
// yielding to other goroutines meanwhile; it reports whether a task came.
func (p *goPool) spin() bool {
	if !p.spinning.CompareAndSwap(0, 1) {
		return false
	}
	start, seed := time.Now(), uint32(1)
	for i := 1; !p.hasTask(); i++ {
		if i%16 == 0 {
			if time.Since(start) > spinFor || p.closed.Load() {
				break
			}
			runtime.Gosched()
		} else {
			seed = pause(seed)
		}
	}
	p.spinning.Store(0)
	return p.hasTask() // looked at after the store: see submit
}

// hasTask reports whether a task waits (takes the consumers' lock).
func (p *goPool) hasTask() bool {
	p.take.Lock()
	ok := p.queue.waiting(1) > 0
	p.take.Unlock()
	return ok
}

// pause waits a little without touching memory another goroutine writes:
// a watcher reading the queue's count at full speed would take its cache
// line from the reactor's goroutine at each task.
//
//go:noinline
func pause(x uint32) uint32 {
	for i := 0; i < 64; i++ {
		x = x*1664525 + 1013904223
	}
	return x
}

// sleep waits to be woken (or returns at once when a task waits); it
// reports whether the pool closed, the worker then counted out.
func (p *goPool) sleep() (closed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.awake.Add(-1)
	if p.closed.Load() {
		p.workers--
		return true
	}
	if p.hasTask() { // looked at after the count: see submit
		p.awake.Add(1)
		return false
	}
	p.idle++
	p.wake.Wait() // whoever signals takes us off idle, and counts us awake
	return false
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
func (p *goPool) complete(d poolDone) {
	p.dmu.Lock()
	p.done.push(d)
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
		f := &fs[i] // every field set: the buffer is not cleared
		i++
		f.d, f.n = d.d.c, 0
		if !fire {
			f.v = C.dfr_value{}
			return
		}
		if w := d.d; w.private == privTask {
			// Callbacks added meanwhile go to C with the result (even when
			// another goroutine released w: then they wait here).
			n, a, b := w.publish()
			f.n, f.a, f.b = C.uint32_t(n), a, b
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

// buffer gives deliver's buffer for n results (as left by the last use).
func (p *goPool) buffer(n int) []C.dfrgo_result {
	if n > p.fsCap {
		c := max(n, 2*p.fsCap, 64)
		fs := (*C.dfrgo_result)(C.realloc(unsafe.Pointer(p.fs), C.size_t(c)*C.size_t(unsafe.Sizeof(*p.fs))))
		if fs == nil {
			return make([]C.dfrgo_result, n) // Go memory: slower for cgo, still right
		}
		p.fs, p.fsCap = fs, c
	}
	return unsafe.Slice(p.fs, n)
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
	p.closed.Store(true)
	p.kick.Stop()
	p.wake.Broadcast()
	p.awake.Add(int32(p.idle))
	p.idle = 0
	p.mu.Unlock()
}
