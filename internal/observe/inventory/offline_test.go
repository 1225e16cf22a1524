package inventory

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/observe"
)

func TestReadHAR(t *testing.T) {
	f, err := os.Open("testdata/small.har")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	spec := mustSpec(t, shopSpec)
	inv := New(Options{})
	inv.SetSpec("shop", spec)
	read, skipped, err := ReadHAR(f, func(o *observe.Observation) {
		Match(o, "shop", spec)
		inv.Observe(o)
	})
	if err != nil || read != 5 || skipped != 1 {
		t.Fatalf("ReadHAR() = %d read, %d skipped, %v; want 5, 1 (the ftp URL), nil", read, skipped, err)
	}
	r := inv.Report(Filter{}).APIs[0]
	users := find(t, r, "GET", "/api/v1/users/{userId}")
	if !slices.Equal(users.Auth, []string{"bearer"}) || !slices.Equal(users.Sensitive, []string{"email", "ssn"}) ||
		users.Latency == nil || users.Latency.Max != 12.5 || users.LastSeen != time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC) {
		t.Errorf("getUser from HAR = auth %v sensitive %v latency %+v last %v", users.Auth, users.Sensitive, users.Latency, users.LastSeen)
	}
	var headers []string
	for _, p := range users.Parameters {
		if p.In == "header" {
			headers = append(headers, p.Name+":"+strings.Join(p.Type.Names(), ","))
		}
	}
	if !slices.Equal(headers, []string{"X-Tenant:integer"}) {
		t.Errorf("getUser headers = %v, want X-Tenant (pseudo-headers and Authorization left out)", headers)
	}
	if b := users.Responses[0].Body; b == nil || b.Properties["created_at"].Format != "date-time" {
		t.Errorf("getUser answer schema = %+v, want created_at date-time", b)
	}
	v0 := find(t, r, "GET", "/api/v0/users/{userId}")
	if !slices.Equal(v0.Classes, []string{ClassShadow, ClassZombie, ClassUnauthenticated, ClassSensitive}) ||
		!slices.Equal(v0.Sensitive, []string{"password_hash"}) {
		t.Errorf("v0 from HAR = %v %v, want shadow zombie unauthenticated sensitive (password_hash, from the base64 body)", v0.Classes, v0.Sensitive)
	}
	orders := find(t, r, "POST", "/api/v1/orders")
	if orders.RequestBody == nil || !orders.RequestBody.Properties["qty"].Type.Has("integer") ||
		orders.Responses[0].Status != 201 || orders.Responses[0].Body.Properties["id"].Format != "uuid" {
		t.Errorf("createOrder from HAR = %+v", orders)
	}
	if e := find(t, r, "GET", "/internal/debug"); !e.Has(ClassShadow) {
		t.Errorf("debug from HAR = %v, want shadow", e.Classes)
	}
	if r.Unanswered != 1 {
		t.Errorf("Unanswered = %d, want 1 (the 404)", r.Unanswered)
	}
}

func TestReadHARErrors(t *testing.T) {
	for _, in := range []string{``, `[]`, `{"log":{"version":"1.2"}}`, `{"log":{"entries":[{"request":{"method":"GET","url":"https://a/"}`, `{"log":{"entries":{}}}`} {
		if _, _, err := ReadHAR(strings.NewReader(in), func(*observe.Observation) {}); err == nil {
			t.Errorf("ReadHAR(%q) = nil error, want one", in)
		}
	}
}

