package deferred

import (
	"sync"
	"testing"
)

// The cgo floor: one Go->C call plus one C->Go callback.
func BenchmarkCgoFloor(b *testing.B) {
	for i := 0; i < b.N; i++ {
		cgoFloor()
	}
}

// A Go channel round trip (make + send + receive), for comparison.
func BenchmarkChannelRoundTrip(b *testing.B) {
	for i := 0; i < b.N; i++ {
		ch := make(chan int, 1)
		ch <- i
		<-ch
	}
}

func nop(v any) (any, error) { return v, nil }

// deferred_cycle: create + Go callback + fire + release.
func BenchmarkDeferredCycle(b *testing.B) {
	r, _ := NewReactor(nil)
	defer r.Free()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := r.NewDeferred()
		_ = d.AddCallback(nop)
		_ = d.Callback(nil)
		d.Release()
	}
}

// callback_link: many Go callbacks on one deferred, then fire; per link.
func BenchmarkCallbackLink(b *testing.B) {
	r, _ := NewReactor(nil)
	defer r.Free()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(10000, b.N-done)
		d := r.NewDeferred()
		for j := 0; j < n; j++ {
			_ = d.AddCallback(nop)
		}
		_ = d.Callback(nil)
		d.Release()
		done += n
	}
}

// call_from_thread from 4 goroutines; per call delivered.
func BenchmarkCallFromThread(b *testing.B) {
	r, _ := Start(nil)
	defer func() { _ = r.Close() }()
	var wg sync.WaitGroup
	var got sync.WaitGroup
	got.Add(b.N)
	b.ResetTimer()
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < b.N; i += 4 {
				_ = r.Call(got.Done)
			}
		}(g)
	}
	wg.Wait()
	got.Wait()
}

// As in the C bench: b.N tasks in flight at once, each deferred with a
// callback counting completions, released at once.
func benchDeferTo(b *testing.B, defer2 func(*Reactor, func() (int, error)) (*Deferred, error)) {
	r, _ := Start(nil)
	defer func() { _ = r.Close() }()
	b.ResetTimer()
	done := make(chan struct{})
	fired := 0
	count := func(v any) (any, error) {
		if fired++; fired == b.N {
			close(done)
		}
		return v, nil
	}
	err := r.Call(func() {
		for i := 0; i < b.N; i++ {
			d, err := defer2(r, func() (int, error) { return 1, nil })
			if err != nil {
				panic(err)
			}
			_ = d.AddCallback(count)
			d.Release()
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	<-done
}

// defer_to_thread, bulk: Go work on goroutines.
func BenchmarkDeferToThread(b *testing.B) { benchDeferTo(b, DeferToThread[int]) }

// defer_to_thread, bulk: Go work on the C thread pool.
func BenchmarkDeferToCThread(b *testing.B) { benchDeferTo(b, DeferToCThread[int]) }
