// Command bench prints the Go binding's benchmark rows as JSON lines, in
// bench/run's format ({"bench", "impl", "n", "ns_per_op"}): "impl": "go" for
// the binding, "cgo-floor" for one Go->C call plus one C->Go callback (the
// least a binding can pay) and "go-chan" for a Go channel round trip.
//
//	cd bindings/go && go run ./cmd/bench [-quick]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"sync"
	"time"

	deferred "github.com/libdeferred/libdeferred/bindings/go"
	"github.com/libdeferred/libdeferred/bindings/go/internal/floor"
)

type row struct {
	Bench   string  `json:"bench"`
	Impl    string  `json:"impl"`
	N       int     `json:"n"`
	NsPerOp float64 `json:"ns_per_op"`
}

var out = json.NewEncoder(os.Stdout)

// best runs fn(n) reps times and prints the best time per op.
func best(bench, impl string, n, reps int, fn func(n int)) {
	b := time.Duration(1<<63 - 1)
	for i := 0; i < reps; i++ {
		t := time.Now()
		fn(n)
		b = min(b, time.Since(t))
	}
	_ = out.Encode(row{bench, impl, n, float64(b.Nanoseconds()) / float64(n)})
}

func nop(v any) (any, error) { return v, nil }

func main() {
	quick := flag.Bool("quick", false, "smaller n")
	flag.Parse()
	n, reps := 1000000, 3
	if *quick {
		n, reps = 100000, 2
	}
	floorRun := func(n int) {
		for i := 0; i < n; i++ {
			floor.Call()
		}
	}
	for _, b := range []string{"deferred_cycle", "callback_link", "call_from_thread", "defer_to_thread"} {
		best(b, "cgo-floor", n, reps, floorRun)
	}
	best("deferred_cycle", "go-chan", n, reps, func(n int) {
		for i := 0; i < n; i++ {
			ch := make(chan int, 1)
			ch <- i
			<-ch
		}
	})

	r, err := deferred.NewReactor(nil)
	if err != nil {
		panic(err)
	}
	best("deferred_cycle", "go", n, reps, func(n int) {
		for i := 0; i < n; i++ {
			d := r.NewDeferred()
			_ = d.AddCallback(nop)
			_ = d.Callback(nil)
			d.Release()
		}
	})
	best("callback_link", "go", 10000, reps, func(n int) {
		d := r.NewDeferred()
		for j := 0; j < n; j++ {
			_ = d.AddCallback(nop)
		}
		_ = d.Callback(nil)
		d.Release()
	})
	r.Free()

	s, err := deferred.Start(nil)
	if err != nil {
		panic(err)
	}
	best("call_from_thread", "go", n, reps, func(n int) {
		var got sync.WaitGroup
		got.Add(n)
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := g; i < n; i += 4 {
					_ = s.Call(got.Done)
				}
			}(g)
		}
		wg.Wait()
		got.Wait()
	})
	tasks := n / 10
	for _, v := range []struct {
		impl string
		fn   func(*deferred.Reactor, func() (int, error)) (*deferred.Deferred, error)
	}{{"go", deferred.DeferToThread[int]}, {"go-cpool", deferred.DeferToCThread[int]}} {
		best("defer_to_thread", v.impl, tasks, reps, func(n int) {
			_, err := deferred.Do[any](context.Background(), s, func() (any, error) {
				ds := make([]*deferred.Deferred, n)
				for i := range ds {
					ds[i], _ = v.fn(s, func() (int, error) { return 1, nil })
				}
				return s.Gather(ds, false)
			})
			if err != nil {
				panic(err)
			}
		})
	}
	_ = s.Close()
}
