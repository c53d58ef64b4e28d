package deferred

// #include "shim.h"
import "C"

import "math"

// Lock is a DeferredLock on a reactor's goroutine.
type Lock struct {
	r *Reactor
	c *C.dfr_lock
}

// NewLock makes a lock; Free it.
func (r *Reactor) NewLock() *Lock {
	r.live()
	c := C.dfr_lock_new()
	if c == nil {
		panic(ErrNoMemory)
	}
	return &Lock{r: r, c: c}
}

// Acquire gives a deferred firing with l once the lock is held (Twisted's
// fires with the lock).
func (l *Lock) Acquire() (*Deferred, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	return firesWith(l.r, C.dfr_lock_acquire(l.c), l)
}

// firesWith wraps c, a deferred C fires with its object's pointer, so that it
// fires with the Go handle v instead.
func firesWith(r *Reactor, c *C.dfr_deferred, v any) (*Deferred, error) {
	d, err := r.newDeferredOrErr(c)
	if err != nil {
		return nil, err
	}
	if err := d.AddCallback(func(any) (any, error) { return v, nil }); err != nil {
		d.Release()
		return nil, err
	}
	return d, nil
}

// Release hands the lock to the first waiter or unlocks; ErrInvalid when not
// locked.
func (l *Lock) Release() error {
	if err := l.check(); err != nil {
		return err
	}
	return codeErr(C.dfr_lock_release(l.c))
}

// Locked reports whether the lock is held.
func (l *Lock) Locked() bool { l.reactor().own(); return bool(C.dfr_lock_locked(l.c)) }

// Waiting is the number of acquires waiting.
func (l *Lock) Waiting() int { l.reactor().own(); return int(C.dfr_lock_waiting(l.c)) }

// Run acquires, calls fn (a *Deferred result holds the lock until it fires),
// releases, and fires with fn's result.
func (l *Lock) Run(fn func() (any, error)) (*Deferred, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	if fn == nil {
		return nil, ErrInvalid
	}
	return l.r.newDeferredOrErr(C.dfrgo_lock_run(l.c, newHandle(taskFn{l.r, fn})))
}

// Free frees the lock; waiters fail with ErrCancelled.
func (l *Lock) Free() {
	if l == nil {
		return
	}
	l.reactor().own()
	if l.c != nil {
		C.dfr_lock_free(l.c)
		l.c = nil
	}
}

// Semaphore is a DeferredSemaphore.
type Semaphore struct {
	r *Reactor
	c *C.dfr_semaphore
}

// NewSemaphore makes a semaphore of tokens (> 0) tokens; Free it.
func (r *Reactor) NewSemaphore(tokens uint) (*Semaphore, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	if tokens > math.MaxUint32 {
		return nil, ErrInvalid // C's count is unsigned: it would wrap
	}
	c := C.dfr_semaphore_new(C.unsigned(tokens))
	if c == nil {
		return nil, ErrInvalid
	}
	return &Semaphore{r: r, c: c}, nil
}

// Acquire gives a deferred firing with s once a token is taken.
func (s *Semaphore) Acquire() (*Deferred, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return firesWith(s.r, C.dfr_semaphore_acquire(s.c), s)
}

// Release gives a token back (or to the first waiter).
func (s *Semaphore) Release() error {
	if err := s.check(); err != nil {
		return err
	}
	return codeErr(C.dfr_semaphore_release(s.c))
}

// Tokens free now.
func (s *Semaphore) Tokens() int { s.reactor().own(); return int(C.dfr_semaphore_tokens(s.c)) }

// Waiting is the number of acquires waiting.
func (s *Semaphore) Waiting() int { s.reactor().own(); return int(C.dfr_semaphore_waiting(s.c)) }

// Run is Lock.Run with a token.
func (s *Semaphore) Run(fn func() (any, error)) (*Deferred, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if fn == nil {
		return nil, ErrInvalid
	}
	return s.r.newDeferredOrErr(C.dfrgo_semaphore_run(s.c, newHandle(taskFn{s.r, fn})))
}

// Free frees the semaphore; waiters fail with ErrCancelled.
func (s *Semaphore) Free() {
	if s == nil {
		return
	}
	s.reactor().own()
	if s.c != nil {
		C.dfr_semaphore_free(s.c)
		s.c = nil
	}
}

// Unlimited: no limit for NewQueue's size or backlog.
const Unlimited = -1

// Queue is a DeferredQueue.
type Queue struct {
	r *Reactor
	c *C.dfr_queue
}

func queueLimit(n int) C.size_t {
	if n < 0 {
		return C.DFR_UNLIMITED
	}
	return C.size_t(n)
}

// NewQueue makes a queue holding at most size values and backlog waiting
// gets (Unlimited: no limit); Free it.
func (r *Reactor) NewQueue(size, backlog int) *Queue {
	r.live()
	c := C.dfr_queue_new(queueLimit(size), queueLimit(backlog))
	if c == nil {
		panic(ErrNoMemory)
	}
	return &Queue{r: r, c: c}
}

// Put gives v to the oldest waiting Get or keeps it; ErrOverflow when full.
func (q *Queue) Put(v any) error {
	if err := q.check(); err != nil {
		return err
	}
	if _, ok := v.(*Deferred); ok {
		return ErrInvalid
	}
	return codeErr(C.dfr_queue_put(q.c, toC(v)))
}

// Get gives a deferred firing with the oldest value (failing with
// ErrUnderflow when the backlog is full).
func (q *Queue) Get() (*Deferred, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	return q.r.newDeferredOrErr(C.dfr_queue_get(q.c))
}

// Pending is the number of values kept.
func (q *Queue) Pending() int { q.reactor().own(); return int(C.dfr_queue_pending(q.c)) }

// Waiting is the number of gets waiting.
func (q *Queue) Waiting() int { q.reactor().own(); return int(C.dfr_queue_waiting(q.c)) }

// Free frees the queue (kept values dropped, waiters fail with ErrCancelled).
func (q *Queue) Free() {
	if q == nil {
		return
	}
	q.reactor().own()
	if q.c != nil {
		C.dfr_queue_free(q.c)
		q.c = nil
	}
}
