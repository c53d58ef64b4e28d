// Command bench prints the Go binding's benchmark rows and target checks as
// JSON lines, in bench/run's format (bench/lang/go runs it):
//
//	{"bench": "deferred_cycle", "impl": "go", "n": 200000, "ns_per_op": 123.4}
//	{"check": "deferred_cycle: go / cgo-floor", "measured": 2.1, "want": "≤ 3", "ok": true}
//
// "impl": "go" is the binding, "cgo-floor" one Go->C call plus one C->Go
// callback (the least a binding call can pay), "go-channel" a Go channel
// round trip, "go-cpool" DeferToCThread, "c" the C bench's figure (read from
// -c, the path of bench_core).  Each bench alternates its own floor run with
// its own runs and keeps the best of each, so that both see the same load;
// the floor's runs are sized to last as long as the longest of the others,
// so that each best is picked from windows as exposed to interruptions.
//
//	cd bindings/go && go run ./cmd/bench [-quick] [-c ../../build-bench/bench/bench_core]
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
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

type check struct {
	Check    string  `json:"check"`
	Measured float64 `json:"measured"`
	Want     string  `json:"want"`
	OK       *bool   `json:"ok"`
}

var out = json.NewEncoder(os.Stdout)

func emit(v any) {
	if err := out.Encode(v); err != nil {
		panic(err)
	}
}

func progress(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

// timed is one measured run of n operations.
type timed func(n int) time.Duration

func clock(fn func(n int)) timed {
	return func(n int) time.Duration {
		t := time.Now()
		fn(n)
		return time.Since(t)
	}
}

// side runs the impls in turn reps times (each sees the same load) and
// returns the best ns per op of each.
func side(reps int, n []int, fns ...timed) []float64 {
	best := make([]float64, len(fns))
	for i := range best {
		best[i] = 1e300
	}
	for r := 0; r < reps; r++ {
		for i, fn := range fns {
			runtime.GC() // no garbage from the previous run collected in this one
			best[i] = min(best[i], float64(fn(n[i]).Nanoseconds())/float64(n[i]))
		}
	}
	return best
}

// floorSized scales n[0], the floor's count (fns[0]), so that a floor run
// lasts about as long as the longest other run: a short window escapes
// interruptions more often than a long one, which would favour the floor's
// best.  One pilot run of each, after a warm-up of the floor.
func floorSized(n []int, fns ...timed) []int {
	_ = fns[0](n[0])
	d := make([]time.Duration, len(fns))
	for i, fn := range fns {
		runtime.GC()
		d[i] = fn(n[i])
	}
	longest := d[0]
	for _, x := range d[1:] {
		longest = max(longest, x)
	}
	out := append([]int(nil), n...)
	if d[0] > 0 {
		out[0] = max(n[0], int(float64(n[0])*float64(longest)/float64(d[0])))
	}
	return out
}

// stealMeter starts measuring the share of this machine's CPU time its
// hypervisor gave to others (Linux's "steal", /proc/stat): on a shared host,
// a run with a large share is slower in ways no floor cancels out.  The
// returned function gives the percentage since (-1 where unknown).
func stealMeter() func() float64 {
	read := func() (steal, total float64, ok bool) {
		b, err := os.ReadFile("/proc/stat")
		if err != nil {
			return 0, 0, false
		}
		line, _, _ := bytes.Cut(b, []byte("\n"))
		f := bytes.Fields(line)
		if len(f) < 9 || string(f[0]) != "cpu" {
			return 0, 0, false
		}
		for i, x := range f[1:] {
			v, err := strconv.ParseFloat(string(x), 64)
			if err != nil {
				return 0, 0, false
			}
			if i < 8 { // user .. steal (guest time is inside user)
				total += v
			}
			if i == 7 {
				steal = v
			}
		}
		return steal, total, true
	}
	s0, t0, ok0 := read()
	return func() float64 {
		s1, t1, ok1 := read()
		if !ok0 || !ok1 || t1 <= t0 {
			return -1
		}
		return 100 * (s1 - s0) / (t1 - t0)
	}
}

func ratioCheck(label string, x float64, want float64) {
	ok := x <= want
	emit(check{label, round(x), fmt.Sprintf("≤ %g", want), &ok})
}

func info(label string, x float64) { emit(check{label, round(x), "info", nil}) }

func round(x float64) float64 { v, _ := strconv.ParseFloat(fmt.Sprintf("%.3g", x), 64); return v }

func nop(v any) (any, error) { return v, nil }

var floorRun = clock(func(n int) {
	for i := 0; i < n; i++ {
		floor.Call()
	}
})

// cFigure runs bench_core name n reps and returns its "libdeferred" row's
// ns per op.
func cFigure(bin, name string, n, reps int) (float64, bool) {
	if bin == "" {
		return 0, false
	}
	cmd := exec.Command(bin, name, strconv.Itoa(n), strconv.Itoa(reps))
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		progress("bench: %s %s: %v", bin, name, err)
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var r row
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Impl == "libdeferred" {
			return r.NsPerOp, true
		}
	}
	return 0, false
}

