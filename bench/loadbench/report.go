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

// results are the wrk runs of every target and request shape, one per
// round.
type results struct {
	targets []target
	runs    map[runKey][]wrkResult
}

// runKey names the runs of one target with one request shape.
type runKey struct{ Shape, Target string }

// add records one run of target name with shape.
func (r *results) add(shape, name string, res wrkResult) {
	if r.runs == nil {
		r.runs = map[runKey][]wrkResult{}
	}
	k := runKey{shape, name}
	r.runs[k] = append(r.runs[k], res)
}

// has reports whether target name was measured with shape.
func (r *results) has(shape, name string) bool { return len(r.runs[runKey{shape, name}]) > 0 }

// medianRPS returns the median requests/sec of target name with shape.
func (r *results) medianRPS(shape, name string) float64 {
	return median(r.field(shape, name, func(w wrkResult) float64 { return w.ReqPerSec }))
}

// medianP99 returns the median p99 latency of target name with shape.
func (r *results) medianP99(shape, name string) time.Duration {
	return time.Duration(median(r.field(shape, name, func(w wrkResult) float64 { return float64(w.P99) })))
}

// field returns one field of every run of target name with shape.
func (r *results) field(shape, name string, f func(wrkResult) float64) []float64 {
	var out []float64
	for _, w := range r.runs[runKey{shape, name}] {
		out = append(out, f(w))
	}
	return out
}

// keyRatio returns num's requests/s with numShape / den's with denShape on
// medians, and the same ratio round by round.
func (r *results) keyRatio(numShape, denShape, num, den string) (float64, []float64) {
	g, b := r.runs[runKey{numShape, num}], r.runs[runKey{denShape, den}]
	var per []float64
	for i := range min(len(g), len(b)) {
		per = append(per, ratio(g[i].ReqPerSec, b[i].ReqPerSec))
	}
	return ratio(r.medianRPS(numShape, num), r.medianRPS(denShape, den)), per
}

// ratioCheck is a target on the ratio of two targets' requests/s with one
// request shape.
type ratioCheck struct {
	// Shape is Num's request shape, and Den's unless DenShape is set.
	Shape, DenShape string
	Num, Den        string
	// Min is the lowest passing ratio; 0 reports the ratio without a
	// verdict.
	Min float64
	// LowerP99 also wants Num's median p99 below Den's.
	LowerP99 bool
}

// ratioChecks are the targets the report checks, in order
// (docs/performance.md and issue 5).
var ratioChecks = []ratioCheck{
	{Shape: shapeGet, Num: targetPassthrough, Den: targetBareProxy, Min: 0.95},
	{Shape: shapeGet, Num: targetPassthrough, Den: targetBarePooled, Min: 0.95},
	{Shape: shapePost, Num: targetPassthrough, Den: targetBareProxy, Min: 0.95},
	{Shape: shapePost, Num: targetPassthrough, Den: targetBarePooled, Min: 0.95},
	{Shape: shapeGet, Num: targetPassthrough, Den: targetUnobserved, Min: 0.95},
	{Shape: shapePost, Num: targetPassthrough, Den: targetUnobserved, Min: 0.95},
	{Shape: shapeGet, Num: targetDemobank, Den: targetNginxModSec, Min: 3, LowerP99: true},
	{Shape: shapePost, Num: targetDemobank, Den: targetNginxModSec, Min: 10, LowerP99: true},
	{Shape: shapeTransfer, Num: targetDemobank, Den: targetNginxModSec},
	{Shape: shapeGet, Num: targetDemobank, Den: targetPassthrough, Min: 0.5},
	{Shape: shapePost, Num: targetDemobank, Den: targetPassthrough, Min: 0.5},
	{Shape: shapeTransfer, Num: targetDemobank, Den: targetPassthrough, Min: 0.5},
	{Shape: shapeGet, Num: targetDemobankReplay, Den: targetNginxModSec, Min: 3, LowerP99: true},
	{Shape: shapePost, Num: targetDemobankReplay, Den: targetNginxModSec, Min: 10, LowerP99: true},
	{Shape: shapeTransfer, Num: targetDemobankReplay, Den: targetNginxModSec},
	{Shape: shapeGet, Num: targetDemobankReplay, Den: targetPassthrough, Min: 0.5},
	{Shape: shapePost, Num: targetDemobankReplay, Den: targetPassthrough, Min: 0.5},
	{Shape: shapeTransfer, Num: targetDemobankReplay, Den: targetPassthrough, Min: 0.5},
	{Shape: shapeGet, Num: targetDemobank, Den: targetCoraza},
	{Shape: shapeTransfer, Num: targetDemobank, Den: targetCoraza},
	{Shape: shapeGet, Num: targetCoraza, Den: targetNginxModSec},
	{Shape: shapePost, Num: targetCoraza, Den: targetNginxModSec},
	{Shape: shapeTransfer, Num: targetCoraza, Den: targetNginxModSec},
	{Shape: shapeGet, Num: targetNginxModSec, Den: targetNginxPlain},
	{Shape: shapePost, Num: targetNginxModSec, Den: targetNginxPlain},
}

