package deferred

import "sync/atomic"

// taskq is the thread pool's queue of tasks: one producer (the reactor's
// goroutine) pushes without a lock, consumers pop one at a time, holding a
// lock of their own (so the reactor never waits for a worker, nor a worker
// for the reactor).  Tasks are kept in chunks linked in order; an emptied
// chunk is kept for the producer's next one.
//
// Each slot says itself that it holds a task: no count shared by both sides,
// whose cache line would travel between the reactor's core and a waiting
// worker's at every push (the slot's line travels anyway).
type taskq struct {
	tail  *taskChunk // producer's
	tpos  int
	_     [48]byte
	head  *taskChunk // consumers' (under their lock)
	hpos  int
	spare atomic.Pointer[taskChunk]
}

const taskChunkLen = 256

type taskSlot struct {
	t     poolTask
	ready atomic.Bool // t is there: set by the producer, cleared by its consumer
}

type taskChunk struct {
	slots [taskChunkLen]taskSlot
	next  atomic.Pointer[taskChunk]
}

func newTaskq() *taskq {
	c := new(taskChunk)
	return &taskq{tail: c, head: c}
}

// push appends t (the producer).  A consumer sees it once ready is set
// (sequentially consistent: see goPool.submit).
func (q *taskq) push(t poolTask) {
	if q.tpos == taskChunkLen {
		c := q.spare.Swap(nil)
		if c == nil {
			c = new(taskChunk)
		}
		q.tail.next.Store(c)
		q.tail, q.tpos = c, 0
	}
	s := &q.tail.slots[q.tpos]
	s.t = t
	s.ready.Store(true)
	q.tpos++
}

// next is the slot the next pop takes, moving on to the following chunk when
// the head one is used up (consumers' lock held); nil while that chunk is not
// linked yet.
func (q *taskq) next() *taskSlot {
	if q.hpos == taskChunkLen {
		c := q.head.next.Load()
		if c == nil {
			return nil
		}
		done := q.head
		q.head, q.hpos = c, 0
		done.next.Store(nil)
		q.spare.Store(done) // its slots are clear
	}
	return &q.head.slots[q.hpos]
}

// pop takes the oldest task (a consumer, holding the consumers' lock).
func (q *taskq) pop() (poolTask, bool) {
	s := q.next()
	if s == nil || !s.ready.Load() {
		return poolTask{}, false
	}
	t := s.t
	s.t = poolTask{} // the collector may take it
	s.ready.Store(false)
	q.hpos++
	return t, true
}

// waiting counts the tasks pushed and not popped, up to limit (consumers'
// lock held).
func (q *taskq) waiting(limit int) int {
	s := q.next()
	if s == nil || !s.ready.Load() {
		return 0
	}
	n, c, pos := 0, q.head, q.hpos
	for n < limit {
		if pos == taskChunkLen {
			if c = c.next.Load(); c == nil {
				break
			}
			pos = 0
		}
		if !c.slots[pos].ready.Load() {
			break
		}
		n++
		pos++
	}
	return n
}
