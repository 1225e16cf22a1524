package detect

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/observe"
	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
	"github.com/apiguard/apiguard/internal/store"
)

// t0 is the start of every synthetic stream.
var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

var (
	opAccount = &openapi.Operation{ID: "getAccount", Method: "GET", Path: "/api/v1/accounts/{accountId}", Template: "/api/v1/accounts/{accountId}"}
	opLogin   = &openapi.Operation{ID: "login", Method: "POST", Path: "/api/v1/auth/login", Template: "/api/v1/auth/login",
		Extensions: map[string]any{"x-apiguard-login": map[string]any{"username": "/username"}}}
	opList = &openapi.Operation{ID: "listAccounts", Method: "GET", Path: "/api/v1/accounts", Template: "/api/v1/accounts"}
)

// sink keeps the events emitted.
type sink struct {
	mu  sync.Mutex
	evs []events.Event
}

func (k *sink) emit(e events.Event) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.evs = append(k.evs, e)
}

func (k *sink) len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.evs)
}

func (k *sink) all() []events.Event {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.evs)
}

// detectorEvents are the detector events (not the denylist's own).
func (k *sink) detectorEvents() []events.Event {
	var out []events.Event
	for _, e := range k.all() {
		if e.Kind == events.KindDetector {
			out = append(out, e)
		}
	}
	return out
}

// onlyConfig is the default config with only the named detector on,
// changed by mod.
func onlyConfig(name string, mod func(*config.Detectors)) config.Detectors {
	c := config.DefaultDetectors()
	off := false
	for n, e := range map[string]**bool{
		NameEnumeration: &c.Enumeration.Enabled, NameCredentialStuffing: &c.CredentialStuffing.Enabled,
		NameTokenSharing: &c.TokenSharing.Enabled, NameErrorRatio: &c.ErrorRatio.Enabled,
		NameExfiltration: &c.Exfiltration.Enabled, NameFirstSight: &c.FirstSight.Enabled,
	} {
		if n != name {
			*e = &off
		}
	}
	c.FirstSight.Learn = 0
	if mod != nil {
		mod(&c)
	}
	return c
}

// newSet builds a Set reporting to a sink, with services of its own (an
// in-memory denylist, or db when given).
func newSet(t *testing.T, cfg config.Detectors, db store.Store) (*Set, *sink) {
	t.Helper()
	k := &sink{}
	svc := newServices(k)
	if db != nil {
		svc = pipeline.NewServices(pipeline.Services{Emit: k.emit, Store: db})
	}
	s, err := New(cfg, svc)
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		_ = svc.Close()
	})
	return s, k
}

// newServices are services reporting to k, with an in-memory denylist.
func newServices(k *sink) *pipeline.Services {
	return pipeline.NewServices(pipeline.Services{Emit: k.emit})
}

// fired is one expected event: the index of the observation that
// triggers it and its rule.
type fired struct {
	at   int
	rule string
}

// run feeds n observations made by gen and returns the events with the
// index of the observation that produced each.
func run(s *Set, k *sink, n int, gen func(i int) *observe.Observation) []fired {
	var got []fired
	for i := range n {
		before := k.len()
		s.Observe(gen(i))
		for _, e := range k.all()[before:] {
			if e.Kind == events.KindDetector {
				got = append(got, fired{i, e.Rule})
			}
		}
	}
	return got
}

func addr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})
}

// account is alice's GET of account id at t0+at.
func account(id int, status int, at time.Duration) *observe.Observation {
	return &observe.Observation{Time: t0.Add(at), API: "demobank", Operation: opAccount,
		PathParams: []openapi.Param{{Name: "accountId", Value: fmt.Sprint(id)}}, Method: "GET",
		Path: fmt.Sprintf("/api/v1/accounts/%d", id), RoutePath: fmt.Sprintf("/api/v1/accounts/%d", id),
		Status: status, ClientIP: netip.MustParseAddr("192.0.2.10"), Principal: "1", AuthMethod: "jwt", Credential: "jti:abc"}
}

