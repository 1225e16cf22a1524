package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// passRatio is the target for apiguard's pass-through throughput relative
// to the bare ReverseProxy.
const passRatio = 0.95

// results are the wrk runs of every target, one per round.
type results struct {
	targets []target
	runs    map[string][]wrkResult
}

// add records one run of target name.
func (r *results) add(name string, res wrkResult) {
	if r.runs == nil {
		r.runs = map[string][]wrkResult{}
	}
	r.runs[name] = append(r.runs[name], res)
}

// medianRPS returns the median requests/sec of target name.
func (r *results) medianRPS(name string) float64 {
	return median(r.field(name, func(w wrkResult) float64 { return w.ReqPerSec }))
}

// field returns one field of every run of target name.
func (r *results) field(name string, f func(wrkResult) float64) []float64 {
	var out []float64
	for _, w := range r.runs[name] {
		out = append(out, f(w))
	}
	return out
}

// keyRatio returns apiguard-passthrough / base on medians, and the same
// ratio round by round. base is the bare proxy, with or without a buffer
// pool (the pooled one is the stricter baseline).
func (r *results) keyRatio(base string) (float64, []float64) {
	g, b := r.runs[targetPassthrough], r.runs[base]
	var per []float64
	for i := range min(len(g), len(b)) {
		per = append(per, ratio(g[i].ReqPerSec, b[i].ReqPerSec))
	}
	return ratio(r.medianRPS(targetPassthrough), r.medianRPS(targetBareProxy)), per
}

// median returns the median of xs, 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// ratio returns a/b, 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// machine describes where the bench ran.
type machine struct {
	CPUs    int
	CPU     string
	Go      string
	Wrk     string
	LoadAvg string
	Date    time.Time
}

// thisMachine returns the machine the bench runs on; wrk is wrk's version.
func thisMachine(wrk string) machine {
	return machine{
		CPUs:    runtime.NumCPU(),
		CPU:     cpuModel("/proc/cpuinfo"),
		Go:      runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		Wrk:     wrk,
		LoadAvg: loadAvg("/proc/loadavg"),
		Date:    time.Now().UTC(),
	}
}

// cpuModel returns the first "model name" of a /proc/cpuinfo file.
func cpuModel(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// loadAvg returns the 1, 5 and 15 minute load averages of /proc/loadavg.
func loadAvg(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// writeReport writes the results as markdown.
func writeReport(w io.Writer, m machine, load wrkLoad, rounds int, r *results) {
	fmt.Fprintf(w, "## apiguard load bench, %s\n\n", m.Date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "- machine: %d CPUs, %s; load average before the run: %s\n", m.CPUs, m.CPU, m.LoadAvg)
	fmt.Fprintf(w, "- %s, %s\n", m.Go, m.Wrk)
	fmt.Fprintf(w, "- load: wrk -t%d -c%d -d%s --latency, GET, %d rounds alternating targets, 1 s warm-up per target\n",
		load.Threads, load.Connections, load.Duration, rounds)
	fmt.Fprintf(w, "- wrk, proxy and upstream share the same %d CPUs over loopback; compare ratios, not absolute numbers\n", m.CPUs)
	fmt.Fprint(w, "- apiguard-passthrough writes its access log to a file, as in production; apiguard-demobank (the example config) writes it to stdout, redirected to a file\n\n")

	fmt.Fprint(w, "| target |")
	for i := range rounds {
		fmt.Fprintf(w, " round %d req/s |", i+1)
	}
	fmt.Fprint(w, " median req/s | p50 | p99 | vs direct upstream | errors |\n|---|")
	fmt.Fprint(w, strings.Repeat("---:|", rounds+5)+"\n")
	for _, t := range r.targets {
		writeRow(w, t, rounds, r)
	}
	for _, base := range []string{targetBareProxy, targetBarePooled} {
		if _, ok := r.runs[base]; !ok {
			continue
		}
		key, per := r.keyRatio(base)
		verdict := "PASS"
		if key < passRatio {
			verdict = "FAIL"
		}
		perS := make([]string, len(per))
		for i, p := range per {
			perS[i] = fmt.Sprintf("%.3f", p)
		}
		fmt.Fprintf(w, "\n**apiguard-passthrough / %s = %.3f** (per round: %s): **%s** (target ≥ %.2f)\n",
			base, key, strings.Join(perS, ", "), verdict, passRatio)
	}
}

// writeRow writes one target's table row.
func writeRow(w io.Writer, t target, rounds int, r *results) {
	runs := r.runs[t.Name]
	fmt.Fprintf(w, "| %s |", t.Name)
	for i := range rounds {
		if i < len(runs) {
			fmt.Fprintf(w, " %.0f |", runs[i].ReqPerSec)
		} else {
			fmt.Fprint(w, " - |")
		}
	}
	p50 := median(r.field(t.Name, func(w wrkResult) float64 { return float64(w.P50) }))
	p99 := median(r.field(t.Name, func(w wrkResult) float64 { return float64(w.P99) }))
	vs := "1.000"
	if t.Baseline != "" {
		vs = fmt.Sprintf("%.3f (of %s)", ratio(r.medianRPS(t.Name), r.medianRPS(t.Baseline)), t.Baseline)
	}
	var errs int64
	for _, run := range runs {
		errs += run.errors()
	}
	fmt.Fprintf(w, " %.0f | %s | %s | %s | %d |\n", r.medianRPS(t.Name),
		fmtLatency(time.Duration(p50)), fmtLatency(time.Duration(p99)), vs, errs)
}

// fmtLatency formats a latency in the unit that suits it.
func fmtLatency(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}
