package deferred

// fifo is a queue in fixed-size chunks, emptied whole (take): growing it
// copies nothing (the thread pool's results may be every task in flight).
// Not synchronized.
type fifo[T any] struct {
	chunks [][]T // each of cap fifoChunk
	n      int
	spare  [][]T // emptied chunks, reused (up to fifoSpare)
}

// Emptied chunks kept for reuse: enough for a burst of a hundred thousand
// tasks in flight to recur without allocating (the thread pool's case).
const fifoSpare = 512

const fifoChunk = 256

func (q *fifo[T]) len() int { return q.n }

func (q *fifo[T]) push(v T) {
	last := len(q.chunks) - 1
	if last < 0 || len(q.chunks[last]) == fifoChunk {
		var c []T
		if n := len(q.spare); n > 0 {
			c, q.spare = q.spare[n-1], q.spare[:n-1]
		} else {
			c = make([]T, 0, fifoChunk)
		}
		q.chunks = append(q.chunks, c)
		last++
	}
	q.chunks[last] = append(q.chunks[last], v)
	q.n++
}

// take empties q into a new fifo (a batch to process without the lock).
func (q *fifo[T]) take() fifo[T] {
	out := fifo[T]{chunks: q.chunks, n: q.n}
	q.chunks, q.n = nil, 0
	return out
}

// recycle keeps an emptied chunk for reuse.
func (q *fifo[T]) recycle(c []T) {
	if len(q.spare) < fifoSpare && cap(c) == fifoChunk {
		clear(c[:cap(c)])
		q.spare = append(q.spare, c[:0])
	}
}

// giveBack recycles the chunks of a taken batch into q, once processed.
func (q *fifo[T]) giveBack(batch *fifo[T]) {
	for _, c := range batch.chunks {
		q.recycle(c)
	}
	*batch = fifo[T]{}
}

// each calls fn on every item, in order.
func (q *fifo[T]) each(fn func(*T)) {
	for _, c := range q.chunks {
		for j := range c {
			fn(&c[j])
		}
	}
}
