package deferred

// #include "shim.h"
import "C"

// A DeferToThread deferred whose wrapper was released before its result came
// (fire and forget: "submit, add callbacks, release") cannot be reached by
// anyone: not from Go (its wrapper is released) and not from C (it is
// private: C never saw it, pending.go).  Its pending callbacks then run in Go
// on delivery, as C would run them, without a crossing into C and back per
// callback: while the result is a plain value (one that comes back from C
// as the same Go value, or int as int64), nothing can tell the difference.
// At the first callback giving anything else (an error, a *Deferred, bytes,
// a panic), the rest of the chain goes to C with that result, as usual.
// Nothing goes to C for the common case then: no C callbacks, no crossing
// back into Go per task.

// plain gives v as a callback gets it back from C, when that is v itself (an
// int comes back as int64); false for the values C would convert or act on.
func plain(v any) (any, bool) {
	switch x := v.(type) {
	case nil, int64, float64:
		return v, true
	case int:
		return int64(x), true
	case []byte, *Deferred, error:
		return nil, false
	}
	return v, true
}

// runReleased runs w's pending callbacks in Go with the plain result v
// (reactor goroutine; w released and private).  It returns the value to fire
// w's C deferred with; w's pending slots are then what is left of the chain
// for C (none when it ran to its end).
func runReleased(w *Deferred, v any) C.dfr_value {
	var buf [2]uint32
	slots := append(buf[:0], w.pendBuf[:min(w.npend, 2)]...)
	if w.npend > 2 {
		slots = append(slots, *w.pendMore...)
	}
	w.npend, w.pendMore = 0, nil
	s := w.r.slab
	for k, slot := range slots {
		idx := C.uint32_t(slot & slotIdx)
		f := *s.fn(idx)
		s.drop(idx) // runs once, as C gives it back once it ran
		if slot&slotCb == 0 {
			continue // an errback: a result passes by
		}
		res, err := callGo(f.cb, v)
		var out C.dfr_value
		if err != nil {
			out = C.dfrgo_value_failure(failureToC(err))
		} else if x, ok := plain(res); ok {
			v = x
			continue
		} else if next, ok := res.(*Deferred); ok && next != nil {
			// C chains a deferred a callback returns (firing with one is
			// refused): a callback giving it heads the rest of the chain.
			idx, err := s.put(chainFns{cb: func(any) (any, error) { return next, nil }})
			if err != nil {
				out = C.dfrgo_value_failure(failureToC(err))
			} else {
				w.addPending(uint32(idx) | slotCb)
			}
		} else {
			out = toC(res)
		}
		for _, rest := range slots[k+1:] {
			w.addPending(rest)
		}
		return out
	}
	// The end of the chain: the final value is nobody's (as C would drop it
	// with the deferred).
	return C.dfr_value{}
}

// callGo runs a callback as goCallback does: a panic is a failure.
func callGo(cb func(any) (any, error), v any) (res any, err error) {
	defer func() {
		if x := recover(); x != nil {
			res, err = nil, panicError(x)
		}
	}()
	return cb(v)
}
