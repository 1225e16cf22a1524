package gatewaytest

import "testing"

func TestStartAndLogin(t *testing.T) {
	env := Start(t, Options{})
	tok := env.Login(t, "alice")
	resp, body := env.Do(t, "GET", "/api/v1/accounts/101", tok, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/accounts/101 = %d %s", resp.StatusCode, body)
	}
	if len(env.Accesses()) != 2 {
		t.Errorf("access records = %d, want 2", len(env.Accesses()))
	}
}

func TestConfigIndentsGuards(t *testing.T) {
	got := Config("http://x", Options{Guards: "\n    waf:\n      paranoia: 2\n"})
	want := "admin: {listen: \"off\"}\nlog: {access_log: \"off\"}\napis:\n  - name: demobank\n    upstream: {urls: [\"http://x\"]}\n    spec: openapi.yaml\n    guards:\n      waf:\n        paranoia: 2\n"
	if got != want {
		t.Errorf("Config() =\n%s\nwant\n%s", got, want)
	}
}
