package detect

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/observe"
	"github.com/apiguard/apiguard/internal/openapi"
)

// replay feeds o, refilled by fill(i) for i in [from, to), to s, the way
// the hub does: one Observation reused.
func replay(s *Set, from, to int, fill func(o *observe.Observation, i int)) {
	o := &observe.Observation{PathParams: make([]openapi.Param, 0, 1)}
	for i := from; i < to; i++ {
		params := o.PathParams[:0]
		*o = observe.Observation{PathParams: params}
		fill(o, i)
		s.Observe(o)
	}
}

// distinctClient makes observation i come from a client never seen
// before: its own address, principal, credential, object id and, one in
// ten, a failed login with its own username.
func distinctClient(o *observe.Observation, i int) {
	o.Time = t0.Add(time.Duration(i) * time.Millisecond)
	o.API = "demobank"
	o.ClientIP = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	o.Principal = "user-" + strconv.Itoa(i)
	o.AuthMethod = "jwt"
	o.Credential = "jti:" + strconv.Itoa(i)
	o.Method, o.Status, o.BytesOut = "GET", []int{200, 404, 403, 200}[i%4], 2048
	if i%10 == 9 {
		o.Operation, o.Method, o.Status, o.Principal, o.Credential = opLogin, "POST", 401, "", ""
		o.Path, o.RoutePath, o.RequestContentType = "/api/v1/auth/login", "/api/v1/auth/login", "application/json"
		o.RequestBody = []byte(`{"username":"u` + strconv.Itoa(i) + `","password":"x"}`)
		return
	}
	o.Operation = opAccount
	id := strconv.Itoa(i)
	o.PathParams = append(o.PathParams, openapi.Param{Name: "accountId", Value: id})
	o.Path = "/api/v1/accounts/" + id
	o.RoutePath = o.Path
	if i%10 == 5 { // an undocumented path
		o.Operation, o.PathParams = nil, o.PathParams[:0]
		o.Path, o.RoutePath = "/internal/things/"+id, "/internal/things/"+id
	}
}

// memStatus returns VmRSS and VmHWM (peak) from /proc/self/status, in
// bytes; 0 where unavailable.
func memStatus() (rss, peak uint64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			peak = kb << 10
		}
	}
	return rss, peak
}

// TestMemoryBounded replays one million distinct clients (addresses,
// principals, credentials, object ids, usernames) through every detector
// with the default bounds and reports the memory held. The assertion is
// a generous bound that a leak (state growing with the clients) would
// break: with 1e6 clients and 100 000 keys per table, it does not.
//
//	go test -run TestMemoryBounded -v ./internal/observe/detect
func TestMemoryBounded(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 200_000
	}
	cfg := config.DefaultDetectors()
	cfg.FirstSight.Learn = 0
	s, k := newSet(t, cfg, nil)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start, cpu := time.Now(), cpuTime()
	replay(s, 0, n, distinctClient)
	took, cpu := time.Since(start), cpuTime()-cpu
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	rss, peak := memStatus()
	keys := s.Keys()
	t.Logf("%d distinct clients in %v wall, %v CPU (%.0f CPU ns/observation, GC included), %d events", n,
		took.Round(time.Millisecond), cpu.Round(time.Millisecond), float64(cpu.Nanoseconds())/float64(n), k.len())
	t.Logf("keys tracked: %v", keys)
	t.Logf("heap in use after GC: %.1f MiB (%.1f MiB before); VmRSS %.1f MiB, VmHWM %.1f MiB",
		mib(after.HeapInuse), mib(before.HeapInuse), mib(rss), mib(peak))
	for name, v := range keys {
		limit := cfg.MaxKeys
		switch name {
		case NameCredentialStuffing:
			limit = 2 * cfg.MaxKeys
		case NameFirstSight:
			limit = 3 * cfg.FirstSight.MaxSeen
		}
		if v > limit {
			t.Errorf("%s tracks %d keys, want at most %d", name, v, limit)
		}
	}
	const bound = 300 << 20
	if after.HeapInuse > bound {
		t.Errorf("heap in use = %.1f MiB after %d clients, want under %.0f MiB", mib(after.HeapInuse), n, mib(bound))
	}
	if rss > bound && !raceEnabled { // the race detector's shadow memory is in the RSS
		t.Errorf("VmRSS = %.1f MiB after %d clients, want under %.0f MiB", mib(rss), n, mib(bound))
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// BenchmarkDetectorsObserve is the cost of one observation through every
// detector (on the hub's goroutine, off the request path), on a mix of
// 20 000 returning clients: account reads (mostly their own ids), 5 %
// failed logins, 5 % undocumented paths.
//
//	go test -run x -bench DetectorsObserve -benchmem ./internal/observe/detect
func BenchmarkDetectorsObserve(b *testing.B) {
	cfg := config.DefaultDetectors()
	cfg.FirstSight.Learn = 0
	k := &sink{}
	s, err := New(cfg, newServices(k))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	const clients = 20_000
	r := rand.New(rand.NewPCG(1, 2))
	principals := make([]string, clients)
	creds := make([]string, clients)
	ids := make([]string, 64)
	for i := range principals {
		principals[i], creds[i] = "user-"+strconv.Itoa(i), "jti:"+strconv.Itoa(i)
	}
	for i := range ids {
		ids[i] = strconv.Itoa(100 + i)
	}
	bodies := make([][]byte, 256)
	for i := range bodies {
		bodies[i] = []byte(fmt.Sprintf(`{"username":"u%d","password":"x"}`, i))
	}
	o := &observe.Observation{PathParams: make([]openapi.Param, 0, 1)}
	b.ReportAllocs()
	cpu := cpuTime()
	n := 0
	for i := 0; b.Loop(); i++ {
		n++
		c := r.IntN(clients)
		params := o.PathParams[:0]
		*o = observe.Observation{PathParams: params, Time: t0.Add(time.Duration(i) * time.Millisecond), API: "demobank",
			ClientIP: netip.AddrFrom4([4]byte{10, 1, byte(c >> 8), byte(c)}), Principal: principals[c], AuthMethod: "jwt",
			Credential: creds[c], Method: "GET", Status: 200, BytesOut: 1500}
		switch x := r.IntN(100); {
		case x < 5:
			o.Operation, o.Method, o.Status, o.Principal, o.Credential = opLogin, "POST", 401, "", ""
			o.RequestContentType, o.RequestBody = "application/json", bodies[r.IntN(len(bodies))]
		case x < 10:
			o.RoutePath = "/internal/things/" + ids[r.IntN(len(ids))]
		default:
			o.Operation = opAccount
			o.PathParams = append(o.PathParams, openapi.Param{Name: "accountId", Value: ids[r.IntN(len(ids))]})
		}
		s.Observe(o)
	}
	// CPU time per observation: on a busy machine, ns/op counts waiting.
	b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(n), "cpu-ns/op")
	b.ReportMetric(float64(k.len()), "events")
}
