package main

import (
	"os"
	"path/filepath"
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
		name    string
		load    wrkLoad
		headers []string
		want    string
	}{
		{"defaults", wrkLoad{Threads: 2, Connections: 32, Duration: 10 * time.Second}, nil,
			"-t 2 -c 32 -d 10s --latency http://x/"},
		{"rounds up to whole seconds", wrkLoad{Threads: 1, Connections: 4, Duration: 1500 * time.Millisecond}, nil,
			"-t 1 -c 4 -d 2s --latency http://x/"},
		{"header", wrkLoad{Threads: 2, Connections: 8, Duration: time.Second}, []string{"Authorization: Bearer t"},
			"-t 2 -c 8 -d 1s --latency -H Authorization: Bearer t http://x/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(tt.load.args("http://x/", tt.headers), " ")
			if got != tt.want {
				t.Errorf("args(%+v) = %q, want %q", tt.load, got, tt.want)
			}
		})
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
		r.add(targetBareProxy, wrkResult{ReqPerSec: v})
	}
	for _, v := range []float64{95, 108, 99} {
		r.add(targetPassthrough, wrkResult{ReqPerSec: v})
	}
	got, per := r.keyRatio(targetBareProxy)
	if want := 99.0 / 110; got != want {
		t.Errorf("keyRatio() = %v, want %v", got, want)
	}
	if want := []float64{0.95, 0.9, 0.9}; len(per) != 3 || per[0] != want[0] || per[1] != want[1] || per[2] != want[2] {
		t.Errorf("keyRatio() per round = %v, want %v", per, want)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    string
		want    options
		wantErr bool
	}{
		{"", options{load: wrkLoad{Threads: 2, Connections: 32, Duration: 10 * time.Second}, rounds: 3}, false},
		{"-duration 3s -rounds 1 -connections 8 -threads 1 -out r.md",
			options{load: wrkLoad{Threads: 1, Connections: 8, Duration: 3 * time.Second}, rounds: 1, out: "r.md"}, false},
		{"-duration 500ms", options{}, true},
		{"-rounds 0", options{}, true},
		{"-threads 4 -connections 2", options{}, true},
		{"extra", options{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			got, err := parseFlags(strings.Fields(tt.args))
			if (err != nil) != tt.wantErr || got != tt.want {
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
