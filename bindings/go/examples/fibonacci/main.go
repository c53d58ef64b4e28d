// fibonacci: largeFibonacciNumber deferred to a thread while a LoopingCall
// ticks on the reactor ("Generating Deferreds", Twisted's docs): the reactor
// stays responsive while the computation runs elsewhere.
package main

import (
	"fmt"
	"math/big"
	"time"

	deferred "github.com/libdeferred/libdeferred/bindings/go"
)

const target = 100000

func largeFibonacciNumber() (*big.Int, error) {
	first, second := big.NewInt(0), big.NewInt(1)
	for i := 1; i < target; i++ {
		first.Add(first, second)
		first, second = second, first
	}
	return second, nil
}

func main() {
	r, err := deferred.NewReactor(nil)
	if err != nil {
		panic(err)
	}
	ticks := 0
	lc, err := r.NewLoopingCall(func() (any, error) {
		ticks++
		fmt.Println("tick", ticks)
		return nil, nil
	})
	if err != nil {
		panic(err)
	}
	start := time.Now()
	// Runs once the reactor runs.
	err = r.Call(func() {
		if _, err := lc.Start(20*time.Millisecond, true); err != nil {
			panic(err)
		}
		d, err := deferred.DeferToThread(r, largeFibonacciNumber)
		if err != nil {
			panic(err)
		}
		deferred.Then(d, func(n *big.Int) (any, error) {
			fmt.Printf("The %dth Fibonacci number has %d digits (%d ticks meanwhile, %v)\n",
				target, len(n.String()), ticks, time.Since(start).Round(time.Millisecond))
			_ = lc.Stop()
			return nil, r.Stop()
		})
		fmt.Println("1st line after the addition of the callback")
		fmt.Println("2nd line after the addition of the callback")
	})
	if err != nil {
		panic(err)
	}
	if err := r.Run(); err != nil {
		panic(err)
	}
	lc.Free()
	r.Free()
}