// verdict returns the check's ratio line for r, and false when either
// target was not measured.
func (c ratioCheck) verdict(r *results) (string, bool) {
	denShape := c.Shape
	if c.DenShape != "" {
		denShape = c.DenShape
	}
	if !r.has(c.Shape, c.Num) || !r.has(denShape, c.Den) {
		return "", false
	}
	v, per := r.keyRatio(c.Shape, denShape, c.Num, c.Den)
	perS := make([]string, len(per))
	for i, p := range per {
		perS[i] = fmtRatio(p)
	}
	line := fmt.Sprintf("%s: **%s / %s = %s** (per round: %s)", c.Shape, c.Num, c.Den, fmtRatio(v), strings.Join(perS, ", "))
	if c.DenShape != "" {
		line = fmt.Sprintf("%s %s / %s %s: **%s** (per round: %s)", c.Num, c.Shape, c.Den, denShape, fmtRatio(v), strings.Join(perS, ", "))
	}
	p99n, p99d := r.medianP99(c.Shape, c.Num), r.medianP99(denShape, c.Den)
	if c.LowerP99 {
		line += fmt.Sprintf(", p99 %s vs %s", fmtLatency(p99n), fmtLatency(p99d))
	}
	if c.Min == 0 {
		return line + " (no target)", true
	}
	pass := v >= c.Min && (!c.LowerP99 || p99n < p99d)
	want := fmt.Sprintf("≥ %g", c.Min)
	if c.LowerP99 {
		want += ", lower p99"
	}
	if pass {
		return line + fmt.Sprintf(": **PASS** (target %s)", want), true
	}
	return line + fmt.Sprintf(": **FAIL** (target %s)", want), true
}

// fmtRatio formats a ratio with three significant decimals below 10.
func fmtRatio(v float64) string {
	if v >= 10 {
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.3f", v)
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
	// LoadAfter is the load average at the end of the run.
	LoadAfter string
	// Commit is the apiguard commit measured.
	Commit string
	// Peers are the versions of the peers' packages.
	Peers string
	Date  time.Time
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

// writeReport writes the results as markdown; notes are how the run
// differed from the defaults.
func writeReport(w io.Writer, m machine, load wrkLoad, rounds int, r *results, notes []string) {
	fmt.Fprintf(w, "## apiguard load bench, %s\n\n", m.Date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "- machine: %d CPUs, %s; load average before the run: %s, after: %s\n", m.CPUs, m.CPU, m.LoadAvg, m.LoadAfter)
	fmt.Fprintf(w, "- apiguard %s; %s, %s\n", m.Commit, m.Go, m.Wrk)
	if m.Peers != "" {
		fmt.Fprintf(w, "- peers: %s\n", m.Peers)
	}
	fmt.Fprintf(w, "- load: wrk -t%d -c%d -d%s --latency, %d rounds, each measuring every target with every request shape in turn, 1 s warm-up each\n",
		load.Threads, load.Connections, load.Duration, rounds)
	fmt.Fprintf(w, "- wrk, proxy and upstream share the same %d CPUs over loopback; compare ratios, not absolute numbers\n", m.CPUs)
	fmt.Fprint(w, "- apiguard-passthrough and nginx write their access logs to files, as in production; apiguard-demobank (the example config) writes it to stdout, redirected to a file\n")
	fmt.Fprintf(w, "- GET: `%s` (upstream and proxies in front of it), `%s` with alice's token (demobank)\n", benchPath, demobankPath)
	fmt.Fprintf(w, "- JSON POST: `%s` with a %d-byte clean JSON body (upstream and proxies in front of it); the same body to `%s` with alice's token (demobank: a transfer order, valid against its TransferOrderRequest schema)\n", benchPostPath, len(jsonPostBody), demobankOrderPath)
	fmt.Fprintf(w, "- transfer POST: `%s` with a %d-byte transfer valid against demobank's schema (which allows no 1 KiB body); with alice's token through demobank, and the same body to the upstream through %s, %s and %s, to compare them on the same body\n",
		demobankPostPath, len(demobankTransferBody), targetPassthrough, targetNginxModSec, targetCoraza)
	fmt.Fprintf(w, "- %s: the same apiguard binary and demobank profile in front of the upstream role replaying demobank's recorded answers to the measured requests (the token issuer is still demobank): the profile's cost without demobank's own; its baseline is direct (the same upstream server)\n", targetDemobankReplay)
	for _, n := range notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
	for _, shape := range shapes {
		fmt.Fprintf(w, "\n### %s\n\n| target |", shape)
		for i := range rounds {
			fmt.Fprintf(w, " round %d req/s |", i+1)
		}
		fmt.Fprint(w, " median req/s | p50 | p99 | vs direct upstream | errors |\n|---|")
		fmt.Fprint(w, strings.Repeat("---:|", rounds+5)+"\n")
		for _, t := range r.targets {
			if r.has(shape, t.Name) {
				writeRow(w, shape, t, rounds, r)
			}
		}
	}
	fmt.Fprint(w, "\n### Ratios\n\n")
	for _, c := range ratioChecks {
		if line, ok := c.verdict(r); ok {
			fmt.Fprintf(w, "- %s\n", line)
		}
	}
}

// writeRow writes one target's table row for shape.
func writeRow(w io.Writer, shape string, t target, rounds int, r *results) {
	runs := r.runs[runKey{shape, t.Name}]
	fmt.Fprintf(w, "| %s |", t.Name)
	for i := range rounds {
		if i < len(runs) {
			fmt.Fprintf(w, " %.0f |", runs[i].ReqPerSec)
		} else {
			fmt.Fprint(w, " - |")
		}
	}
	p50 := median(r.field(shape, t.Name, func(w wrkResult) float64 { return float64(w.P50) }))
	vs := "1.000"
	switch {
	case t.Baseline != "" && !r.has(shape, t.Baseline):
		vs = "—"
	case t.Baseline != "":
		vs = fmt.Sprintf("%.3f (of %s)", ratio(r.medianRPS(shape, t.Name), r.medianRPS(shape, t.Baseline)), t.Baseline)
	}
	var errs int64
	for _, run := range runs {
		errs += run.errors()
	}
	fmt.Fprintf(w, " %.0f | %s | %s | %s | %d |\n", r.medianRPS(shape, t.Name),
		fmtLatency(time.Duration(p50)), fmtLatency(r.medianP99(shape, t.Name)), vs, errs)
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
