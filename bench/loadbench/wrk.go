package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// wrkResult is what one wrk run measured.
type wrkResult struct {
	// Requests is the number of completed requests.
	Requests int64
	// ReqPerSec is wrk's "Requests/sec".
	ReqPerSec float64
	// P50 and P99 are the latency percentiles of --latency.
	P50, P99 time.Duration
	// Non2xx counts responses with a status outside 2xx and 3xx.
	Non2xx int64
	// SocketErrors sums connect, read, write and timeout errors.
	SocketErrors int64
}

// errors returns the number of failed requests of r.
func (r wrkResult) errors() int64 { return r.Non2xx + r.SocketErrors }

// wrkLoad is the load wrk applies; every target gets the same.
type wrkLoad struct {
	Threads     int
	Connections int
	Duration    time.Duration
}

// args returns wrk's arguments for req: its headers, its script (which
// sets the method and the body) and its URL.
func (l wrkLoad) args(req request) []string {
	secs := int((l.Duration + time.Second - 1) / time.Second)
	args := []string{
		"-t", strconv.Itoa(l.Threads),
		"-c", strconv.Itoa(l.Connections),
		"-d", strconv.Itoa(secs) + "s",
		"--latency",
	}
	for _, h := range req.Headers {
		args = append(args, "-H", h)
	}
	if req.Script != "" {
		args = append(args, "-s", req.Script)
	}
	return append(args, req.URL)
}

// wrkScript returns a wrk Lua script that sends method with body and its
// Content-Type on every request (wrk adds Content-Length).
func wrkScript(method, contentType string, body []byte) string {
	return fmt.Sprintf("-- written by loadbench\nwrk.method = %s\nwrk.body = %s\nwrk.headers[\"Content-Type\"] = %s\n",
		luaString([]byte(method)), luaString(body), luaString([]byte(contentType)))
}

// luaString returns b as a double-quoted Lua string literal: printable
// ASCII as is except quote and backslash, every other byte as a decimal
// escape (valid in Lua 5.1 and LuaJIT, which wrk embeds).
func luaString(b []byte) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, c := range b {
		switch {
		case c == '"' || c == '\\':
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&sb, "\\%03d", c)
		default:
			sb.WriteByte(c)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}

// runWrk runs wrk with req and parses its report. wrk runs in its own
// process group, killed if ctx ends first.
func runWrk(ctx context.Context, wrk string, load wrkLoad, req request) (wrkResult, error) {
	ctx, cancel := context.WithTimeout(ctx, load.Duration+30*time.Second)
	defer cancel()
	// See children.start: Pdeathsig is tied to the starting thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd := exec.CommandContext(ctx, wrk, load.args(req)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return wrkResult{}, fmt.Errorf("wrk %s %s: %w", req.Method, req.URL, ctx.Err())
		}
		return wrkResult{}, fmt.Errorf("wrk %s %s: %w", req.Method, req.URL, err)
	}
	res, err := parseWrk(string(out))
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s %s: %w\n%s", req.Method, req.URL, err, out)
	}
	return res, nil
}

// parseWrk parses the report wrk prints with --latency.
func parseWrk(out string) (wrkResult, error) {
	var (
		r                 wrkResult
		haveRPS, p50, p99 bool
	)
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		var err error
		switch {
		case f[0] == "Requests/sec:" && len(f) == 2:
			r.ReqPerSec, err = strconv.ParseFloat(f[1], 64)
			haveRPS = err == nil
		case f[0] == "50%" && len(f) == 2:
			r.P50, err = parseLatency(f[1])
			p50 = err == nil
		case f[0] == "99%" && len(f) == 2:
			r.P99, err = parseLatency(f[1])
			p99 = err == nil
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			r.Requests, err = strconv.ParseInt(f[0], 10, 64)
		case f[0] == "Non-2xx" && strings.HasSuffix(f[len(f)-2], "responses:"):
			r.Non2xx, err = strconv.ParseInt(f[len(f)-1], 10, 64)
		case f[0] == "Socket" && len(f) > 1 && f[1] == "errors:":
			r.SocketErrors, err = parseSocketErrors(f[2:])
		}
		if err != nil {
			return wrkResult{}, fmt.Errorf("parsing wrk line %q: %w", sc.Text(), err)
		}
	}
	switch {
	case !haveRPS:
		return wrkResult{}, errors.New("parsing wrk output: no Requests/sec line")
	case !p50 || !p99:
		return wrkResult{}, errors.New("parsing wrk output: no 50% and 99% latency lines (was --latency given?)")
	}
	return r, nil
}

