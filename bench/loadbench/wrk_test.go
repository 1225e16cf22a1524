package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	tests := []struct {
		file string
		want wrkResult
	}{
		{"wrk-direct.txt", wrkResult{Requests: 39385, ReqPerSec: 9672.00, P50: 1150 * time.Microsecond, P99: 818250 * time.Microsecond}},
		{"wrk-errors.txt", wrkResult{Requests: 16591, ReqPerSec: 7866.80, P50: 3300 * time.Microsecond, P99: 32020 * time.Microsecond, Non2xx: 16591}},
		{"wrk-socket-errors.txt", wrkResult{Requests: 32462, ReqPerSec: 10752.48, P50: 636 * time.Microsecond, P99: 7030 * time.Microsecond, SocketErrors: 32 + 96688}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseWrk(string(b))
			if err != nil {
				t.Fatalf("parseWrk(%s) error: %v", tt.file, err)
			}
			if got != tt.want {
				t.Errorf("parseWrk(%s) = %+v, want %+v", tt.file, got, tt.want)
			}
		})
	}
}

func TestParseWrkErrors(t *testing.T) {
	sample, err := os.ReadFile(filepath.Join("testdata", "wrk-direct.txt"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, in, wantErr string
	}{
		{"empty", "", "no Requests/sec"},
		{"no latency distribution", dropLines(string(sample), "50%", "99%"), "no 50% and 99%"},
		{"no requests/sec", dropLines(string(sample), "Requests/sec:"), "no Requests/sec"},
		{"bad unit", strings.Replace(string(sample), "818.25ms", "818.25xs", 1), "want a non-negative number and a unit"},
		{"bad rate", strings.Replace(string(sample), "9672.00", "96x2", 1), "parsing wrk line"},
		{"bad socket errors", string(sample) + "  Socket errors: connect 0, read\n", "name count pairs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseWrk(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseWrk(%s) error = %v, want one containing %q", tt.name, err, tt.wantErr)
			}
		})
	}
}

// dropLines removes the lines of s whose first field is one of prefixes.
func dropLines(s string, prefixes ...string) string {
	var kept []string
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		drop := false
		for _, p := range prefixes {
			if len(f) > 0 && f[0] == p {
				drop = true
			}
		}
		if !drop {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "\n")
}

