package deferred

import (
	"errors"
	"fmt"
	"testing"
)

// A released task's callbacks run in Go (taskchain.go) exactly as C would
// run them: the values they see, an error or a panic switching to the
// errbacks, a *Deferred the chain waits for, errbacks passed by.
func TestReleasedTaskChain(t *testing.T) {
	r := must1(Start(nil))
	defer func() { ok(t, r.Close()) }()
	type step struct {
		name  string
		value any // the task's result
		// chain adds callbacks, which report what they saw on got
		chain func(d *Deferred, got chan<- string)
		want  []string
	}
	boom := errors.New("boom")
	inner := make(chan *Deferred, 1)
	steps := []step{
		{"int as int64", 7, func(d *Deferred, got chan<- string) {
			ok(t, d.AddCallback(func(v any) (any, error) { return fmt.Sprintf("%T %v", v, v), nil }))
			ok(t, d.AddCallback(func(v any) (any, error) { got <- v.(string); return nil, nil }))
		}, []string{"int64 7"}},
		{"Go values as they are, errbacks passed by", "s", func(d *Deferred, got chan<- string) {
			ok(t, d.AddCallback(func(v any) (any, error) { got <- v.(string); return []int{1}, nil }))
			ok(t, d.AddErrback(func(error) (any, error) { got <- "errback"; return nil, nil }))
			ok(t, d.AddCallback(func(v any) (any, error) { got <- fmt.Sprint(v); return nil, nil }))
		}, []string{"s", "[1]"}},
		{"an error goes to the errbacks", 1, func(d *Deferred, got chan<- string) {
			ok(t, d.AddCallback(func(v any) (any, error) { return nil, boom }))
			ok(t, d.AddCallback(func(v any) (any, error) { got <- "callback"; return nil, nil }))
			ok(t, d.AddCallback(func(v any) (any, error) { got <- "callback"; return nil, nil }))
			ok(t, d.AddErrback(func(err error) (any, error) { got <- fmt.Sprint(errors.Is(err, boom)); return 2, nil }))
			ok(t, d.AddCallback(func(v any) (any, error) { got <- fmt.Sprint(v); return nil, nil }))
		}, []string{"true", "2"}},
		{"a panic goes to the errbacks", 1, func(d *Deferred, got chan<- string) {
			ok(t, d.AddCallback(func(v any) (any, error) { panic("oops") }))
			ok(t, d.AddErrback(func(err error) (any, error) { got <- fmt.Sprint(errors.Is(err, ErrPanic)); return nil, nil }))
		}, []string{"true"}},
		{"the chain waits for a *Deferred", 1, func(d *Deferred, got chan<- string) {
			ok(t, d.AddCallback(func(v any) (any, error) {
				in := r.NewDeferred()
				inner <- in
				got <- "waits"
				return in, nil
			}))
			ok(t, d.AddCallback(func(v any) (any, error) { got <- fmt.Sprint(v); return nil, nil }))
			ok(t, d.AddCallback(func(v any) (any, error) { got <- "then"; return nil, nil }))
		}, []string{"waits", "inner", "then"}},
		{"bytes", 1, func(d *Deferred, got chan<- string) {
			ok(t, d.AddCallback(func(v any) (any, error) { return []byte("ab"), nil }))
			ok(t, d.AddCallback(func(v any) (any, error) { got <- string(v.([]byte)); return nil, nil }))
		}, []string{"ab"}},
	}
	for _, s := range steps {
		got := make(chan string, 10)
		ok(t, r.Call(func() {
			d := must1(DeferToThread(r, func() (any, error) { return s.value, nil }))
			s.chain(d, got)
			d.Release()
		}))
		var saw []string
		for len(saw) < len(s.want) {
			saw = append(saw, <-got)
			if saw[len(saw)-1] == "waits" {
				in := <-inner
				ok(t, r.Call(func() { ok(t, in.Callback("inner")); in.Release() }))
			}
		}
		ok(t, r.Call(func() {})) // nothing more reported
		if fmt.Sprint(saw) != fmt.Sprint(s.want) || len(got) > 0 {
			t.Errorf("%s: got %q (then %d more), want %q", s.name, saw, len(got), s.want)
		}
	}
	noHandles(t)
}
