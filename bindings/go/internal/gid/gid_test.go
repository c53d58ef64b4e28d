package gid

import "testing"

func TestDistinctAndStable(t *testing.T) {
	if !Fast {
		t.Skip("no fast goroutine identity on this architecture")
	}
	me := G()
	if me == 0 || G() != me {
		t.Fatal("G is not stable within a goroutine")
	}
	ch := make(chan uintptr)
	for i := 0; i < 4; i++ {
		go func() { ch <- G() }()
	}
	for i := 0; i < 4; i++ {
		if g := <-ch; g == me || g == 0 {
			t.Fatalf("another goroutine has G %#x (mine %#x)", g, me)
		}
	}
}
