package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// alive reports whether process pid exists.
func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func TestStopAllKillsProcessGroups(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "grandchild.pid")
	cs := &children{}
	// The shell starts a grandchild, records its pid and waits: stopping
	// the child must stop the grandchild too.
	c, err := cs.start("sh", filepath.Join(dir, "sh.log"), nil, "sh", "-c", `sleep 60 & echo $! > "$0"; wait`, pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var grandchild int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, _ := os.ReadFile(pidFile)
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			grandchild = n
			break
		}
	}
	if grandchild == 0 {
		t.Fatal("the grandchild did not start")
	}
	if err := cs.checkAlive(); err != nil {
		t.Fatalf("checkAlive() = %v, want nil while the child runs", err)
	}
	cs.stopAll()
	select {
	case <-c.exited:
	default:
		t.Error("stopAll() returned before the child exited")
	}
	// The grandchild is reaped by init, possibly a moment later.
	for deadline := time.Now().Add(5 * time.Second); alive(grandchild) && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
	}
	if alive(grandchild) {
		_ = syscall.Kill(grandchild, syscall.SIGKILL)
		t.Errorf("grandchild %d alive after stopAll(), want it killed with its group", grandchild)
	}
}

func TestWaitReadyChildExits(t *testing.T) {
	dir := t.TempDir()
	cs := &children{}
	defer cs.stopAll()
	c, err := cs.start("failing", filepath.Join(dir, "failing.log"), nil, "sh", "-c", "echo cannot listen >&2; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	err = c.waitReady(context.Background(), "http://"+addr+"/")
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready") || !strings.Contains(err.Error(), "cannot listen") {
		t.Errorf("waitReady() = %v, want an exit error quoting the log", err)
	}
	if err := cs.checkAlive(); err == nil || !strings.Contains(err.Error(), "failing exited") {
		t.Errorf("checkAlive() = %v, want an error naming the exited child", err)
	}
}

// TestWithProfiling checks that -profile turns admin.profiling on in both
// kinds of config the bench writes, keeping the rest, and that without
// -profile the config is left alone.
func TestWithProfiling(t *testing.T) {
	p := &profiler{dir: t.TempDir(), token: "t"}
	for _, tt := range []struct{ name, in string }{
		{"no admin section", "apis: []\n"},
		{"admin off", "admin:\n  listen: \"off\"\napis: []\n"},
		{"profiling false", "admin:\n  profiling: false\n  listen: \"off\"\napis: []\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := p.withProfiling([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Admin struct {
					Profiling bool   `yaml:"profiling"`
					Listen    string `yaml:"listen"`
				} `yaml:"admin"`
				APIs []any `yaml:"apis"`
			}
			if err := yaml.Unmarshal(out, &got); err != nil {
				t.Fatalf("withProfiling = invalid YAML %v:\n%s", err, out)
			}
			if !got.Admin.Profiling || got.APIs == nil || (strings.Contains(tt.in, "off") && got.Admin.Listen != "off") {
				t.Errorf("withProfiling(%q) = %s, want admin.profiling true and the rest kept", tt.in, out)
			}
		})
	}
	var none *profiler
	if out, err := none.withProfiling([]byte("x: [")); err != nil || string(out) != "x: [" {
		t.Errorf("nil profiler changed the config: %q, %v", out, err)
	}
}
