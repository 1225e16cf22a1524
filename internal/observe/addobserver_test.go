package observe

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// tagger appends its tag to a shared log for every observation.
type tagger struct {
	tag string
	mu  *sync.Mutex
	log *[]string
}

func (g tagger) Observe(*Observation) {
	g.mu.Lock()
	defer g.mu.Unlock()
	*g.log = append(*g.log, g.tag)
}

func TestAddObserverReplacesByName(t *testing.T) {
	var mu sync.Mutex
	var log []string
	tag := func(s string) Observer { return tagger{tag: s, mu: &mu, log: &log} }
	tests := []struct {
		name  string
		apply func(h *Hub)
		want  []string
	}{
		{"none", func(*Hub) {}, nil},
		{"named after base", func(h *Hub) {
			h.AddObserver("inventory", tag("inv"))
			h.SetObservers(tag("base"))
		}, []string{"base", "inv"}},
		{"replace keeps the place", func(h *Hub) {
			h.AddObserver("inventory", tag("inv1"))
			h.AddObserver("detectors", tag("det"))
			h.AddObserver("inventory", tag("inv2"))
		}, []string{"inv2", "det"}},
		{"nil removes", func(h *Hub) {
			h.AddObserver("inventory", tag("inv"))
			h.AddObserver("detectors", tag("det"))
			h.AddObserver("inventory", nil)
		}, []string{"det"}},
		{"SetObservers keeps the named", func(h *Hub) {
			h.AddObserver("detectors", tag("det"))
			h.SetObservers(tag("a"))
			h.SetObservers()
		}, []string{"det"}},
		{"removing an unknown name is a no-op", func(h *Hub) {
			h.AddObserver("x", nil)
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			log = nil
			mu.Unlock()
			h := NewHub(HubOptions{})
			tt.apply(h)
			active := h.Active()
			h.Submit(h.Get())
			h.Close(5 * time.Second)
			mu.Lock()
			got := slices.Clone(log)
			mu.Unlock()
			if !slices.Equal(got, tt.want) {
				t.Errorf("observers ran %v, want %v", got, tt.want)
			}
			if active != (len(tt.want) > 0) {
				t.Errorf("Active() = %v, want %v", active, len(tt.want) > 0)
			}
		})
	}
}
