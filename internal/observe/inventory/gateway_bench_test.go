package inventory_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apiguard/apiguard/examples/demobank"
	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/gateway"
	"github.com/apiguard/apiguard/internal/observe"
	"github.com/apiguard/apiguard/internal/observe/inventory"
	"github.com/apiguard/apiguard/internal/openapi"
)

// The inventory's cost on pass-through traffic: the same gateway (one
// API with demobank's spec, no guards) in front of the same loopback
// upstream, without observers and with the hub feeding the inventory,
// in-process, in the same run.
//
//	go test -run x -bench GatewayInventory -benchtime 20000x ./internal/observe/inventory

func benchGateway(b *testing.B, hub *observe.Hub) http.Handler {
	b.Helper()
	body := []byte(`{"id":101,"owner_id":1,"balance":2500,"iban":"DE78370400440532013101","currency":"EUR"}`)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	b.Cleanup(up.Close)
	cfg, err := config.Parse([]byte("admin: {listen: \"off\"}\napis:\n  - name: demobank\n    upstream: {urls: [\""+up.URL+"\"]}\n    spec: openapi.yaml\n"),
		func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	g, err := gateway.New(&config.Loaded{Config: cfg}, gateway.Options{Observers: hub,
		SpecLoader: func(string, string) (*openapi.Spec, error) { return openapi.Parse(demobank.Spec) }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(g.Close)
	return g
}

// benchPaths mix documented operations and an undocumented path.
var benchPaths = []string{"/api/v1/accounts/101", "/api/v1/transactions?limit=10&offset=20", "/api/v1/users/7", "/internal/items/42"}

func serveOne(b *testing.B, h http.Handler, i int) {
	req := httptest.NewRequest("GET", benchPaths[i%len(benchPaths)], nil)
	req.RemoteAddr = "10.0." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255) + ":50000"
	req.Header.Set("Authorization", "Bearer bench")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	_, _ = io.Copy(io.Discard, rec.Body)
}

// BenchmarkGatewayInventory reports ns/op and allocs with and without the
// inventory (compare the two sub-benchmarks).
func BenchmarkGatewayInventory(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "inventory"
		}
		b.Run(name, func(b *testing.B) {
			var hub *observe.Hub
			if on {
				hub = observe.NewHub(observe.HubOptions{})
				hub.AddObserver("inventory", inventory.New(inventory.Options{}))
				b.Cleanup(func() { hub.Close(5 * time.Second) })
			}
			h := benchGateway(b, hub)
			var n atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					serveOne(b, h, int(n.Add(1)))
				}
			})
			if hub != nil {
				b.ReportMetric(float64(hub.Dropped()), "dropped")
			}
		})
	}
}

// BenchmarkGatewayInventoryOverhead alternates batches of requests on the
// two gateways and reports the cost ratio, in wall time and in the
// process's CPU time (which other processes on a busy machine disturb
// much less). A batch with the inventory counts until the hub has caught
// up with it (waiting by sleeping, which costs no CPU), so the observers'
// own work is in the figure, not only the request path's. The CPU figures
// include the in-process upstream's work, the same in both.
func BenchmarkGatewayInventoryOverhead(b *testing.B) {
	hub := observe.NewHub(observe.HubOptions{QueueSize: 1 << 16})
	hub.AddObserver("inventory", inventory.New(inventory.Options{}))
	b.Cleanup(func() { hub.Close(5 * time.Second) })
	off, on := benchGateway(b, nil), benchGateway(b, hub)
	workers := runtime.GOMAXPROCS(0) * 4
	batch := func(h http.Handler, n int) {
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < n; i += workers {
					serveOne(b, h, i)
				}
			}(w)
		}
		wg.Wait()
	}
	for i := 0; i < 500; i++ { // warm both (connections, first samples)
		serveOne(b, off, i)
		serveOne(b, on, i)
	}
	base := hub.Observed() + hub.Dropped()
	var tOff, tOn, cOff, cOn time.Duration
	const size = 1000
	b.ResetTimer()
	for done := 0; done < b.N; done += size {
		n := min(size, b.N-done)
		start, cpu := time.Now(), processCPU()
		batch(off, n)
		tOff += time.Since(start)
		cOff += processCPU() - cpu
		start, cpu = time.Now(), processCPU()
		batch(on, n)
		target := base + uint64(done+n)
		for hub.Observed()+hub.Dropped() < target {
			time.Sleep(50 * time.Microsecond)
		}
		tOn += time.Since(start)
		cOn += processCPU() - cpu
	}
	b.StopTimer()
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) }
	b.ReportMetric(per(tOff), "off-ns/req")
	b.ReportMetric(per(tOn), "inventory-ns/req")
	b.ReportMetric(100*(float64(tOn)/float64(tOff)-1), "overhead-%")
	if cOff > 0 {
		b.ReportMetric(per(cOff), "off-cpu-ns/req")
		b.ReportMetric(per(cOn), "inventory-cpu-ns/req")
		b.ReportMetric(100*(float64(cOn)/float64(cOff)-1), "cpu-overhead-%")
	}
	b.ReportMetric(float64(hub.Dropped()), "dropped")
}
