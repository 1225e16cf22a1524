package limits

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/pipeline"
)

func TestInFlightAndTimeout(t *testing.T) {
	g := &guard{api: opState{inflight: &counter{}, max: 2, timeout: time.Minute}, retryAfter: "1"}
	var cancels []context.CancelFunc
	want := []int{0, 0, 503}
	for i, w := range want {
		ctx, cancel := context.WithCancel(context.Background())
		cancels = append(cancels, cancel)
		x := pipeline.NewExchange()
		x.Request = httptest.NewRequest("GET", "/", nil).WithContext(ctx)
		v, err := g.Request(ctx, x)
		if err != nil || v.Status != w {
			t.Fatalf("Request #%d = %d %v, want %d", i, v.Status, err, w)
		}
		if w == 503 && v.Header.Get("Retry-After") != "1" {
			t.Errorf("Retry-After = %q, want 1", v.Header.Get("Retry-After"))
		}
		if w == 0 {
			if _, ok := x.Request.Context().Deadline(); !ok {
				t.Errorf("Request #%d: no upstream deadline on the request context", i)
			}
		}
	}
	cancels[0]() // the first exchange ends: its slot comes back
	deadline := time.Now().Add(2 * time.Second)
	for g.api.inflight.n.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := g.api.inflight.n.Load(); n != 1 {
		t.Fatalf("in flight after one exchange ended = %d, want 1", n)
	}
	for _, c := range cancels {
		c()
	}
}
