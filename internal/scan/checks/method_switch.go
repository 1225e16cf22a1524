package checks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/apiguard/apiguard/internal/report"
	"github.com/apiguard/apiguard/internal/scan"
)

// methodSwitch sends, on paths the spec documents only with safe methods,
// PUT, PATCH and DELETE as a user on its own objects (--allow-destructive).
// An answer 2xx to an undocumented method is a finding: medium, high when
// the object as read afterwards changed or is gone.
type methodSwitch struct{ checkMeta }

func newMethodSwitch() scan.Check {
	return methodSwitch{checkMeta{
		name: "scan.method_switch", category: "API5", severity: report.Medium,
		title:       "Undocumented methods accepted on read-only paths",
		description: "A path the spec documents as read-only accepts PUT, PATCH or DELETE: authorization written for the documented method does not cover the others.",
		remediation: "Route only the documented methods and answer 405 to the others (apiguard: authz.unknown_operation: deny).",
	}}
}

func (c methodSwitch) Run(ctx context.Context, s *scan.Session) error {
	if !s.AllowDestructive {
		return nil
	}
	users := s.Users()
	if len(users) == 0 {
		return nil
	}
	id := users[0]
	byPath := map[string][]*scan.Operation{}
	var paths []string
	for _, op := range s.Ops {
		if _, ok := byPath[op.Path]; !ok {
			paths = append(paths, op.Path)
		}
		byPath[op.Path] = append(byPath[op.Path], op)
	}
	for _, path := range paths {
		ops := byPath[path]
		var get *scan.Operation
		readOnly := true
		for _, o := range ops {
			if o.Unsafe() {
				readOnly = false
			}
			if o.Method == http.MethodGet {
				get = o
			}
		}
		if !readOnly || get == nil || get.Deprecated || scan.AdminLooking(get) || len(get.PathParams()) == 0 {
			continue
		}
		greq, err := s.Build(get, id)
		if errors.Is(err, scan.ErrNoObject) {
			continue
		}
		before, err := s.Do(ctx, id, greq)
		if err != nil {
			return err
		}
		if !before.OK() {
			continue
		}
		for _, m := range []string{http.MethodPatch, http.MethodPut, http.MethodDelete} {
			req := greq.Clone()
			req.Method = m
			req.Op = nil
			req.Path = scan.FillPath(get.Path, greq.PathParams)
			if m != http.MethodDelete {
				req.JSON = before.JSON()
			}
			r, err := s.Do(ctx, id, req)
			if err != nil {
				return err
			}
			if !r.OK() {
				continue
			}
			after, err := s.Do(ctx, id, greq)
			if err != nil {
				return err
			}
			sev := report.Medium
			ev := fmt.Sprintf("%s %s as %s: %d although the spec documents only %s", m, r.URL, id.Name, r.Status, methodsOf(ops))
			if !after.OK() || !scan.SameData(before, after) || string(before.Body) != string(after.Body) {
				sev = report.High
				ev += fmt.Sprintf("; the object read afterwards changed (%d)", after.Status)
			}
			s.Report(scan.Finding{
				Severity: sev,
				Op:       get,
				Key:      m,
				Title:    fmt.Sprintf("%s accepted on the read-only path %s", m, path),
				Evidence: ev,
				Exchange: r,
			})
		}
	}
	return nil
}

func methodsOf(ops []*scan.Operation) string {
	var out []string
	for _, o := range ops {
		out = append(out, o.Method)
	}
	return strings.Join(out, ", ")
}
