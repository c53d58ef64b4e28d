package deferred

import "sync/atomic"

// taskq is the thread pool's queue of tasks: one producer (the reactor's
// goroutine) pushes without a lock, consumers pop one at a time, holding a
// lock of their own (so the reactor never waits for a worker, nor a worker
// for the reactor).  Tasks are kept in chunks linked in order; an emptied
// chunk is kept for the producer's next one.
type taskq struct {
	tail   *taskChunk // producer's
	tpos   int
	pushed atomic.Int64 // written by the producer only
	_      [40]byte
	head   *taskChunk // consumers' (under their lock)
	hpos   int
	seen   int64        // pushed, as last read by a consumer
	popped atomic.Int64 // written by the consumers only
	_      [32]byte
	spare  atomic.Pointer[taskChunk]
}

const taskChunkLen = 256

type taskChunk struct {
	slots [taskChunkLen]poolTask
	next  atomic.Pointer[taskChunk]
}

func newTaskq() *taskq {
	c := new(taskChunk)
	return &taskq{tail: c, head: c}
}

// len is the number of tasks pushed and not yet popped (any goroutine).
func (q *taskq) len() int { return int(q.pushed.Load() - q.popped.Load()) }

// push appends t (the producer).  A consumer sees it once pushed counts it.
func (q *taskq) push(t poolTask) {
	if q.tpos == taskChunkLen {
		c := q.spare.Swap(nil)
		if c == nil {
			c = new(taskChunk)
		}
		q.tail.next.Store(c)
		q.tail, q.tpos = c, 0
	}
	q.tail.slots[q.tpos] = t
	q.tpos++
	q.pushed.Add(1)
}

// pop takes the oldest task (a consumer, holding the consumers' lock).
func (q *taskq) pop() (poolTask, bool) {
	if q.popped.Load() == q.seen {
		if q.seen = q.pushed.Load(); q.popped.Load() == q.seen {
			return poolTask{}, false
		}
	}
	if q.hpos == taskChunkLen {
		done := q.head
		q.head, q.hpos = done.next.Load(), 0
		done.next.Store(nil)
		q.spare.Store(done) // its slots are clear
	}
	t := q.head.slots[q.hpos]
	q.head.slots[q.hpos] = poolTask{} // the collector may take it
	q.hpos++
	q.popped.Add(1)
	return t, true
}
