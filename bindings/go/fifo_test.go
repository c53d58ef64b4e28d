package deferred

import "testing"

// Batches of many sizes pushed, taken whole, read in order, their chunks
// given back and reused.
func TestFifo(t *testing.T) {
	var q fifo[int]
	next, want := 0, 0
	for round := 0; round < 50; round++ {
		for i := 0; i < round*37%600; i++ {
			q.push(next)
			next++
		}
		if q.len() != next-want {
			t.Fatalf("len %d, want %d", q.len(), next-want)
		}
		batch := q.take()
		if q.len() != 0 || batch.len() != next-want {
			t.Fatal("take")
		}
		batch.each(func(v *int) {
			if *v != want {
				t.Fatalf("each: got %d, want %d", *v, want)
			}
			want++
		})
		spares := len(q.spare)
		chunks := len(batch.chunks)
		q.giveBack(&batch)
		if len(q.spare) != min(spares+chunks, fifoSpare) || batch.len() != 0 {
			t.Fatal("giveBack")
		}
	}
	if want != next {
		t.Fatal("each missed some")
	}
}
