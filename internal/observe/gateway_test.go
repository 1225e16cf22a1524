package observe_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/gatewaytest"
	_ "github.com/apiguard/apiguard/internal/guard" // every guard registers itself
	"github.com/apiguard/apiguard/internal/observe"
)

type keep struct {
	mu   sync.Mutex
	seen []observe.Observation
}

func (k *keep) Observe(o *observe.Observation) {
	k.mu.Lock()
	defer k.mu.Unlock()
	cp := *o
	cp.PathParams = append(cp.PathParams[:0:0], o.PathParams...)
	cp.Decisions = append(cp.Decisions[:0:0], o.Decisions...)
	k.seen = append(k.seen, cp)
}

// TestGatewayFeedsObservers checks what the gateway copies into an
// observation, on real traffic to demobank through the gateway.
func TestGatewayFeedsObservers(t *testing.T) {
	hub := observe.NewHub(observe.HubOptions{})
	k := &keep{}
	hub.SetObservers(k)
	env := gatewaytest.Start(t, gatewaytest.Options{Guards: gatewaytest.AuthnSection, Observers: hub})
	tok := env.Login(t, "alice")
	if resp, body := env.Do(t, "GET", "/api/v1/accounts/101", tok, nil); resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/accounts/101 = %d %s", resp.StatusCode, body)
	}
	if resp, _ := env.Do(t, "GET", "/api/v1/accounts/101", "", nil); resp.StatusCode != 401 {
		t.Fatalf("anonymous GET /api/v1/accounts/101 = %d, want 401", resp.StatusCode)
	}
	if resp, _ := env.Do(t, "GET", "/internal/debug", "", nil); resp.StatusCode == 0 {
		t.Fatal("no answer")
	}
	hub.Close(5 * time.Second)

	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.seen) != 4 {
		t.Fatalf("observed %d exchanges, want 4 (login, account, anonymous account, debug)", len(k.seen))
	}
	login, acct, anon, debug := k.seen[0], k.seen[1], k.seen[2], k.seen[3]
	if login.Operation == nil || login.Method != "POST" || login.Status != 200 || len(login.RequestBody) == 0 ||
		!strings.Contains(string(login.RequestBody), `"username"`) {
		t.Errorf("login observation = op %v %s status %d body %q, want the login operation, 200 and its body",
			login.Operation, login.Method, login.Status, login.RequestBody)
	}
	if acct.Operation == nil || acct.Principal != "1" || acct.AuthMethod == "" || !strings.HasPrefix(acct.Credential, "jti:") ||
		len(acct.PathParams) != 1 || acct.PathParams[0].Value != "101" || acct.Spec == nil || acct.API != "demobank" ||
		acct.Status != 200 || !acct.Upstreamed || acct.Blocked || acct.ClientIP.String() != "127.0.0.1" || acct.Host != "127.0.0.1" {
		t.Errorf("account observation = %+v", acct)
	}
	if acct.RequestHeader.Get("Authorization") == "" || acct.ResponseContentType == "" {
		t.Errorf("account observation lacks the request header or the answer's media type: %+v", acct)
	}
	if anon.Principal != "" || anon.Status != 401 || !anon.Blocked || anon.Upstreamed || len(anon.Decisions) == 0 ||
		anon.Decisions[0].Guard != "authn" || anon.Credential != "" {
		t.Errorf("anonymous observation = %+v, want a 401 blocked by authn, no principal, no credential", anon)
	}
	if debug.Operation != nil || debug.Path != "/internal/debug" {
		t.Errorf("debug observation = op %v path %q, want undocumented /internal/debug", debug.Operation, debug.Path)
	}
}

// TestSubrequestsNotObserved checks that the gateway's own subrequests
// (authz require_access asking "may this caller read account N?") are not
// observed as client traffic: the client sent one transfer, the inventory
// and the detectors see one transfer.
func TestSubrequestsNotObserved(t *testing.T) {
	hub := observe.NewHub(observe.HubOptions{})
	k := &keep{}
	hub.SetObservers(k)
	guards := gatewaytest.AuthnSection + `
authz:
  rules:
    getAccount:
      response: 'response.body.owner_id == int(principal.sub)'
    createTransfer:
      require_access: ["/api/v1/accounts/{body.from_account_id}"]
`
	env := gatewaytest.Start(t, gatewaytest.Options{Guards: guards, Observers: hub})
	tok := env.Login(t, "alice")
	body := `{"from_account_id":101,"to_account_id":102,"amount":1.5,"currency":"EUR","memo":"x"}`
	if resp, b := env.Do(t, "POST", "/api/v1/transfers", tok, []byte(body)); resp.StatusCode/100 != 2 {
		t.Fatalf("POST /api/v1/transfers = %d %s", resp.StatusCode, b)
	}
	hub.Close(5 * time.Second)
	k.mu.Lock()
	defer k.mu.Unlock()
	var paths []string
	for _, o := range k.seen {
		paths = append(paths, o.Method+" "+o.Path)
	}
	if len(k.seen) != 2 || k.seen[1].Path != "/api/v1/transfers" {
		t.Errorf("observed %q, want the login and the transfer only (not the require_access subrequest)", paths)
	}
}
