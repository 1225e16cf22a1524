package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// profiler takes CPU profiles of the apiguard targets through their admin
// API (admin.profiling), for -profile: every apiguard target runs with an
// admin listener on loopback and a random token, and a profile covering
// most of its first round of each request shape is written to
// dir/<target>-<shape>.pprof.
type profiler struct {
	dir   string
	token string
}

// newProfiler returns a profiler writing to dir, or nil when dir is "".
func newProfiler(dir string) (*profiler, error) {
	if dir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("-profile: %w", err)
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return &profiler{dir: dir, token: hex.EncodeToString(b)}, nil
}

// serveArgs returns the arguments and environment that give an apiguard
// target an admin listener with profiling, and the listener's base URL;
// without a profiler, the admin listener is off.
func (p *profiler) serveArgs() (args, env []string, adminURL string, err error) {
	if p == nil {
		return []string{"--admin-listen", "off"}, nil, "", nil
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, nil, "", err
	}
	return []string{"--admin-listen", addr}, []string{"APIGUARD_ADMIN_TOKEN=" + p.token}, "http://" + addr, nil
}

// withProfiling returns the config data with admin.profiling on, when
// there is a profiler.
func (p *profiler) withProfiling(data []byte) ([]byte, error) {
	if p == nil {
		return data, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("-profile: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("-profile: want a mapping at the top of the config")
	}
	top := doc.Content[0]
	adm := mapValue(top, "admin")
	if adm == nil {
		adm = &yaml.Node{Kind: yaml.MappingNode}
		top.Content = append(top.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "admin"}, adm)
	}
	deleteKey(adm, "profiling")
	adm.Content = append(adm.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "profiling"},
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
	return yaml.Marshal(&doc)
}

// start begins a CPU profile of the target at adminURL lasting d, written
// to the profile file of target and shape; wait blocks until it is
// written and returns its error. Without a profiler or an admin URL it
// does nothing.
func (p *profiler) start(ctx context.Context, adminURL, target, shape string, d time.Duration) (wait func() error) {
	if p == nil || adminURL == "" {
		return func() error { return nil }
	}
	secs := max(int(d/time.Second)-1, 1)
	path := filepath.Join(p.dir, target+"-"+strings.ReplaceAll(strings.ToLower(shape), " ", "-")+".pprof")
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", adminURL, secs), nil)
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+p.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("profiling %s: %w", target, err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
				return fmt.Errorf("profiling %s: status %d: %s", target, resp.StatusCode, b)
			}
			f, err := os.Create(path)
			if err != nil {
				return fmt.Errorf("profiling %s: %w", target, err)
			}
			if _, err := io.Copy(f, resp.Body); err != nil {
				f.Close()
				return fmt.Errorf("profiling %s: %w", target, err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("profiling %s: %w", target, err)
			}
			logf("CPU profile of %s, %s: %s", target, shape, path)
			return nil
		}()
	}()
	return func() error { return <-done }
}