// parseSocketErrors sums "connect 0, read 32, write 96688, timeout 0".
func parseSocketErrors(f []string) (int64, error) {
	if len(f)%2 != 0 {
		return 0, errors.New("want name count pairs")
	}
	var sum int64
	for i := 0; i < len(f); i += 2 {
		n, err := strconv.ParseInt(strings.TrimSuffix(f[i+1], ","), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("socket errors %s: %w", f[i], err)
		}
		sum += n
	}
	return sum, nil
}

// latencyUnits are wrk's time units, longest suffix first so "ms" is not
// read as "s".
var latencyUnits = []struct {
	suffix string
	unit   time.Duration
}{
	{"us", time.Microsecond},
	{"ms", time.Millisecond},
	{"s", time.Second},
	{"m", time.Minute},
	{"h", time.Hour},
}

// parseLatency parses a wrk latency such as "636.00us", "1.15ms" or "2.01s".
func parseLatency(s string) (time.Duration, error) {
	for _, u := range latencyUnits {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("latency %q: want a non-negative number and a unit (us, ms, s, m or h)", s)
		}
		return time.Duration(math.Round(v * float64(u.unit))), nil
	}
	return 0, fmt.Errorf("latency %q: want a non-negative number and a unit (us, ms, s, m or h)", s)
}

// wrkVersion returns wrk's version line, or "unknown".
func wrkVersion(ctx context.Context, wrk string) string {
	// wrk -v prints its version, then the usage, and exits with status 1.
	out, _ := exec.CommandContext(ctx, wrk, "-v").CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	if !strings.HasPrefix(line, "wrk ") {
		return "unknown"
	}
	if v, _, ok := strings.Cut(line, " ["); ok {
		return v
	}
	return line
}

// ensureWrk returns the path of wrk, installing the Debian package when it
// is missing and loadbench runs as root.
func ensureWrk(ctx context.Context) (string, error) {
	if p, err := exec.LookPath("wrk"); err == nil {
		return p, nil
	}
	if os.Geteuid() != 0 {
		return "", errors.New("wrk not found in PATH: install it (Debian/Ubuntu: sudo apt-get install wrk; macOS: brew install wrk) or run loadbench as root to let it install the Debian package")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", errors.New("wrk not found in PATH and apt-get is not available: install wrk (https://github.com/wg/wrk)")
	}
	logf("wrk not found; installing it with apt-get")
	if err := aptInstall(ctx, "wrk"); err != nil {
		return "", fmt.Errorf("installing wrk: %w", err)
	}
	return exec.LookPath("wrk")
}

// aptUpdated records that aptInstall ran apt-get update, which it does
// once per run.
var aptUpdated bool

// aptInstall installs Debian packages with apt-get, non-interactively.
func aptInstall(ctx context.Context, pkgs ...string) error {
	steps := [][]string{append([]string{"install", "-y", "-qq", "--no-install-recommends"}, pkgs...)}
	if !aptUpdated {
		steps = append([][]string{{"update", "-qq"}}, steps...)
	}
	for _, args := range steps {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("apt-get %s: %w", strings.Join(args, " "), err)
		}
		aptUpdated = aptUpdated || args[0] == "update"
	}
	return nil
}
