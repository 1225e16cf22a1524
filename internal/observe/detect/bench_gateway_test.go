//go:build unix

package detect_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apiguard/apiguard/examples/demobank"
	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/gateway"
	"github.com/apiguard/apiguard/internal/observe"
	"github.com/apiguard/apiguard/internal/observe/detect"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// BenchmarkGatewayPassThrough is the request cost the detectors add to
// the gateway: the same in-process gateway (demobank's spec, no guards
// configured, a small JSON upstream) without observers, and with the hub
// feeding every detector (defaults). Requests come from 1 000 addresses
// and read 500 account ids, so the detectors have state to keep. The
// detectors run on the hub's goroutine, off the request path, but on the
// same CPUs: compare ns/op and cpu-ns/op (all threads' CPU time per
// request, which on a busy machine is the steadier figure).
//
//	go test -run x -bench GatewayPassThrough -count 5 ./internal/observe/detect
func BenchmarkGatewayPassThrough(b *testing.B) {
	body := []byte(`{"id":101,"owner_id":1,"balance":2500,"iban":"DE78370400440532013101","currency":"EUR"}`)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	b.Cleanup(up.Close)
	spec, err := openapi.Parse(demobank.Spec)
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Parse([]byte("admin: {listen: \"off\"}\napis:\n  - name: demobank\n    upstream: {urls: [\""+up.URL+"\"]}\n    spec: openapi.yaml\n"),
		func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	for _, withDetectors := range []bool{false, true} {
		name := "bare"
		if withDetectors {
			name = "detectors"
		}
		b.Run(name, func(b *testing.B) {
			svc := pipeline.NewServices(pipeline.Services{})
			defer svc.Close()
			var hub *observe.Hub
			if withDetectors {
				hub = observe.NewHub(observe.HubOptions{})
				defer hub.Close(5 * time.Second)
				set, err := detect.New(cfg.Observe.Detectors, svc)
				if err != nil {
					b.Fatal(err)
				}
				defer set.Close()
				hub.AddObserver("detectors", set)
			}
			g, err := gateway.New(&config.Loaded{Config: cfg}, gateway.Options{Services: svc, Observers: hub,
				SpecLoader: func(string, string) (*openapi.Spec, error) { return spec, nil }})
			if err != nil {
				b.Fatal(err)
			}
			defer g.Close()
			var n atomic.Int64
			b.ReportAllocs()
			cpu := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(n.Add(1))
					req := httptest.NewRequest("GET", "/api/v1/accounts/"+strconv.Itoa(100+i%500), nil)
					req.RemoteAddr = "10.0." + strconv.Itoa(i%1000/250) + "." + strconv.Itoa(i%250) + ":50000"
					rec := httptest.NewRecorder()
					g.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
					}
					_, _ = io.Copy(io.Discard, rec.Body)
				}
			})
			if hub != nil {
				hub.Close(10 * time.Second) // the detectors' work counts too
			}
			b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op")
			if hub != nil {
				if got := hub.Observed() + hub.Dropped(); got < uint64(b.N) {
					b.Fatalf("hub saw %d observations of %d requests", got, b.N)
				}
				b.ReportMetric(float64(hub.Dropped())/float64(b.N), "dropped/op")
			}
		})
	}
}

// cpuTime is the CPU time (user and system, every thread) the process has
// used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
