package checks

import (
	"context"
	"fmt"
	"net/http"

	"github.com/apiguard/apiguard/internal/report"
	"github.com/apiguard/apiguard/internal/scan"
)

// bfla calls admin-looking operations (x-apiguard-roles naming an admin
// role, an admin tag or scope, admin/internal/debug path segments) as
// every ordinary user. With an admin identity, a finding needs the user's
// 2xx answer to carry the admin's data; without one, a 2xx JSON answer of
// the documented shape. Unsafe admin operations are called only with
// --allow-destructive, and DELETE never.
type bfla struct{ checkMeta }

func newBFLA() scan.Check {
	return bfla{checkMeta{
		name: "scan.bfla", category: "API5", severity: report.High,
		title:       "Broken function level authorization: admin operations answer ordinary users",
		description: "An operation reserved for administrators answers an ordinary user: the API checks who the caller is but not what the caller may do.",
		remediation: "Check the caller's role on every administrative operation (apiguard: x-apiguard-roles in the spec or authz rules on the operation).",
	}}
}

func (c bfla) Run(ctx context.Context, s *scan.Session) error {
	admin := s.Admin()
	for _, op := range s.Ops {
		if !scan.AdminLooking(op) || op.Method == http.MethodDelete || op.Unsafe() && !s.AllowDestructive {
			continue
		}
		var base *scan.Response
		builder := admin
		if builder == nil && len(s.Users()) > 0 {
			builder = s.Users()[0]
		}
		if builder == nil {
			return nil
		}
		req, err := s.Build(op, builder)
		if err != nil && len(op.PathParams()) > 0 {
			continue
		}
		if admin != nil && !op.Unsafe() {
			if base, err = s.Do(ctx, admin, req); err != nil {
				return err
			}
			if !base.OK() {
				continue
			}
		}
		for _, u := range s.Users() {
			r, err := s.Do(ctx, u, req)
			if err != nil {
				return err
			}
			if !r.OK() {
				continue
			}
			var why string
			switch {
			case base != nil && scan.SameData(base, r):
				why = fmt.Sprintf("the same data as the admin's answer (%d bytes)", len(r.Body))
			case base == nil && r.JSON() != nil && (op.Unsafe() || documentedShape(op, r)):
				why = "a documented answer"
			default:
				continue
			}
			s.Report(scan.Finding{
				Title:    fmt.Sprintf("%s calls the admin operation %s %s", u.Name, op.Method, op.Path),
				Evidence: fmt.Sprintf("%s %s as %s (role %s): %d with %s", op.Method, r.URL, u.Name, u.Role, r.Status, why),
				Exchange: r,
			})
			break
		}
	}
	return nil
}

// documentedShape reports whether a JSON answer has the members the
// operation's success schema requires.
func documentedShape(op *scan.Operation, r *scan.Response) bool {
	sc := op.ResponseSchema(r.Status)
	obj := r.Object()
	if sc == nil || obj == nil || len(sc.Required) == 0 {
		return false
	}
	for _, k := range sc.Required {
		if _, ok := obj[k]; !ok {
			return false
		}
	}
	return true
}