func TestParseLatency(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"636.00us", 636 * time.Microsecond, false},
		{"1.15ms", 1150 * time.Microsecond, false},
		{"818.25ms", 818250 * time.Microsecond, false},
		{"2.01s", 2010 * time.Millisecond, false},
		{"1.50m", 90 * time.Second, false},
		{"1.00h", time.Hour, false},
		{"0.00us", 0, false},
		{"12", 0, true},
		{"ms", 0, true},
		{"-1.00ms", 0, true},
		{"1.0ns", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseLatency(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseLatency(%q) = %v, %v, want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestWrkLoadArgs(t *testing.T) {
	tests := []struct {
		name string
		load wrkLoad
		req  request
		want string
	}{
		{"defaults", wrkLoad{Threads: 2, Connections: 32, Duration: 10 * time.Second}, request{URL: "http://x/"},
			"-t 2 -c 32 -d 10s --latency http://x/"},
		{"rounds up to whole seconds", wrkLoad{Threads: 1, Connections: 4, Duration: 1500 * time.Millisecond}, request{URL: "http://x/"},
			"-t 1 -c 4 -d 2s --latency http://x/"},
		{"header", wrkLoad{Threads: 2, Connections: 8, Duration: time.Second}, request{URL: "http://x/", Headers: []string{"Authorization: Bearer t"}},
			"-t 2 -c 8 -d 1s --latency -H Authorization: Bearer t http://x/"},
		{"script", wrkLoad{Threads: 2, Connections: 8, Duration: time.Second},
			request{Method: "POST", URL: "http://x/", Headers: []string{"Host: a"}, Body: []byte("{}"), Script: "/tmp/post.lua"},
			"-t 2 -c 8 -d 1s --latency -H Host: a -s /tmp/post.lua http://x/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(tt.load.args(tt.req), " ")
			if got != tt.want {
				t.Errorf("args(%+v) = %q, want %q", tt.load, got, tt.want)
			}
		})
	}
}

func TestLuaString(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", `""`},
		{"POST", `"POST"`},
		{`{"a":"b"}`, `"{\"a\":\"b\"}"`},
		{`back\slash`, `"back\\slash"`},
		{"line\nbreak\ttab", `"line\010break\009tab"`},
		{"]]==]", `"]]==]"`},
		{"caf\u00e9", `"caf\195\169"`},
		{"\x00\x7f", `"\000\127"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := luaString([]byte(tt.in)); got != tt.want {
				t.Errorf("luaString(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestWrkScript(t *testing.T) {
	got := wrkScript("POST", "application/json", []byte(`{"memo":"it's"}`))
	want := "-- written by loadbench\nwrk.method = \"POST\"\nwrk.body = \"{\\\"memo\\\":\\\"it's\\\"}\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
	if got != want {
		t.Errorf("wrkScript() = %q, want %q", got, want)
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{5}, 5},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
	}
	for _, tt := range tests {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestKeyRatio(t *testing.T) {
	var r results
	for _, v := range []float64{100, 120, 110} {
		r.add(shapeGet, targetBarePooled, wrkResult{ReqPerSec: v})
		r.add(shapeGet, targetBareProxy, wrkResult{ReqPerSec: 2 * v})
	}
	for _, v := range []float64{95, 108, 99} {
		r.add(shapeGet, targetPassthrough, wrkResult{ReqPerSec: v})
		r.add(shapePost, targetPassthrough, wrkResult{ReqPerSec: 1})
	}
	got, per := r.keyRatio(shapeGet, shapeGet, targetPassthrough, targetBarePooled)
	if want := 99.0 / 110; got != want {
		t.Errorf("keyRatio() = %v, want %v", got, want)
	}
	if want := []float64{0.95, 0.9, 0.9}; len(per) != 3 || per[0] != want[0] || per[1] != want[1] || per[2] != want[2] {
		t.Errorf("keyRatio() per round = %v, want %v", per, want)
	}
	if got, per := r.keyRatio(shapePost, shapePost, targetPassthrough, targetBarePooled); got != 0 || len(per) != 0 {
		t.Errorf("keyRatio(POST, no baseline runs) = %v, %v, want 0, none", got, per)
	}
}

func TestRatioCheckVerdict(t *testing.T) {
	ms := time.Millisecond
	var r results
	for i := range 3 {
		r.add(shapePost, targetNginxModSec, wrkResult{ReqPerSec: 100, P99: 400 * ms})
		r.add(shapePost, targetDemobank, wrkResult{ReqPerSec: float64(1500 + i), P99: 20 * ms})
		r.add(shapeGet, targetNginxModSec, wrkResult{ReqPerSec: 1000, P99: 40 * ms})
		r.add(shapeGet, targetDemobank, wrkResult{ReqPerSec: 4000, P99: 60 * ms})
		r.add(shapeGet, targetPassthrough, wrkResult{ReqPerSec: 9000})
	}
	tests := []struct {
		name  string
		check ratioCheck
		want  string // substring; "" wants no line
	}{
		{"pass", ratioCheck{Shape: shapePost, Num: targetDemobank, Den: targetNginxModSec, Min: 10, LowerP99: true},
			"JSON POST: **apiguard-demobank / nginx-modsecurity = 15.0** (per round: 15.0, 15.0, 15.0), p99 20.00 ms vs 400.00 ms: **PASS** (target ≥ 10, lower p99)"},
		{"ratio met, p99 higher", ratioCheck{Shape: shapeGet, Num: targetDemobank, Den: targetNginxModSec, Min: 3, LowerP99: true},
			"= 4.000** (per round: 4.000, 4.000, 4.000), p99 60.00 ms vs 40.00 ms: **FAIL**"},
		{"ratio below", ratioCheck{Shape: shapeGet, Num: targetDemobank, Den: targetPassthrough, Min: 0.5},
			"= 0.444** (per round: 0.444, 0.444, 0.444): **FAIL** (target ≥ 0.5)"},
		{"no target", ratioCheck{Shape: shapeGet, Num: targetPassthrough, Den: targetDemobank},
			"= 2.250** (per round: 2.250, 2.250, 2.250) (no target)"},
		{"not measured", ratioCheck{Shape: shapePost, Num: targetDemobank, Den: targetCoraza, Min: 1}, ""},
		{"across shapes", ratioCheck{Shape: shapePost, DenShape: shapeGet, Num: targetDemobank, Den: targetNginxModSec},
			"apiguard-demobank JSON POST / nginx-modsecurity GET: **1.501** (per round: 1.500, 1.501, 1.502) (no target)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.check.verdict(&r)
			if ok != (tt.want != "") || !strings.Contains(got, tt.want) {
				t.Errorf("verdict(%+v) = %q, %v, want one containing %q", tt.check, got, ok, tt.want)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    string
		want    options
		wantErr bool
	}{
		{"", options{load: wrkLoad{Threads: 2, Connections: 32, Duration: 10 * time.Second}, rounds: 3, peers: true}, false},
		{"-duration 3s -rounds 1 -connections 8 -threads 1 -out r.md",
			options{load: wrkLoad{Threads: 1, Connections: 8, Duration: 3 * time.Second}, rounds: 1, out: "r.md", peers: true}, false},
		{"-peers=false", options{load: wrkLoad{Threads: 2, Connections: 32, Duration: 10 * time.Second}, rounds: 3, peersSet: true}, false},
		{"-peers", options{load: wrkLoad{Threads: 2, Connections: 32, Duration: 10 * time.Second}, rounds: 3, peers: true, peersSet: true}, false},
		{"-targets apiguard-passthrough,bare-proxy-pooled", options{load: wrkLoad{Threads: 2, Connections: 32, Duration: 10 * time.Second}, rounds: 3, peers: true,
			only: map[string]bool{"apiguard-passthrough": true, "bare-proxy-pooled": true}}, false},
		{"-targets nosuch", options{}, true},
		{"-duration 500ms", options{}, true},
		{"-rounds 0", options{}, true},
		{"-threads 4 -connections 2", options{}, true},
		{"extra", options{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			got, err := parseFlags(strings.Fields(tt.args))
			if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseFlags(%q) = %+v, %v, want %+v, error %v", tt.args, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestCPUModel(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "cpuinfo")
	in := "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\nflags\t\t: fpu\n"
	if err := os.WriteFile(p, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, want := cpuModel(p), "Intel(R) Xeon(R) CPU @ 2.20GHz"; got != want {
		t.Errorf("cpuModel(%q) = %q, want %q", in, got, want)
	}
	if got, want := cpuModel(filepath.Join(dir, "missing")), "unknown"; got != want {
		t.Errorf("cpuModel(missing) = %q, want %q", got, want)
	}
}