// TestReadAccessLog reads lines written by the real access log writer.
func TestReadAccessLog(t *testing.T) {
	var buf bytes.Buffer
	rec := events.NewRecorder(events.RecorderOptions{AccessLog: &buf})
	base := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	lines := []events.Access{
		{Time: base, API: "shop", Method: "GET", Path: "/api/v1/users/1", ClientIP: "192.0.2.1", Principal: "1", Status: 200,
			Latency: 3 * time.Millisecond, Upstream: "up:8080", Verdict: "allow"},
		{Time: base, API: "shop", Method: "GET", Path: "/api/v1/users/2", ClientIP: "192.0.2.2", Principal: "2", Status: 200,
			Upstream: "up:8080", Verdict: "observe", Guard: "dlp", Rule: "dlp.ssn"},
		{Time: base, API: "shop", Method: "GET", Path: "/api/v1/orders", Query: "limit=5&access_token=secret", ClientIP: "192.0.2.3",
			Status: 200, Upstream: "up:8080"},
		{Time: base, API: "shop", Method: "GET", Path: "/internal/debug", ClientIP: "192.0.2.3", Status: 200, Upstream: "up:8080"},
		{Time: base, API: "shop", Method: "GET", Path: "/internal/other", ClientIP: "192.0.2.3", Status: 403, Verdict: "block", Guard: "authz", Rule: "authz.unknown_operation"},
		{Time: base, API: "other", Method: "GET", Path: "/x", ClientIP: "192.0.2.3", Status: 200, Upstream: "up:8080"},
	}
	for i := range lines {
		rec.Access(&lines[i])
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	buf.WriteString("not json\n{\"time\":\"2025-03-04T05:06:07Z\",\"kind\":\"guard\",\"rule\":\"waf.1\"}\n\n")
	spec := mustSpec(t, shopSpec)
	inv := New(Options{})
	read, skipped, err := ReadAccessLog(&buf, func(o *observe.Observation) {
		if o.API == "shop" {
			Match(o, "shop", spec)
		}
		inv.Observe(o)
	})
	if err != nil || read != 6 || skipped != 2 {
		t.Fatalf("ReadAccessLog() = %d, %d, %v; want 6 read, 2 skipped", read, skipped, err)
	}
	rep := inv.Report(Filter{})
	if len(rep.APIs) != 2 {
		t.Fatalf("APIs = %d, want other and shop", len(rep.APIs))
	}
	r := rep.APIs[1]
	users := find(t, r, "GET", "/api/v1/users/{userId}")
	if users.Count != 2 || users.Principals != 2 || users.Clients != 2 || !users.Has(ClassSensitive) || users.Has(ClassUnauthenticated) {
		t.Errorf("getUser from the access log = %+v", users)
	}
	orders := find(t, r, "GET", "/api/v1/orders")
	// No headers in the access log: without a principal, whether the
	// caller sent credentials is unknown, so it is not "unauthenticated".
	if orders.Has(ClassUnauthenticated) || len(orders.Parameters) != 2 || orders.Parameters[0].Name != "access_token" {
		t.Errorf("listOrders from the access log = %v %+v", orders.Classes, orders.Parameters)
	}
	if e := find(t, r, "GET", "/internal/debug"); !e.Has(ClassShadow) || e.Latency == nil {
		t.Errorf("debug from the access log = %+v", e)
	}
	if r.Unanswered != 1 {
		t.Errorf("Unanswered = %d, want 1 (the blocked undocumented path)", r.Unanswered)
	}
	if _, _, err := ReadAccessLog(strings.NewReader(strings.Repeat("x", maxLine+10)), func(*observe.Observation) {}); err == nil {
		t.Errorf("ReadAccessLog(an over-long line) = nil error, want one")
	}
}

func FuzzReadHAR(f *testing.F) {
	seed, err := os.ReadFile("testdata/small.har")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"log":{"entries":[{"request":{"method":"GET","url":"https://a/b/1?x=1"},"response":{"status":200,"content":{"mimeType":"application/json","text":"[1,{\"a\":null}]"}}}]}}`))
	f.Add([]byte(`{"log":{"entries":[{"request":{"method":"PUT","url":"http://h/%zz"},"response":{"content":{"encoding":"base64","text":"!!"}}}]}}`))
	spec := mustSpec(f, shopSpec)
	f.Fuzz(func(t *testing.T, data []byte) {
		inv := New(Options{MaxEndpoints: 50, MaxLiterals: 4})
		_, _, _ = ReadHAR(bytes.NewReader(data), func(o *observe.Observation) {
			Match(o, "shop", spec)
			inv.Observe(o)
		})
		rep := inv.Report(Filter{})
		for _, a := range rep.APIs {
			if len(a.Endpoints) > 50+len(spec.Operations) {
				t.Fatalf("%d endpoints past the bound", len(a.Endpoints))
			}
			Export(&a)
		}
	})
}

func FuzzReadAccessLog(f *testing.F) {
	f.Add([]byte(`{"time":"2025-03-04T05:06:07.000Z","kind":"access","api":"a","method":"GET","path":"/u/1","query":"x=1","client_ip":"192.0.2.1","status":200,"latency_ms":1.5,"upstream":"u"}` + "\n"))
	f.Add([]byte("{\"kind\":\"access\",\"method\":\"\",\"path\":\"x\"}\nnot json\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		inv := New(Options{MaxEndpoints: 50})
		_, _, _ = ReadAccessLog(bytes.NewReader(data), inv.Observe)
		inv.Report(Filter{})
	})
}
