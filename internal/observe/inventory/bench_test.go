package inventory

import (
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/examples/demobank"
	"github.com/apiguard/apiguard/internal/observe"
	"github.com/apiguard/apiguard/internal/openapi"
)

// benchObservations is a realistic mix on demobank's spec: documented
// operations with path and query parameters and credentials, answers
// with bodies (sampled), and undocumented paths with identifiers.
func benchObservations(tb testing.TB) []*observe.Observation {
	spec, err := openapi.Parse(demobank.Spec)
	if err != nil {
		tb.Fatal(err)
	}
	hdr := http.Header{"Authorization": {"Bearer x"}, "User-Agent": {"bench"}, "Accept": {"application/json"}, "X-Request-Id": {"abc"}}
	body := []byte(`{"id":101,"owner_id":1,"balance":2500,"iban":"DE78370400440532013101","currency":"EUR"}`)
	var out []*observe.Observation
	for i := 0; i < 64; i++ {
		var path, query string
		switch i % 4 {
		case 0:
			path = "/api/v1/accounts/" + strconv.Itoa(100+i)
		case 1:
			path, query = "/api/v1/transactions", "limit=10&offset="+strconv.Itoa(i)
		case 2:
			path = "/api/v1/users/" + strconv.Itoa(i)
		case 3:
			path = fmt.Sprintf("/internal/items/%d/parts/%x", i, 1<<40+i)
		}
		o := &observe.Observation{Time: time.Unix(1_700_000_000+int64(i), 0), Method: "GET", Path: path, RawQuery: query,
			Host: "api.example.com", Status: 200, Upstreamed: true, RequestHeader: hdr, ResponseContentType: "application/json",
			ResponseBody: body, Latency: time.Duration(i) * time.Millisecond, Principal: strconv.Itoa(i % 7),
			ClientIP: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), Credential: "jti:x"}
		Match(o, "demobank", spec)
		out = append(out, o)
	}
	return out
}

// BenchmarkInventoryObserve is the inventory's cost per exchange, on the
// hub's goroutine (off the request path).
func BenchmarkInventoryObserve(b *testing.B) {
	obs := benchObservations(b)
	inv := New(Options{})
	for _, o := range obs { // warm: endpoints exist, first samples taken
		for range DefaultSampleFirst {
			inv.Observe(o)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		inv.Observe(obs[i%len(obs)])
	}
}

// vmRSS reads the resident set size from /proc/self/status, in bytes
// (0 where there is none).
func vmRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestMillionClientsMemory replays 1,000,000 exchanges from distinct
// client addresses and principals (100,000 under the race detector):
// the distinct counters are sketches, so the inventory's memory does not
// grow with the clients. It asserts a bound a leak would break, not a
// speed.
func TestMillionClientsMemory(t *testing.T) {
	n := 1_000_000
	if raceEnabled {
		n = 100_000
	}
	obs := benchObservations(t)
	inv := New(Options{})
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < n; i++ {
		o := obs[i%len(obs)]
		o.ClientIP = netip.AddrFrom4([4]byte{byte(10 + i>>24), byte(i >> 16), byte(i >> 8), byte(i)})
		o.Principal = "user-" + strconv.Itoa(i)
		inv.Observe(o)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	rep := inv.Report(Filter{})
	var endpoints int
	var clients uint64
	for _, e := range rep.APIs[0].Endpoints {
		if e.Count > 0 {
			endpoints++
			clients += e.Clients
		}
	}
	t.Logf("%d exchanges from %d distinct clients over %d endpoints: heap growth %.1f MiB, heap in use %.1f MiB, VmRSS %.1f MiB; estimated distinct clients summed over endpoints %d",
		n, n, endpoints, float64(heap)/(1<<20), float64(after.HeapAlloc)/(1<<20), float64(vmRSS())/(1<<20), clients)
	if heap > 200<<20 {
		t.Errorf("the inventory grew the heap by %d MiB for %d distinct clients, want under 200 MiB", heap>>20, n)
	}
	if rel := float64(clients)/float64(n) - 1; rel < -0.1 || rel > 0.1 {
		t.Errorf("distinct clients summed over endpoints = %d, want %d within 10 %%", clients, n)
	}
	runtime.KeepAlive(inv)
}
