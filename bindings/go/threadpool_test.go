package deferred

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// submitBlocking defers n tasks that each report their start and then wait
// for release; it returns the deferreds' count of results.
func submitBlocking(t *testing.T, r *Reactor, n int, started chan<- int, release <-chan struct{}, running *atomic.Int32, peak *atomic.Int32) *atomic.Int32 {
	t.Helper()
	var fired atomic.Int32
	ok(t, r.Call(func() {
		for i := 0; i < n; i++ {
			d, err := DeferToThread(r, func() (int, error) {
				now := running.Add(1)
				for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
				}
				started <- i
				<-release
				running.Add(-1)
				return i, nil
			})
			if err != nil {
				panic(err)
			}
			_ = d.AddCallback(func(v any) (any, error) { fired.Add(1); return v, nil })
			d.Release()
		}
	}))
	return &fired
}

func waitStarts(t *testing.T, started <-chan int, n int) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-started:
		case <-timeout:
			t.Fatalf("%d of %d tasks started: a waiting task did not get a worker of its own", i, n)
		}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
	}
}

// As in Twisted's pool, each waiting task gets a worker of its own while
// fewer than the maximum run: tasks that block hold back no other.
func TestDeferToThreadBlockingTasksRunTogether(t *testing.T) {
	r := must1(Start(&Options{ThreadPoolMax: 8}))
	defer func() { ok(t, r.Close()) }()
	started, release := make(chan int, 8), make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	defer free() // before Close, which waits for the tasks
	var running, peak atomic.Int32
	fired := submitBlocking(t, r, 8, started, release, &running, &peak)
	waitStarts(t, started, 8) // all eight at once: each waits for release
	free()
	eventually(t, "results not delivered", func() bool { return fired.Load() == 8 })
}

// No more than ThreadPoolMax run at once; the others wait their turn.
func TestDeferToThreadAtMostMax(t *testing.T) {
	r := must1(Start(&Options{ThreadPoolMax: 3}))
	defer func() { ok(t, r.Close()) }()
	started, release := make(chan int, 9), make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	defer free()
	var running, peak atomic.Int32
	fired := submitBlocking(t, r, 9, started, release, &running, &peak)
	waitStarts(t, started, 3)
	time.Sleep(20 * time.Millisecond) // time for a fourth to start, wrongly
	if p := peak.Load(); p != 3 {
		t.Fatalf("%d tasks ran at once, want 3", p)
	}
	free()
	waitStarts(t, started, 6)
	eventually(t, "results not delivered", func() bool { return fired.Load() == 9 })
	if p := peak.Load(); p != 3 {
		t.Fatalf("%d tasks ran at once, want 3", p)
	}
}

// A task deferred later, while every awake worker is busy with a long one,
// still starts (the pool wakes or starts another worker for it).
func TestDeferToThreadLaterTaskNotStuckBehindBusyWorker(t *testing.T) {
	r := must1(Start(nil))
	defer func() { ok(t, r.Close()) }()
	ctx := context.Background()
	firstRunning, second := make(chan struct{}), make(chan struct{})
	defer close(second) // before Close, which waits for the first task
	ok(t, r.Call(func() {
		d := must1(DeferToThread(r, func() (int, error) {
			close(firstRunning)
			<-second // released by the second task only
			return 1, nil
		}))
		d.Release()
	}))
	<-firstRunning
	for i := 0; i < 3; i++ { // the worker pool idles a while between
		n, err := Do[int](ctx, r, func() (any, error) {
			return DeferToThread(r, func() (int, error) { return 2, nil })
		})
		if err != nil || n != 2 {
			t.Fatal(n, err)
		}
		time.Sleep(time.Duration(i) * 30 * time.Millisecond)
	}
}

// A burst of short tasks: each result reaches its own deferred, once.
func TestDeferToThreadBurst(t *testing.T) {
	r := must1(Start(nil))
	defer func() { ok(t, r.Close()) }()
	const n = 20000
	var seen [n]atomic.Int32
	var fired atomic.Int32
	done := make(chan struct{})
	ok(t, r.Call(func() {
		for i := 0; i < n; i++ {
			d := must1(DeferToThread(r, func() (int, error) { return i, nil }))
			_ = d.AddCallback(func(v any) (any, error) {
				if v.(int64) != int64(i) { // a Go int comes back as C's int64
					panic("a result reached another task's deferred")
				}
				seen[i].Add(1)
				if fired.Add(1) == n {
					close(done)
				}
				return nil, nil
			})
			d.Release()
		}
	}))
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%d of %d results", fired.Load(), n)
	}
	for i := range seen {
		if seen[i].Load() != 1 {
			t.Fatalf("task %d fired %d times", i, seen[i].Load())
		}
	}
}

// Tasks keep coming from several bursts with pauses between (workers go to
// sleep and are woken again), with a pool of one.
func TestDeferToThreadBurstsWithPauses(t *testing.T) {
	r := must1(Start(&Options{ThreadPoolMax: 1}))
	defer func() { ok(t, r.Close()) }()
	ctx := context.Background()
	for round := 0; round < 5; round++ {
		var wg sync.WaitGroup
		wg.Add(100)
		ok(t, r.Call(func() {
			for i := 0; i < 100; i++ {
				d := must1(DeferToThread(r, func() (int, error) { return i, nil }))
				_ = d.AddCallback(func(v any) (any, error) { wg.Done(); return v, nil })
				d.Release()
			}
		}))
		wg.Wait()
		time.Sleep(time.Duration(round) * 10 * time.Millisecond)
		if _, err := Do[int](ctx, r, func() (any, error) {
			return DeferToThread(r, func() (int, error) { return 0, nil })
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// The queue: one producer, consumers under a lock; across many chunks each
// task comes out once, in order.
func TestTaskqOrderAcrossChunks(t *testing.T) {
	q := newTaskq()
	r := &Reactor{}
	const n = 5*taskChunkLen + 3
	ds := make([]*Deferred, n)
	for i := range ds {
		ds[i] = &Deferred{r: r}
	}
	var mu sync.Mutex
	var got []*Deferred
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for c := 0; c < 3; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				t, ok := q.pop()
				if ok {
					got = append(got, t.d)
				}
				mu.Unlock()
				if !ok {
					select {
					case <-stop:
						return
					default:
					}
				}
			}
		}()
	}
	for _, d := range ds {
		q.push(poolTask{d: d})
	}
	eventually(t, "tasks not all popped", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return q.waiting(1) == 0
	})
	close(stop)
	wg.Wait()
	if len(got) != n {
		t.Fatalf("%d of %d", len(got), n)
	}
	for i := range got {
		if got[i] != ds[i] {
			t.Fatalf("task %d out of order", i)
		}
	}
	if _, ok := q.pop(); ok {
		t.Fatal("popped from an empty queue")
	}
}
