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