func TestEnumeration(t *testing.T) {
	scattered := func(i int) int { return 1 + (i*7919)%100_000 }
	for _, tc := range []struct {
		name string
		mod  func(*config.Detectors)
		n    int
		gen  func(i int) *observe.Observation
		want []fired
	}{
		{"100 scattered ids answered 200", func(c *config.Detectors) { c.Enumeration.Sequential = 0 }, 150,
			func(i int) *observe.Observation {
				return account(scattered(i), 200, time.Duration(i)*100*time.Millisecond)
			},
			[]fired{{99, "detect.enumeration.distinct_ids"}}},
		{"30 scattered ids answered 404", nil, 40,
			func(i int) *observe.Observation { return account(scattered(i), 404, time.Duration(i)*time.Second) },
			[]fired{{29, "detect.enumeration.failed_ids"}}},
		{"a walk 1..30 answered 200", func(c *config.Detectors) { c.Enumeration.MaxFailedIDs = 0 }, 40,
			func(i int) *observe.Observation { return account(i+1, 200, time.Duration(i)*time.Second) },
			[]fired{{29, "detect.enumeration.sequential"}}},
		{"a walk with steps of 2 going down", func(c *config.Detectors) { c.Enumeration.MaxFailedIDs = 0 }, 30,
			func(i int) *observe.Observation { return account(1000-2*i, 200, time.Duration(i)*time.Second) },
			[]fired{{29, "detect.enumeration.sequential"}}},
		{"steps of 3 are not a walk", func(c *config.Detectors) { c.Enumeration.MaxFailedIDs = 0 }, 60,
			func(i int) *observe.Observation { return account(3*i, 200, time.Duration(i)*time.Second) },
			nil},
		{"a slow walk: 6 per window", nil, 300,
			func(i int) *observe.Observation { return account(i+1, 404, time.Duration(i)*10*time.Second) },
			nil},
		{"one id 500 times", nil, 500,
			func(i int) *observe.Observation { return account(101, 200, time.Duration(i)*10*time.Millisecond) },
			nil},
		{"no path parameter", nil, 200,
			func(i int) *observe.Observation {
				o := account(0, 404, time.Duration(i)*time.Millisecond)
				o.Operation, o.PathParams, o.Path, o.RoutePath = opList, nil, "/api/v1/accounts", "/api/v1/accounts"
				return o
			}, nil},
		{"undocumented numeric path walked", func(c *config.Detectors) { c.Enumeration.MaxFailedIDs = 0 }, 40,
			func(i int) *observe.Observation {
				o := account(0, 200, time.Duration(i)*time.Second)
				o.Operation, o.PathParams = nil, nil
				o.RoutePath = fmt.Sprintf("/api/v2/things/%d/detail", i+1)
				return o
			}, []fired{{29, "detect.enumeration.sequential"}}},
		{"two clients with 60 ids each", func(c *config.Detectors) { c.Enumeration.Sequential, c.Enumeration.MaxFailedIDs = 0, 0 }, 120,
			func(i int) *observe.Observation {
				o := account(scattered(i/2), 200, time.Duration(i)*100*time.Millisecond)
				o.Principal = fmt.Sprint(1 + i%2)
				return o
			}, nil},
		{"one trigger per window", func(c *config.Detectors) { c.Enumeration.Sequential, c.Enumeration.MaxFailedIDs = 0, 0 }, 700,
			func(i int) *observe.Observation {
				return account(scattered(i), 200, time.Duration(i)*200*time.Millisecond)
			},
			// 5 per second: 100 ids by #99 (second 19); silenced for a
			// minute, until second 79 (#395) and again at second 139 (#695).
			[]fired{{99, "detect.enumeration.distinct_ids"}, {395, "detect.enumeration.distinct_ids"}, {695, "detect.enumeration.distinct_ids"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, k := newSet(t, onlyConfig(NameEnumeration, tc.mod), nil)
			if got := run(s, k, tc.n, tc.gen); !slices.Equal(got, tc.want) {
				t.Errorf("enumeration(%s) = %v, want %v", tc.name, got, tc.want)
			}
		})
	}
}

func TestEnumerationEvent(t *testing.T) {
	s, k := newSet(t, onlyConfig(NameEnumeration, nil), nil)
	run(s, k, 30, func(i int) *observe.Observation { return account(i+1, 404, time.Duration(i)*time.Second) })
	evs := k.detectorEvents()
	if len(evs) != 1 {
		t.Fatalf("events = %+v, want 1", evs)
	}
	e := evs[0]
	want := events.Event{Time: t0.Add(29 * time.Second), Kind: events.KindDetector, API: "demobank", Operation: "getAccount",
		Method: "GET", Path: "/api/v1/accounts/30", ClientIP: "192.0.2.10", Principal: "1", Guard: "detect.enumeration",
		Rule: "detect.enumeration.failed_ids", Category: "API1", Verdict: events.VerdictObserve, Status: 404, Severity: "low",
		Detail: "30 distinct object ids answered 403/404 on getAccount within 1m0s by principal 1"}
	if e != want {
		t.Errorf("event = %+v\nwant    %+v", e, want)
	}
}

// login is a failed (401) or successful login of user from ip at t0+at.
func login(user string, ip netip.Addr, status int, at time.Duration) *observe.Observation {
	return &observe.Observation{Time: t0.Add(at), API: "demobank", Operation: opLogin, Method: "POST",
		Path: "/api/v1/auth/login", RoutePath: "/api/v1/auth/login", RequestContentType: "application/json",
		RequestBody: []byte(`{"username":"` + user + `","password":"hunter2"}`), Status: status, ClientIP: ip}
}

func TestCredentialStuffing(t *testing.T) {
	attacker := netip.MustParseAddr("203.0.113.7")
	for _, tc := range []struct {
		name string
		mod  func(*config.Detectors)
		n    int
		gen  func(i int) *observe.Observation
		want []fired
	}{
		{"50 usernames from one address", nil, 50,
			func(i int) *observe.Observation {
				return login(fmt.Sprintf("user%d", i), attacker, 401, time.Duration(i)*time.Second)
			},
			[]fired{{19, "detect.credential_stuffing.usernames_per_ip"}}},
		{"usernames differ only in case and spaces", nil, 50,
			func(i int) *observe.Observation {
				return login(fmt.Sprintf(" %s ", []string{"Alice", "ALICE", "alice"}[i%3]), attacker, 401, time.Duration(i)*time.Second)
			}, nil},
		{"50 usernames logging in fine", nil, 50,
			func(i int) *observe.Observation {
				return login(fmt.Sprintf("user%d", i), attacker, 200, time.Duration(i)*time.Second)
			},
			nil},
		{"50 usernames on another operation", nil, 50,
			func(i int) *observe.Observation {
				o := login(fmt.Sprintf("user%d", i), attacker, 401, time.Duration(i)*time.Second)
				o.Operation = opList
				return o
			}, nil},
		{"one username from 50 addresses", nil, 50,
			func(i int) *observe.Observation { return login("alice", addr(i), 401, time.Duration(i)*time.Second) },
			[]fired{{9, "detect.credential_stuffing.ips_per_username"}}},
		{"rotating through one IPv6 /64", nil, 25,
			func(i int) *observe.Observation {
				a := netip.MustParseAddr(fmt.Sprintf("2001:db8:1:2::%x", i+1))
				return login(fmt.Sprintf("user%d", i), a, 401, time.Duration(i)*time.Second)
			}, []fired{{19, "detect.credential_stuffing.usernames_per_ip"}}},
		{"slow: 20 usernames over an hour", nil, 20,
			func(i int) *observe.Observation {
				return login(fmt.Sprintf("user%d", i), attacker, 401, time.Duration(i)*3*time.Minute)
			},
			nil},
		{"form body, config field", func(c *config.Detectors) {
			c.CredentialStuffing.UsernameFields = []string{"/credentials/name"}
			c.CredentialStuffing.Operations = []string{"signOn"}
		}, 30,
			func(i int) *observe.Observation {
				o := login("", attacker, 403, time.Duration(i)*time.Second)
				o.Operation = &openapi.Operation{ID: "signOn", Method: "POST", Template: "/session"}
				o.RequestContentType = "application/x-www-form-urlencoded; charset=utf-8"
				o.RequestBody = []byte(fmt.Sprintf("name=u%d&password=x", i))
				return o
			}, []fired{{19, "detect.credential_stuffing.usernames_per_ip"}}},
		{"spike across many clients", func(c *config.Detectors) {
			c.CredentialStuffing.SpikeMinFailures = 50
			c.CredentialStuffing.UsernamesPerIP = 1000
			c.CredentialStuffing.IPsPerUsername = 0
		}, 200 + 60,
			func(i int) *observe.Observation {
				// One failure a minute for 200 minutes, then 60 within a minute.
				at := time.Duration(i) * time.Minute
				if i >= 200 {
					at = 200*time.Minute + time.Duration(i-200)*time.Second
				}
				return login(fmt.Sprintf("user%d", i), addr(i), 401, at)
			}, // The usual count is just under 10 per window (an average still
			// converging on 1 a minute): the 41st failure of the burst, with 9
			// in the 9 minutes before, makes 50, at least spike_min_failures
			// and above 5 times the usual.
			[]fired{{200 + 40, "detect.credential_stuffing.failure_spike"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, k := newSet(t, onlyConfig(NameCredentialStuffing, tc.mod), nil)
			if got := run(s, k, tc.n, tc.gen); !slices.Equal(got, tc.want) {
				t.Errorf("credential_stuffing(%s) = %v, want %v", tc.name, got, tc.want)
			}
		})
	}
}

func TestCredentialStuffingEventHidesUsernames(t *testing.T) {
	s, k := newSet(t, onlyConfig(NameCredentialStuffing, nil), nil)
	run(s, k, 10, func(i int) *observe.Observation {
		return login("victim@example.com", addr(i), 401, time.Duration(i)*time.Second)
	})
	evs := k.detectorEvents()
	if len(evs) != 1 || !strings.Contains(evs[0].Detail, "sha256:"+usernameFingerprint("victim@example.com")) {
		t.Fatalf("events = %+v, want one naming the username by its fingerprint", evs)
	}
	for _, e := range evs {
		if s := fmt.Sprintf("%+v", e); strings.Contains(s, "victim") || strings.Contains(s, "hunter2") {
			t.Errorf("event %s holds the username or the password", s)
		}
	}
}

func TestTokenSharing(t *testing.T) {
	use := func(ip netip.Addr, principal string, at time.Duration) *observe.Observation {
		o := account(101, 200, at)
		o.ClientIP, o.Principal = ip, principal
		return o
	}
	for _, tc := range []struct {
		name string
		n    int
		gen  func(i int) *observe.Observation
		want []fired
	}{
		{"10 addresses of one network", 30,
			func(i int) *observe.Observation { return use(addr(i%10), "1", time.Duration(i)*time.Second) },
			[]fired{{9, "detect.token_sharing.ips"}}},
		{"4 networks", 10,
			func(i int) *observe.Observation {
				return use(netip.AddrFrom4([4]byte{byte(10 + i%4), 0, 0, 1}), "1", time.Duration(i)*time.Second)
			}, []fired{{3, "detect.token_sharing.networks"}}},
		{"3 addresses", 300,
			func(i int) *observe.Observation { return use(addr(i%3), "1", time.Duration(i)*time.Second) },
			nil},
		{"unauthenticated", 30,
			func(i int) *observe.Observation { return use(addr(i), "", time.Duration(i)*time.Second) },
			nil},
		{"10 addresses over an hour", 10,
			func(i int) *observe.Observation { return use(addr(i), "1", time.Duration(i)*6*time.Minute) },
			nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, k := newSet(t, onlyConfig(NameTokenSharing, nil), nil)
			if got := run(s, k, tc.n, tc.gen); !slices.Equal(got, tc.want) {
				t.Errorf("token_sharing(%s) = %v, want %v", tc.name, got, tc.want)
			}
		})
	}
}

func TestErrorRatio(t *testing.T) {
	for _, tc := range []struct {
		name     string
		n        int
		status   func(i int) int
		want     []fired
		category string
	}{
		{"all 404", 40, func(int) int { return 404 }, []fired{{29, "detect.error_ratio.high"}}, "API9"},
		{"mostly 401", 40, func(i int) int { return []int{401, 401, 404}[i%3] }, []fired{{29, "detect.error_ratio.high"}}, "API2"},
		{"mostly 403", 40, func(i int) int { return []int{403, 403, 200}[i%3] }, []fired{{29, "detect.error_ratio.high"}}, "API1"},
		{"40 % errors", 200, func(i int) int { return []int{404, 404, 200, 200, 200}[i%5] }, nil, ""},
		{"500s are not counted", 100, func(int) int { return 500 }, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, k := newSet(t, onlyConfig(NameErrorRatio, nil), nil)
			got := run(s, k, tc.n, func(i int) *observe.Observation {
				return account(i, tc.status(i), time.Duration(i)*time.Second)
			})
			if !slices.Equal(got, tc.want) {
				t.Fatalf("error_ratio(%s) = %v, want %v", tc.name, got, tc.want)
			}
			if evs := k.detectorEvents(); len(evs) > 0 && evs[0].Category != tc.category {
				t.Errorf("error_ratio(%s) category = %s, want %s", tc.name, evs[0].Category, tc.category)
			}
		})
	}

	// The window slides: 20 errors late in one window and 20 early in the
	// next make 40 within five minutes.
	s, k := newSet(t, onlyConfig(NameErrorRatio, nil), nil)
	got := run(s, k, 40, func(i int) *observe.Observation {
		at := 4*time.Minute + time.Duration(i)*3*time.Second // 4:00 .. 5:57
		return account(i, 404, at)
	})
	if want := []fired{{29, "detect.error_ratio.high"}}; !slices.Equal(got, want) {
		t.Errorf("error_ratio across windows = %v, want %v", got, want)
	}
}

