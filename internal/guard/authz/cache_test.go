package authz

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/pipeline"
)

// TestAccessCache checks which require_access answers are reused, for
// whom, and for how long.
func TestAccessCache(t *testing.T) {
	tmpl, _ := parseAccessTemplate("/accounts/{body.from}")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type call struct {
		after  time.Duration // since the first call
		jti    string        // the caller's token id ("" for none)
		auth   string        // Authorization header when no jti
		from   string
		status int  // what the subrequest answers
		asked  bool // whether the upstream is asked
		action pipeline.Action
	}
	tests := []struct {
		name  string
		calls []call
	}{
		{"allowed answer reused within the TTL, asked again after", []call{
			{0, "t1", "", "101", 200, true, pipeline.Continue},
			{9 * time.Second, "t1", "", "101", 403, false, pipeline.Continue},
			{10 * time.Second, "t1", "", "101", 403, true, pipeline.Block},
		}},
		{"another token or another object is asked", []call{
			{0, "t1", "", "101", 200, true, pipeline.Continue},
			{time.Second, "t2", "", "101", 403, true, pipeline.Block},
			{time.Second, "t1", "", "102", 403, true, pipeline.Block},
		}},
		{"denials are reused", []call{
			{0, "t1", "", "102", 403, true, pipeline.Block},
			{time.Second, "t1", "", "102", 200, false, pipeline.Block},
		}},
		{"transient answers are asked again", []call{
			{0, "t1", "", "101", 429, true, pipeline.Block},
			{time.Second, "t1", "", "101", 503, true, pipeline.Block},
			{2 * time.Second, "t1", "", "101", 200, true, pipeline.Continue},
		}},
		{"without a token id the credential header is the key", []call{
			{0, "", "Bearer aaa", "101", 200, true, pipeline.Continue},
			{time.Second, "", "Bearer aaa", "101", 403, false, pipeline.Continue},
			{time.Second, "", "Bearer bbb", "101", 403, true, pipeline.Block},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cache := newAccessCache(10*time.Second, 100)
			for i, c := range tt.calls {
				asked := false
				svc := pipeline.NewServices(pipeline.Services{Now: func() time.Time { return now.Add(c.after) }})
				svc.Subrequest = func(*http.Request, string) (int, error) { asked = true; return c.status, nil }
				x := pipeline.NewExchange()
				x.Request = httptest.NewRequest("POST", "/transfers", strings.NewReader(`{"from":`+c.from+`}`))
				x.BodyLimit = 1 << 10
				if c.auth != "" {
					x.Request.Header.Set("Authorization", c.auth)
				}
				x.Principal = &pipeline.Principal{Subject: "1"}
				if c.jti != "" {
					x.Principal.Claims = map[string]any{"jti": c.jti}
				}
				v, err := checkAccess(x, []*accessTemplate{tmpl}, svc, cache)
				x.Release()
				if err != nil || asked != c.asked || v.Action != c.action {
					t.Errorf("call %d: checkAccess() = %v, %v, upstream asked %v; want %v, nil, asked %v", i, v.Action, err, asked, c.action, c.asked)
				}
			}
		})
	}
}

func TestAccessCacheStaysBounded(t *testing.T) {
	c := newAccessCache(time.Minute, 3)
	now := time.Now()
	for i, k := range []string{"a", "b", "c", "d"} {
		c.put(k, 200, now.Add(time.Duration(i)*time.Second))
	}
	if len(c.entries) > 3 {
		t.Errorf("entries = %d, want at most 3", len(c.entries))
	}
	if _, ok := c.get("d", now.Add(5*time.Second)); !ok {
		t.Error("the newest entry is missing")
	}
}
