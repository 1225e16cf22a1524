// Command loadbench measures apiguard's throughput and latency with wrk,
// with a GET and a JSON POST, against the same upstream served directly,
// through a bare httputil.ReverseProxy and through the peers a user would
// pick instead (nginx with ModSecurity + OWASP CRS, a plain Coraza + CRS
// middleware), and checks the targets of docs/performance.md. Run it from
// the repository root:
//
//	go run ./bench/loadbench [-duration 10s] [-rounds 3] [-connections 32] [-threads 2] [-peers=false] [-out results.md]
//
// Every server is a separate process on 127.0.0.1, started by the bench
// (the helper roles "upstream", "bareproxy" and "coraza" are this program
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
	"slices"
	"strings"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	load   wrkLoad
	rounds int
	out    string
	// profile, when set, is the directory of CPU profiles of the apiguard
	// targets' first round.
	profile string
	// peers measures nginx (plain and with ModSecurity + CRS) and the
	// Coraza middleware too; peersSet says -peers was given explicitly, so
	// that nginx that cannot be installed is an error, not a note.
	peers, peersSet bool
	// only, when not empty, names the targets measured (all are started,
	// since some are the others' upstreams).
	only map[string]bool
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
	fs.StringVar(&o.profile, "profile", "", "write CPU profiles of the apiguard targets' first round to this directory (<target>-<shape>.pprof; the targets run with an admin listener and admin.profiling on)")
	fs.BoolVar(&o.peers, "peers", true, "also measure the peers: nginx plain and with ModSecurity + CRS (Debian packages, installed when missing and running as root; skipped when they cannot be, unless -peers is given) and a plain Coraza + CRS middleware")
	targetsFlag := fs.String("targets", "", "comma-separated names of the targets to measure (default: all), for a quick comparison; the report's ratios need both of their targets")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if *targetsFlag != "" {
		o.only = map[string]bool{}
		for _, name := range strings.Split(*targetsFlag, ",") {
			name = strings.TrimSpace(name)
			if !slices.Contains(allTargets, name) {
				return options{}, fmt.Errorf("-targets: unknown target %q (known: %s)", name, strings.Join(allTargets, ", "))
			}
			o.only[name] = true
		}
	}
	fs.Visit(func(f *flag.Flag) { o.peersSet = o.peersSet || f.Name == "peers" })
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
	prof, err := newProfiler(opts.profile)
	if err != nil {
		return err
	}
	e := &env{procs: &children{}, coraza: opts.peers, prof: prof}
	if opts.peers {
		nginx, err := ensureNginxPeers(ctx)
		switch {
		case err == nil:
			e.nginx = nginx
		case opts.peersSet:
			return err
		default:
			e.note("nginx peers not measured: %v", err)
		}
	}
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
	m.Commit = gitCommit(ctx, e.root)
	if e.nginx != "" {
		m.Peers = peerVersions(ctx)
	}
	logf("building apiguard")
	if err := e.buildApiguard(ctx); err != nil {
		return err
	}
	logf("starting targets")
	targets, err := e.setupTargets(ctx)
	if err != nil {
		return err
	}
	if opts.only != nil {
		targets = slices.DeleteFunc(targets, func(t target) bool { return !opts.only[t.Name] })
	}
	res, err := measure(ctx, wrk, opts, targets, e.procs.checkAlive, e.prof)
	if err != nil {
		return err
	}
	failed = false
	m.LoadAfter = loadAvg("/proc/loadavg")
	var report bytes.Buffer
	writeReport(&report, m, opts.load, opts.rounds, res, e.notes)
	os.Stdout.Write(report.Bytes())
	if opts.out != "" {
		if err := os.WriteFile(opts.out, report.Bytes(), 0o644); err != nil {
			return fmt.Errorf("-out: %w", err)
		}
	}
	return nil
}

// measure warms every target up with every request shape, then runs the
// rounds, each measuring every target with every shape in turn so that
// drift of the machine spreads over all. alive is called after every run
// and stops the bench when a server died. prof, when not nil, profiles the
// apiguard targets' first round.
func measure(ctx context.Context, wrk string, opts options, targets []target, alive func() error, prof *profiler) (*results, error) {
	warm := wrkLoad{Threads: opts.load.Threads, Connections: opts.load.Connections, Duration: time.Second}
	for _, shape := range shapes {
		for _, t := range targets {
			req, ok := t.Requests[shape]
			if !ok {
				continue
			}
			logf("warming up %s, %s", t.Name, shape)
			if _, err := runWrk(ctx, wrk, warm, req); err != nil {
				return nil, errors.Join(err, alive())
			}
		}
	}
	res := &results{targets: targets}
	for round := 1; round <= opts.rounds; round++ {
		for _, shape := range shapes {
			for _, t := range targets {
				req, ok := t.Requests[shape]
				if !ok {
					continue
				}
				wait := func() error { return nil }
				if round == 1 {
					wait = prof.start(ctx, t.AdminURL, t.Name, shape, opts.load.Duration)
				}
				r, err := runWrk(ctx, wrk, opts.load, req)
				if err != nil {
					return nil, errors.Join(err, alive(), wait())
				}
				if err := wait(); err != nil {
					return nil, err
				}
				if err := alive(); err != nil {
					return nil, err
				}
				logf("round %d/%d %-9s %-22s %9.0f req/s  p50 %-9s p99 %-9s errors %d", round, opts.rounds, shape, t.Name,
					r.ReqPerSec, fmtLatency(r.P50), fmtLatency(r.P99), r.errors())
				res.add(shape, t.Name, r)
			}
		}
	}
	return res, nil
}

// gitCommit describes the commit of the repository at root, with "-dirty"
// when the work tree has changes, or "unknown".
func gitCommit(ctx context.Context, root string) string {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "describe", "--always", "--dirty", "--abbrev=12").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// peerVersions returns the installed versions of the nginx peers'
// packages, or "".
func peerVersions(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "dpkg-query", "-W", "-f", "${Package} ${Version}\n",
		"nginx", "libnginx-mod-http-modsecurity", "libmodsecurity3", "modsecurity-crs").Output()
	if err != nil {
		return ""
	}
	return strings.Join(strings.Split(strings.TrimSpace(string(out)), "\n"), ", ")
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