func main() {
	quick := flag.Bool("quick", false, "smaller n, fewer runs")
	cbin := flag.String("c", "", "bench_core, for the C figure of defer_to_thread")
	flag.Parse()
	// Many short runs, alternating, best of each: on a loaded machine the
	// best runs are the ones nothing else interrupted.
	n, reps, tasks := 100000, 30, 100000
	if *quick {
		n, reps, tasks = 50000, 20, 20000
	}
	const links = 10000
	stolen := stealMeter()
	defer func() { info("host: CPU time stolen by the hypervisor during the run (%)", stolen()) }()

	r, err := deferred.NewReactor(nil)
	if err != nil {
		panic(err)
	}

	progress("bench: deferred_cycle (n=%d)", n)
	cycle := clock(func(n int) {
		for i := 0; i < n; i++ {
			d := r.NewDeferred()
			_ = d.AddCallback(nop)
			_ = d.Callback(nil)
			d.Release()
		}
	})
	channel := clock(func(n int) {
		for i := 0; i < n; i++ {
			ch := make(chan int, 1)
			ch <- i
			<-ch
		}
	})
	ns := floorSized([]int{n, n, n}, floorRun, cycle, channel)
	b := side(reps, ns, floorRun, cycle, channel)
	emit(row{"deferred_cycle", "cgo-floor", ns[0], b[0]})
	emit(row{"deferred_cycle", "go", n, b[1]})
	emit(row{"deferred_cycle", "go-channel", n, b[2]})
	ratioCheck("deferred_cycle: go / cgo-floor", b[1]/b[0], 3)
	info("deferred_cycle: go / go-channel (make + send + receive)", b[1]/b[2])

	// callback_link: per link, 10k Go callbacks on one deferred, then fire;
	// a run does that n/links times.
	progress("bench: callback_link (n=%d, %d deferreds per run)", links, n/links)
	link := clock(func(n int) {
		for done := 0; done < n; done += links {
			d := r.NewDeferred()
			for j := 0; j < links; j++ {
				_ = d.AddCallback(nop)
			}
			_ = d.Callback(nil)
			d.Release()
		}
	})
	ns = floorSized([]int{n, n}, floorRun, link)
	b = side(reps, ns, floorRun, link)
	emit(row{"callback_link", "cgo-floor", ns[0], b[0]})
	emit(row{"callback_link", "go", links, b[1]})
	ratioCheck("callback_link: go / cgo-floor (per link)", b[1]/b[0], 1.5)
	r.Free()

	s, err := deferred.Start(nil)
	if err != nil {
		panic(err)
	}
	progress("bench: call_from_thread (n=%d, 4 goroutines)", n)
	var lost atomic.Int64
	calls := func(n int) time.Duration {
		var got sync.WaitGroup
		got.Add(n)
		var delivered atomic.Int64
		t := time.Now()
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := g; i < n; i += 4 {
					if s.Call(func() { delivered.Add(1); got.Done() }) != nil {
						got.Done()
					}
				}
			}(g)
		}
		wg.Wait()
		got.Wait()
		el := time.Since(t)
		lost.Add(int64(n) - delivered.Load())
		return el
	}
	ns = floorSized([]int{n, n}, floorRun, calls)
	b = side(reps, ns, floorRun, calls)
	emit(row{"call_from_thread", "cgo-floor", ns[0], b[0]})
	emit(row{"call_from_thread", "go", n, b[1]})
	ratioCheck("call_from_thread: go / cgo-floor (4 goroutines, per call)", b[1]/b[0], 2)
	nothingLost := lost.Load() == 0
	emit(check{"call_from_thread: calls lost", float64(lost.Load()), "= 0", &nothingLost})

	progress("bench: defer_to_thread (n=%d)", tasks)
	// As in the C bench: n tasks in flight at once, each deferred with a
	// callback counting completions, released at once.
	deferTo := func(fn func(*deferred.Reactor, func() (int, error)) (*deferred.Deferred, error)) timed {
		return clock(func(n int) {
			done := make(chan struct{})
			fired := 0
			count := func(v any) (any, error) {
				if fired++; fired == n {
					close(done)
				}
				return v, nil
			}
			err := s.Call(func() {
				for i := 0; i < n; i++ {
					d, err := fn(s, func() (int, error) { return 1, nil })
					if err != nil {
						panic(err)
					}
					_ = d.AddCallback(count)
					d.Release()
				}
			})
			if err != nil {
				panic(err)
			}
			<-done
		})
	}
	fns := []timed{floorRun, deferTo(deferred.DeferToThread[int])}
	ns = []int{n, tasks}
	if *cbin != "" { // the C bench, one run at a time, among ours
		fns = append(fns, func(n int) time.Duration {
			c, ok := cFigure(*cbin, "defer_to_thread", n, 1)
			if !ok {
				panic("bench: no C figure from " + *cbin)
			}
			return time.Duration(c * float64(n))
		})
		ns = append(ns, tasks)
	}
	ns = floorSized(ns, fns...)
	b = side(reps, ns, fns...)
	emit(row{"defer_to_thread", "cgo-floor", ns[0], b[0]})
	emit(row{"defer_to_thread", "go", tasks, b[1]})
	if len(b) > 2 {
		emit(row{"defer_to_thread", "c", tasks, b[2]})
		ratioCheck("defer_to_thread: go / (C + 2 × cgo-floor)", b[1]/(b[2]+2*b[0]), 1)
	}
	// DeferToCThread last, on its own: its C threads calling into Go leave
	// the process with a dozen more OS threads bound to the Go runtime,
	// which slows every later DeferToThread run by a fifth (measured
	// 2026-12-02); it is also fifty times slower, so a few runs do.
	progress("bench: defer_to_thread, go-cpool (n=%d)", tasks)
	b = side(max(reps/6, 2), []int{tasks, tasks}, deferTo(deferred.DeferToThread[int]), deferTo(deferred.DeferToCThread[int]))
	emit(row{"defer_to_thread", "go-cpool", tasks, b[1]})
	info("defer_to_thread: go-cpool / go (C pool / goroutines)", b[1]/b[0])
	_ = s.Close()
}
