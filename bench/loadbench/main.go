// Command loadbench measures apiguard's throughput and latency with wrk,
// against the same upstream served directly and through a bare
// httputil.ReverseProxy, and checks the target "apiguard pass-through ≥
// 0.95× bare ReverseProxy". Run it from the repository root:
//
//	go run ./bench/loadbench [-duration 10s] [-rounds 3] [-connections 32] [-threads 2] [-out results.md]
//
// Every server is a separate process on 127.0.0.1, started by the bench
// (the helper roles "upstream" and "bareproxy" are this program
// re-executed) and stopped at the end, also on error or Ctrl-C.
// docs/performance.md explains the targets and the results.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	load   wrkLoad
	rounds int
	out    string
}

func main() {
	if ok, err := runRole(os.Args[1:]); ok {
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadbench:", err)
			os.Exit(1)
		}
		return
	}
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		stop()
		os.Exit(1)
	}
}

// parseFlags parses and checks the flags.
func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("loadbench", flag.ContinueOnError)
	var o options
	fs.DurationVar(&o.load.Duration, "duration", 10*time.Second, "wrk duration of each target in each round (whole seconds)")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; each measures every target once")
	fs.IntVar(&o.load.Connections, "connections", 32, "wrk connections")
	fs.IntVar(&o.load.Threads, "threads", 2, "wrk threads")
	fs.StringVar(&o.out, "out", "", "also write the markdown report to this file")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	switch {
	case fs.NArg() > 0:
		return options{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.load.Duration < time.Second:
		return options{}, errors.New("-duration: must be at least 1s")
	case o.rounds < 1:
		return options{}, errors.New("-rounds: must be at least 1")
	case o.load.Threads < 1:
		return options{}, errors.New("-threads: must be at least 1")
	case o.load.Connections < o.load.Threads:
		return options{}, errors.New("-connections: must be at least -threads")
	}
	return o, nil
}

// run builds apiguard, starts every target, measures them and reports.
func run(ctx context.Context, opts options) error {
	wrk, err := ensureWrk(ctx)
	if err != nil {
		return err
	}
	e := &env{procs: &children{}}
	if e.root, err = repoRoot(ctx); err != nil {
		return err
	}
	if e.self, err = os.Executable(); err != nil {
		return fmt.Errorf("finding loadbench's executable: %w", err)
	}
	if e.tmp, err = os.MkdirTemp("", "loadbench-"); err != nil {
		return err
	}
	failed := true
	defer func() {
		// Keep the servers' logs when something went wrong, unless the
		// bench was interrupted.
		if failed && ctx.Err() == nil {
			logf("servers' logs kept in %s", e.tmp)
			return
		}
		os.RemoveAll(e.tmp)
	}()
	defer e.procs.stopAll()
	m := thisMachine(wrkVersion(ctx, wrk))
	logf("building apiguard")
	if err := e.buildApiguard(ctx); err != nil {
		return err
	}
	logf("starting targets")
	targets, err := e.setupTargets(ctx)
	if err != nil {
		return err
	}
	res, err := measure(ctx, wrk, opts, targets, e.procs.checkAlive)
	if err != nil {
		return err
	}
	failed = false
	var report bytes.Buffer
	writeReport(&report, m, opts.load, opts.rounds, res)
	os.Stdout.Write(report.Bytes())
	if opts.out != "" {
		if err := os.WriteFile(opts.out, report.Bytes(), 0o644); err != nil {
			return fmt.Errorf("-out: %w", err)
		}
	}
	return nil
}

// measure warms every target up, then runs the rounds, each measuring
// every target in turn so that drift of the machine spreads over all.
// alive is called after every run and stops the bench when a server died.
func measure(ctx context.Context, wrk string, opts options, targets []target, alive func() error) (*results, error) {
	warm := wrkLoad{Threads: opts.load.Threads, Connections: opts.load.Connections, Duration: time.Second}
	for _, t := range targets {
		logf("warming up %s", t.Name)
		if _, err := runWrk(ctx, wrk, warm, t.URL, t.Headers); err != nil {
			return nil, errors.Join(err, alive())
		}
	}
	res := &results{targets: targets}
	for round := 1; round <= opts.rounds; round++ {
		for _, t := range targets {
			r, err := runWrk(ctx, wrk, opts.load, t.URL, t.Headers)
			if err != nil {
				return nil, errors.Join(err, alive())
			}
			if err := alive(); err != nil {
				return nil, err
			}
			logf("round %d/%d %-22s %9.0f req/s  p50 %-9s p99 %-9s errors %d", round, opts.rounds, t.Name,
				r.ReqPerSec, fmtLatency(r.P50), fmtLatency(r.P99), r.errors())
			res.add(t.Name, r)
		}
	}
	return res, nil
}

// repoRoot returns the root of the apiguard module the bench runs in.
func repoRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("finding the repository: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("finding the repository: not in a Go module; run loadbench from the apiguard repository root")
	}
	root := filepath.Dir(gomod)
	if _, err := os.Stat(filepath.Join(root, "cmd", "apiguard")); err != nil {
		return "", fmt.Errorf("finding the repository: %s has no cmd/apiguard; run loadbench from the apiguard repository root", root)
	}
	return root, nil
}

// logf prints a progress line to stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadbench: "+format+"\n", args...)
}
