package deferred

import "testing"

func TestFifo(t *testing.T) {
	var q fifo[int]
	next, want := 0, 0
	buf := make([]int, 7)
	for round := 0; round < 50; round++ {
		for i := 0; i < round*37%600; i++ {
			q.push(next)
			next++
		}
		n := q.pop(buf[:round%8])
		for _, v := range buf[:n] {
			if v != want {
				t.Fatalf("got %d, want %d", v, want)
			}
			want++
		}
		if q.len() != next-want {
			t.Fatalf("len %d, want %d", q.len(), next-want)
		}
	}
	rest := q.take()
	if q.len() != 0 || rest.len() != next-want {
		t.Fatal("take")
	}
	rest.each(func(v *int) {
		if *v != want {
			t.Fatalf("each: got %d, want %d", *v, want)
		}
		want++
	})
	if want != next {
		t.Fatal("each missed some")
	}
}
