// my_callbacks: the inlineCallbacks flow of "Twisted Introduction" part 17,
// written the Go way: a goroutine reads top to bottom and waits for each
// deferred with deferred.Do, while the reactor runs on the main goroutine.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	deferred "github.com/libdeferred/libdeferred/bindings/go"
)

const delay = 200 * time.Millisecond // the original waits 5 s

func myCallbacks(ctx context.Context, r *deferred.Reactor) error {
	fmt.Println("first callback")
	// A plain value comes right back.
	result, err := deferred.Do[int](ctx, r, func() (any, error) { return 1, nil })
	if err != nil {
		return err
	}
	fmt.Println("second callback got", result)

	// A deferred pauses us until it fires.
	result, err = deferred.Do[int](ctx, r, func() (any, error) {
		d := r.NewDeferred()
		_, err := r.CallLater(delay, func() { _ = d.Callback(2) })
		return d, err
	})
	if err != nil {
		return err
	}
	fmt.Println("third callback got", result)

	// A failure comes back as the error.
	_, err = deferred.Do[any](ctx, r, func() (any, error) {
		d := r.NewDeferred()
		_, err := r.CallLater(delay, func() { _ = d.Errback(errors.New("3")) })
		return d, err
	})
	fmt.Printf("fourth callback got %q\n", err)
	return nil
}

func main() {
	r, err := deferred.NewReactor(nil) // this goroutine owns the reactor
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var failed error
	go func() {
		failed = myCallbacks(ctx, r)
		_ = r.Stop()
	}()
	if err := r.Run(); err != nil {
		panic(err)
	}
	r.Free()
	if failed != nil {
		fmt.Fprintln(os.Stderr, "my_callbacks:", failed)
		os.Exit(1)
	}
}
