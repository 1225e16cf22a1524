package checks

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/apiguard/apiguard/internal/report"
	"github.com/apiguard/apiguard/internal/scan"
)

// noLockout tries a bounded number of wrong passwords on one user, then
// the right one: when every attempt was answered like a plain wrong
// password and the right one still works, nothing slows a brute force.
//
// It must run after every identity has logged in and after every other
// check that logs in (checks.All keeps it last): on an API that does lock
// accounts, the probed user is locked out afterwards.
type noLockout struct{ checkMeta }

// lockoutAttempts is the number of wrong passwords tried.
const lockoutAttempts = 12

func newNoLockout() scan.Check {
	return noLockout{checkMeta{
		name: "scan.auth.no_lockout", category: "API2", severity: report.High,
		title:       "No lockout or throttling after repeated failed logins",
		description: fmt.Sprintf("%d wrong passwords in a row for one user were all answered as ordinary failures (no 429, no lockout) and the right password still worked: passwords can be brute-forced.", lockoutAttempts),
		remediation: "Throttle logins per user and per client and lock accounts temporarily after a few failures (apiguard: authn.login.max_failures and a ratelimit rule on the login operation).",
	}}
}

func (c noLockout) Run(ctx context.Context, s *scan.Session) error {
	if s.LoginOp == nil {
		return nil
	}
	var id *scan.Identity
	users := s.Users()
	for i := len(users) - 1; i >= 0; i-- {
		if users[i].Password != "" {
			id = users[i]
			break
		}
	}
	if id == nil {
		return nil
	}
	var statuses []string
	var first *scan.Response
	for i := 1; i <= lockoutAttempts; i++ {
		r, err := s.Do(ctx, s.Anonymous(), s.LoginRequest(id.Username, "apiguard-scan-wrong-"+strconv.Itoa(i), nil))
		if err != nil {
			return err
		}
		if first == nil {
			first = r
		}
		statuses = append(statuses, strconv.Itoa(r.Status))
		switch {
		case r.OK():
			return nil // a wrong password accepted is another problem; no lockout test possible
		case r.Status == 429 || r.Status == 423 || r.Status == 503 || r.Header.Get("Retry-After") != "":
			return nil // throttled or locked: protected
		case r.Status != 400 && r.Status != 401 && r.Status != 403 && r.Status != 404:
			return nil
		case strings.Contains(strings.ToLower(string(r.Body)), "lock"):
			return nil
		}
	}
	ok, err := s.Do(ctx, s.Anonymous(), s.LoginRequest(id.Username, id.Password, nil))
	if err != nil {
		return err
	}
	if !ok.OK() {
		return nil // the right password is refused now: a silent lockout
	}
	s.Report(scan.Finding{
		Op:       s.LoginOp,
		Title:    fmt.Sprintf("%d failed logins for one user are never throttled", lockoutAttempts),
		Evidence: fmt.Sprintf("%d wrong passwords for %s answered %s, then the right password %d", lockoutAttempts, id.Name, strings.Join(statuses, " "), ok.Status),
		Exchange: ok,
		Steps:    []*scan.Response{first},
	})
	return nil
}
