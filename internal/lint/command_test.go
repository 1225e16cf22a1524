package lint_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/cli"
)

func TestCommand(t *testing.T) {
	tests := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"config", "lint", "testdata/clean.yaml"}, 0, ""},
		{[]string{"config", "lint", "testdata/plain_http.yaml"}, 1, "warning server.plain_http server.listen: 0.0.0.0:8080 accepts plain HTTP"},
		{[]string{"config", "lint", "--fail-on", "error", "testdata/plain_http.yaml"}, 0, "warning server.plain_http"},
		{[]string{"config", "lint", "--fail-on", "info", "testdata/monitor_one.yaml"}, 1, "info guard.monitor apis[0].guards.headers.mode:"},
		{[]string{"config", "lint", "testdata/monitor_one.yaml"}, 0, "info guard.monitor"},
		{[]string{"config", "lint", "--fail-on", "none", "testdata/cors_star.yaml"}, 0, "warning cors.wildcard"},
		{[]string{"config", "lint", "--fail-on", "loud", "testdata/clean.yaml"}, 2, ""},
		{[]string{"config", "lint", "testdata/missing.yaml"}, 1, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[2:], " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := cli.Main(context.Background(), tt.args, &out, &errb)
			if code != tt.code {
				t.Errorf("apiguard %s = exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(tt.args, " "), code, tt.code, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), tt.out) {
				t.Errorf("apiguard %s printed %q, want %q", strings.Join(tt.args, " "), out.String(), tt.out)
			}
		})
	}
}