func TestExfiltration(t *testing.T) {
	const mib = 1 << 20
	answer := func(bytes int64, at time.Duration) *observe.Observation {
		o := account(101, 200, at)
		o.BytesOut = bytes
		return o
	}
	for _, tc := range []struct {
		name string
		n    int
		gen  func(i int) *observe.Observation
		want []fired
	}{
		// 1 MiB a window for 12 windows, then 1 MiB a second.
		{"far above its baseline", 12 + 30, func(i int) *observe.Observation {
			if i < 12 {
				return answer(mib, time.Duration(i)*5*time.Minute)
			}
			return answer(mib, 60*time.Minute+time.Duration(i-12)*time.Second)
		}, []fired{{12 + 10, "detect.exfiltration.volume"}}},
		{"a new principal above min_bytes", 5, func(i int) *observe.Observation {
			return answer(3*mib, time.Duration(i)*time.Second)
		}, []fired{{3, "detect.exfiltration.volume"}}},
		{"steady large volume", 60, func(i int) *observe.Observation {
			return answer(12*mib, time.Duration(i)*time.Minute)
		}, []fired{{0, "detect.exfiltration.volume"}}},
		{"below min_bytes", 100, func(i int) *observe.Observation {
			return answer(100<<10, time.Duration(i)*time.Second)
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, k := newSet(t, onlyConfig(NameExfiltration, func(c *config.Detectors) { c.Exfiltration.MinBytes = 10 * mib }), nil)
			if got := run(s, k, tc.n, tc.gen); !slices.Equal(got, tc.want) {
				t.Errorf("exfiltration(%s) = %v, want %v (events %+v)", tc.name, got, tc.want, k.detectorEvents())
			}
		})
	}
}

