package host

import "testing"

// TestWriterPoolWakes: one worker writes while the list is short; another is woken only when
// none is writing or for a backlog longer than wakeBacklog (more workers visit each connection
// sooner, with fewer frames to coalesce into one writev).
func TestWriterPoolWakes(t *testing.T) {
	for _, tc := range []struct {
		name             string
		waiting, backlog int
		want             bool
	}{
		{"none writing", 2, 1, true},
		{"one writing, short list", 1, 10, false},
		{"one writing, list at the bound", 1, wakeBacklog, false},
		{"one writing, backlog", 1, wakeBacklog + 1, true},
		{"all writing", 0, 10 * wakeBacklog, false},
	} {
		p := &writerPool{workers: 2, waiting: tc.waiting}
		if got := p.wake(tc.backlog); got != tc.want {
			t.Errorf("%s (waiting %d of 2, backlog %d): wake %v, want %v", tc.name, tc.waiting, tc.backlog, got, tc.want)
		}
	}
}

// TestWriterPoolTake: workers take connections in the order they were pushed, batchTake at a time,
// however pushes and takes interleave (the list is compacted as it is taken, not shifted per take).
func TestWriterPoolTake(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pushes []int // connections pushed before each take; the list is then drained
	}{
		{"one short push", []int{5}},
		{"a broadcast's burst", []int{10000}},
		{"exactly a batch", []int{batchTake}},
		{"pushes between takes", []int{100, 1, 200, 0, 63, 64, 65, 3000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conns := make([]*Conn, 0, 20000)
			p := &writerPool{workers: 2}
			var got []*Conn
			var mine []*Conn
			takeOne := func() {
				before := len(p.ready) - p.head
				var left int
				mine, left = p.take(mine)
				if want := min(before, batchTake); len(mine) != want {
					t.Fatalf("took %d of %d, want %d", len(mine), before, want)
				}
				if left != before-len(mine) || left != len(p.ready)-p.head {
					t.Fatalf("left %d (list %d from %d), want %d", left, len(p.ready), p.head, before-len(mine))
				}
				got = append(got, mine...)
			}
			for _, n := range tc.pushes {
				for range n {
					c := &Conn{id: uint64(len(conns) + 1)}
					conns = append(conns, c)
					p.push(c)
				}
				if len(p.ready) > p.head {
					takeOne()
				}
			}
			for len(p.ready) > p.head {
				takeOne()
			}
			if len(got) != len(conns) {
				t.Fatalf("took %d connections, want %d", len(got), len(conns))
			}
			for i := range conns {
				if got[i] != conns[i] {
					t.Fatalf("connection %d taken at %d: the order is lost", got[i].id, i)
				}
			}
			if p.head != 0 || len(p.ready) != 0 {
				t.Errorf("drained list: %d from %d, want empty", len(p.ready), p.head)
			}
		})
	}
}
