package observe

import (
	"sync"
	"testing"
	"time"
)

// collector keeps copies of what it observed.
type collector struct {
	mu   sync.Mutex
	seen []Observation
}

func (c *collector) Observe(o *Observation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := *o
	c.seen = append(c.seen, cp)
}

func (c *collector) all() []Observation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Observation(nil), c.seen...)
}

func TestHubFansOutInOrder(t *testing.T) {
	h := NewHub(HubOptions{QueueSize: 16})
	a, b := &collector{}, &collector{}
	h.SetObservers(a, ObserverFunc(func(o *Observation) { panic("a broken observer") }), b)
	for i, id := range []string{"r1", "r2", "r3"} {
		o := h.Get()
		o.RequestID, o.Status = id, 200+i
		if !h.Submit(o) {
			t.Fatalf("Submit(%s) = false, want true", id)
		}
	}
	h.Close(5 * time.Second)
	for name, c := range map[string]*collector{"first": a, "after the panicking one": b} {
		got := c.all()
		if len(got) != 3 || got[0].RequestID != "r1" || got[2].RequestID != "r3" || got[2].Status != 202 {
			t.Errorf("%s observer saw %+v, want r1, r2, r3 in order", name, got)
		}
	}
	if h.Observed() != 3 || h.Dropped() != 0 {
		t.Errorf("Observed, Dropped = %d, %d, want 3, 0", h.Observed(), h.Dropped())
	}
}

func TestHubDropsWhenFullAndNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	h := NewHub(HubOptions{QueueSize: 2})
	drops := 0
	h.opts.OnDrop = func() { drops++ }
	h.SetObservers(ObserverFunc(func(*Observation) {
		select {
		case started <- struct{}{}:
		default:
		}
		<-release
	}))
	h.Submit(h.Get()) // taken by the observer, which then blocks
	<-started
	queued := 0
	for range 10 {
		if h.Submit(h.Get()) {
			queued++
		}
	}
	if queued != 2 || h.Dropped() != 8 || drops != 8 {
		t.Errorf("queued, Dropped, OnDrop calls = %d, %d, %d, want 2, 8, 8", queued, h.Dropped(), drops)
	}
	close(release)
	h.Close(5 * time.Second)
	if h.Observed() != 3 {
		t.Errorf("Observed = %d, want 3 (1 running + 2 queued)", h.Observed())
	}
	if h.Submit(h.Get()) {
		t.Error("Submit after Close = true, want false")
	}
}

func TestCredentialFingerprint(t *testing.T) {
	tests := []struct {
		name      string
		raw, set  string
		wantEqual string
	}{
		{"raw credential is hashed", "Bearer secret-token", "", Fingerprint("Bearer secret-token")},
		{"a token id wins over the raw credential", "Bearer secret-token", "jti:abc", "jti:abc"},
		{"no credential", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHub(HubOptions{})
			c := &collector{}
			h.SetObservers(c)
			o := h.Get()
			o.SetRawCredential(tt.raw)
			o.Credential = tt.set
			h.Submit(o)
			h.Close(5 * time.Second)
			got := c.all()
			if len(got) != 1 {
				t.Fatalf("observed %d, want 1", len(got))
			}
			if got[0].Credential != tt.wantEqual {
				t.Errorf("Credential = %q, want %q", got[0].Credential, tt.wantEqual)
			}
			if got[0].rawCredential != "" {
				t.Error("the raw credential reached the observers")
			}
		})
	}
	if len(Fingerprint("x")) != 32 {
		t.Errorf("len(Fingerprint) = %d, want 32 hex digits", len(Fingerprint("x")))
	}
}

func TestInactiveHub(t *testing.T) {
	var nilHub *Hub
	if nilHub.Active() {
		t.Error("nil Hub is active")
	}
	h := NewHub(HubOptions{})
	defer h.Close(time.Second)
	if h.Active() {
		t.Error("Hub without observers is active")
	}
	h.SetObservers(&collector{})
	if !h.Active() {
		t.Error("Hub with an observer is not active")
	}
}