func TestFirstSight(t *testing.T) {
	shadow := func(path string, status int, at time.Duration) *observe.Observation {
		o := account(0, status, at)
		o.Operation, o.PathParams, o.Path, o.RoutePath, o.Principal = nil, nil, path, path, ""
		return o
	}
	for _, tc := range []struct {
		name string
		mod  func(*config.Detectors)
		obs  []*observe.Observation
		want []fired
	}{
		{"client, operation, shadow endpoint", nil, []*observe.Observation{
			account(101, 200, 0), account(102, 200, time.Second),
			shadow("/internal/debug", 200, 2*time.Second), shadow("/internal/debug", 200, 3*time.Second),
			shadow("/internal/users/12", 200, 4*time.Second), shadow("/internal/users/13", 200, 5*time.Second),
			shadow("/nothing/here", 404, 6*time.Second),
		}, []fired{{0, "detect.first_sight.client"}, {0, "detect.first_sight.operation"},
			{2, "detect.first_sight.shadow_endpoint"}, {4, "detect.first_sight.shadow_endpoint"}}},
		{"learning", func(c *config.Detectors) { c.FirstSight.Learn = config.Duration(10 * time.Minute) }, []*observe.Observation{
			account(101, 200, 0), shadow("/internal/debug", 200, time.Minute),
			func() *observe.Observation { o := account(101, 200, 11*time.Minute); o.Principal = "2"; return o }(),
		}, []fired{{2, "detect.first_sight.client"}}},
		{"operations only", func(c *config.Detectors) {
			off := false
			c.FirstSight.Clients, c.FirstSight.ShadowEndpoints = &off, &off
		}, []*observe.Observation{account(101, 200, 0), shadow("/internal/debug", 200, time.Second)},
			[]fired{{0, "detect.first_sight.operation"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, k := newSet(t, onlyConfig(NameFirstSight, tc.mod), nil)
			if got := run(s, k, len(tc.obs), func(i int) *observe.Observation { return tc.obs[i] }); !slices.Equal(got, tc.want) {
				t.Errorf("first_sight(%s) = %v, want %v", tc.name, got, tc.want)
			}
		})
	}

	// The budget: 2 events per minute, the rest counted in the next one.
	s, k := newSet(t, onlyConfig(NameFirstSight, func(c *config.Detectors) {
		c.FirstSight.MaxEvents = 2
		off := false
		c.FirstSight.Operations = &off
	}), nil)
	got := run(s, k, 6, func(i int) *observe.Observation {
		o := account(101, 200, time.Duration(i)*time.Second)
		if i == 5 {
			o.Time = t0.Add(2 * time.Minute)
		}
		o.Principal = fmt.Sprint(i)
		return o
	})
	want := []fired{{0, "detect.first_sight.client"}, {1, "detect.first_sight.client"}, {5, "detect.first_sight.client"}}
	if !slices.Equal(got, want) {
		t.Fatalf("first_sight budget = %v, want %v", got, want)
	}
	if evs := k.detectorEvents(); !strings.Contains(evs[2].Detail, "3 earlier first sightings not reported") || evs[2].Severity != "info" {
		t.Errorf("third event = %+v, want it to count the 3 suppressed, severity info", evs[2])
	}
}

// TestBlock checks the block action: the principal walking ids is blocked
// once through the denylist (persisted with its TTL and the detector as
// author), allowlisted clients are not, and findings without a target say
// so.
func TestBlock(t *testing.T) {
	ctx := context.Background()
	open := func(t *testing.T) *store.SQLite {
		db, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "d.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	blockCfg := func(mod func(*config.Detectors)) config.Detectors {
		return onlyConfig(NameEnumeration, func(c *config.Detectors) {
			c.Enumeration.Action, c.Enumeration.BlockTTL = "block", config.Duration(30*time.Minute)
			if mod != nil {
				mod(c)
			}
		})
	}

	t.Run("principal blocked once", func(t *testing.T) {
		db := open(t)
		s, k := newSet(t, blockCfg(nil), db)
		// Two operations walked: two findings, one block.
		run(s, k, 60, func(i int) *observe.Observation {
			o := account(i/2+1, 404, time.Duration(i)*time.Second)
			if i%2 == 1 {
				o.Operation = &openapi.Operation{ID: "getUser", Method: "GET", Template: "/api/v1/users/{userId}"}
			}
			return o
		})
		s.Flush()
		evs := k.detectorEvents()
		if len(evs) != 2 || evs[0].Verdict != events.VerdictBlock || evs[0].Severity != "high" ||
			!strings.Contains(evs[0].Detail, "blocking principal 1 for 30m0s") ||
			evs[1].Verdict != events.VerdictObserve || !strings.Contains(evs[1].Detail, "not blocked: already blocked") {
			t.Fatalf("events = %+v, want a block then an already-blocked observation", evs)
		}
		bs, err := db.Blocks(ctx, time.Now())
		if err != nil || len(bs) != 1 {
			t.Fatalf("blocks = %+v, %v, want 1", bs, err)
		}
		b := bs[0]
		if b.Kind != "principal" || b.Value != "1" || b.CreatedBy != "detector:enumeration" ||
			!strings.HasPrefix(b.Reason, "detect.enumeration.failed_ids: ") || b.Expires.Sub(b.Created) != 30*time.Minute {
			t.Errorf("block = %+v, want principal 1 by detector:enumeration for 30m", b)
		}
	})

	t.Run("allowlisted", func(t *testing.T) {
		for _, tc := range []struct {
			name      string
			mod       func(*config.Detectors)
			principal string
		}{
			{"principal", func(c *config.Detectors) { c.Allowlist.Principals = []string{"1"} }, "1"},
			{"network", func(c *config.Detectors) { c.Allowlist.Networks = []string{"192.0.2.0/24"} }, ""},
		} {
			db := open(t)
			s, k := newSet(t, blockCfg(tc.mod), db)
			run(s, k, 30, func(i int) *observe.Observation {
				o := account(i+1, 404, time.Duration(i)*time.Second)
				o.Principal = tc.principal
				return o
			})
			s.Flush()
			evs := k.detectorEvents()
			if len(evs) != 1 || evs[0].Verdict != events.VerdictObserve || !strings.Contains(evs[0].Detail, "is allowlisted") {
				t.Errorf("%s: events = %+v, want one observation saying the client is allowlisted", tc.name, evs)
			}
			if bs, _ := db.Blocks(ctx, time.Now()); len(bs) != 0 {
				t.Errorf("%s: blocks = %+v, want none", tc.name, bs)
			}
		}
	})

	t.Run("anonymous address, IPv4-mapped", func(t *testing.T) {
		db := open(t)
		s, k := newSet(t, blockCfg(nil), db)
		run(s, k, 30, func(i int) *observe.Observation {
			o := account(i+1, 404, time.Duration(i)*time.Second)
			o.Principal, o.ClientIP = "", netip.MustParseAddr("::ffff:203.0.113.5")
			return o
		})
		s.Flush()
		if bs, _ := db.Blocks(ctx, time.Now()); len(bs) != 1 || bs[0].Kind != "ip" || bs[0].Value != "203.0.113.5" {
			t.Errorf("blocks = %+v, want ip 203.0.113.5", bs)
		}
		if evs := k.detectorEvents(); len(evs) != 1 || evs[0].ClientIP != "203.0.113.5" {
			t.Errorf("events = %+v, want one with the unmapped address", evs)
		}
	})

	t.Run("the store refuses the block", func(t *testing.T) {
		db := open(t)
		s, k := newSet(t, blockCfg(nil), db)
		db.Close() // every write fails from now on
		walk := func(from int, at time.Duration) {
			run(s, k, 30, func(i int) *observe.Observation {
				return account(from+i, 404, at+time.Duration(i)*time.Second)
			})
			s.Flush()
		}
		walk(1, 0)
		walk(1000, 2*time.Minute) // the next window: tried again, not "already blocked"
		var got []string
		for _, e := range k.detectorEvents() {
			got = append(got, e.Rule+" "+e.Verdict)
		}
		want := []string{
			"detect.enumeration.failed_ids block", "detect.enumeration.block_failed error",
			"detect.enumeration.failed_ids block", "detect.enumeration.block_failed error",
		}
		if !slices.Equal(got, want) {
			t.Errorf("events = %q, want %q", got, want)
		}
	})

	t.Run("nothing to block", func(t *testing.T) {
		s, k := newSet(t, onlyConfig(NameCredentialStuffing, func(c *config.Detectors) {
			c.CredentialStuffing.Action = "block"
		}), nil)
		run(s, k, 10, func(i int) *observe.Observation { return login("alice", addr(i), 401, time.Duration(i)*time.Second) })
		s.Flush()
		if evs := k.detectorEvents(); len(evs) != 1 || evs[0].Verdict != events.VerdictObserve ||
			!strings.Contains(evs[0].Detail, "not blocked: nothing to block") {
			t.Errorf("events = %+v, want one observation with nothing to block", evs)
		}
	})

	t.Run("denylisted requests are not observed", func(t *testing.T) {
		s, k := newSet(t, blockCfg(nil), nil)
		run(s, k, 100, func(i int) *observe.Observation {
			o := account(i+1, 403, time.Duration(i)*time.Second)
			o.Blocked = true
			o.Decisions = []observe.Decision{{Guard: "denylist", Rule: "denylist.principal", Action: "block"}}
			return o
		})
		if evs := k.detectorEvents(); len(evs) != 0 {
			t.Errorf("events = %+v, want none", evs)
		}
	})
}

func TestAlertSeverity(t *testing.T) {
	s, k := newSet(t, onlyConfig(NameErrorRatio, func(c *config.Detectors) { c.ErrorRatio.Action = "alert" }), nil)
	run(s, k, 30, func(i int) *observe.Observation { return account(i, 404, time.Duration(i)*time.Second) })
	if evs := k.detectorEvents(); len(evs) != 1 || evs[0].Severity != "high" || evs[0].Verdict != events.VerdictObserve {
		t.Errorf("events = %+v, want one observe event of severity high", evs)
	}
}

func TestApply(t *testing.T) {
	s, k := newSet(t, onlyConfig(NameEnumeration, nil), nil)
	run(s, k, 20, func(i int) *observe.Observation { return account(i+1, 404, time.Duration(i)*time.Second) })
	// A reload lowering the threshold keeps the ids seen so far.
	if err := s.Apply(onlyConfig(NameEnumeration, func(c *config.Detectors) { c.Enumeration.MaxFailedIDs = 21 })); err != nil {
		t.Fatal(err)
	}
	got := run(s, k, 1, func(int) *observe.Observation { return account(21, 404, 20*time.Second) })
	if want := []fired{{0, "detect.enumeration.failed_ids"}}; !slices.Equal(got, want) {
		t.Errorf("after Apply = %v, want %v", got, want)
	}
	off := false
	cfg := onlyConfig(NameEnumeration, nil)
	cfg.Enabled = &off
	if err := s.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if s.Active() || s.Keys()[NameEnumeration] != 0 {
		t.Errorf("after turning off: active %v, keys %v, want inactive and empty", s.Active(), s.Keys())
	}
	bad := onlyConfig(NameEnumeration, func(c *config.Detectors) { c.Enumeration.MaxIDs = 1 })
	if err := s.Apply(bad); err == nil || !strings.Contains(err.Error(), "observe.detectors.enumeration.max_ids") {
		t.Errorf("Apply(max_ids 1) = %v, want an error naming the field", err)
	}
}

func TestMaxKeysBound(t *testing.T) {
	cfg := config.DefaultDetectors()
	cfg.MaxKeys = 1000
	cfg.FirstSight.MaxSeen = 500
	s, _ := newSet(t, cfg, nil)
	for i := range 20_000 {
		o := account(i, 404, time.Duration(i)*time.Millisecond)
		o.Principal = fmt.Sprint("p", i)
		o.Credential = fmt.Sprint("jti:", i)
		o.ClientIP = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		o.BytesOut = 1000
		s.Observe(o)
		l := login(fmt.Sprint("u", i), o.ClientIP, 401, time.Duration(i)*time.Millisecond)
		s.Observe(l)
	}
	for name, n := range s.Keys() {
		limit := 1000
		switch name {
		case NameCredentialStuffing:
			limit = 2000 // by address and by username
		case NameFirstSight:
			limit = 3 * 500
		}
		if n > limit {
			t.Errorf("keys of %s = %d, want at most %d", name, n, limit)
		}
	}
}
