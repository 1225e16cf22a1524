package checks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"

	"github.com/apiguard/apiguard/internal/report"
	"github.com/apiguard/apiguard/internal/scan"
)

// massAssignment sends, on an identity's own object, the writes the spec
// allows (PATCH/PUT with a GET on the same path) with extra properties
// the caller must not set: the response schema's readOnly properties and
// privilege-looking ones (role, is_admin, balance, permissions, …). It
// reads the object back and reports the properties that took the sent
// value, then puts the old values back. Needs --allow-destructive.
type massAssignment struct{ checkMeta }

func newMassAssignment() scan.Check {
	return massAssignment{checkMeta{
		name: "scan.mass_assignment", category: "API3", severity: report.Critical,
		title:       "Mass assignment: read-only or privileged properties are writable",
		description: "The write operation binds properties the caller must not set (readOnly in the spec, or privilege-looking such as role or balance): a user can grant itself rights or money.",
		remediation: "Bind only the documented writable properties and refuse the others (apiguard: the schema guard with strict: true refuses undocumented and readOnly members).",
	}}
}

// massCandidates returns the properties to try on op: readOnly properties
// of the read-back answer that the request body does not accept, and
// privilege-looking properties of either schema, without identifiers,
// timestamps and login names.
func massCandidates(op, get *scan.Operation) []string {
	seen := map[string]bool{}
	var out []string
	consider := func(name string, p *scan.Schema, readOnly bool) {
		if seen[name] || p == nil {
			return
		}
		if res, _ := scan.RefResource(name); res != "" || name == "id" || name == "uuid" {
			return
		}
		if p.Format == "date-time" || p.Format == "date" || p.Type == "object" {
			return
		}
		for _, w := range scan.Words(name) {
			switch w {
			case "username", "login", "email", "name", "password", "created", "updated", "at", "iban":
				return
			}
		}
		if bp := op.Body.Prop(name); bp != nil && !bp.ReadOnly {
			return // documented as writable
		}
		if readOnly || privilegeLooking(name) {
			seen[name] = true
			out = append(out, name)
		}
	}
	if rs := get.SuccessSchema(); rs != nil {
		for _, name := range rs.Order {
			p := rs.Properties[name]
			consider(name, p, p != nil && p.ReadOnly)
		}
	}
	for _, name := range op.Body.Order {
		p := op.Body.Properties[name]
		consider(name, p, p != nil && p.ReadOnly)
	}
	return out
}

// massValue is a value of p's type that differs from cur and would
// matter: an admin-like enum member, a large amount, true.
func massValue(p *scan.Schema, cur any) (any, bool) {
	if len(p.Enum) > 0 {
		var pick any
		for _, e := range p.Enum {
			if reflect.DeepEqual(e, cur) {
				continue
			}
			if s, ok := e.(string); ok && adminValue(s) {
				return e, true
			}
			if pick == nil {
				pick = e
			}
		}
		return pick, pick != nil
	}
	switch p.Type {
	case "integer", "number":
		v := 1000000.0
		if p.Maximum != nil && *p.Maximum < v {
			v = *p.Maximum
		}
		if f, ok := cur.(float64); ok && f == v {
			v--
		}
		return v, true
	case "boolean":
		b, _ := cur.(bool)
		return !b, true
	case "array":
		return []any{"admin"}, true
	case "string", "":
		if cur == "admin" {
			return "administrator", true
		}
		return "admin", true
	}
	return nil, false
}

func adminValue(s string) bool {
	for _, w := range scan.Words(s) {
		switch w {
		case "admin", "administrator", "root", "superuser", "owner", "staff":
			return true
		}
	}
	return false
}

func (c massAssignment) Run(ctx context.Context, s *scan.Session) error {
	if !s.AllowDestructive {
		return nil
	}
	users := s.Users()
	if len(users) == 0 {
		return nil
	}
	// the last user: the first ones are the attackers' references of the
	// other checks
	id := users[len(users)-1]
	for _, op := range s.Ops {
		if op.Method != http.MethodPatch && op.Method != http.MethodPut || op.Body == nil || scan.AdminLooking(op) {
			continue
		}
		get := readBack(s, op)
		if get == nil {
			continue
		}
		cands := massCandidates(op, get)
		if len(cands) == 0 {
			continue
		}
		greq, err := s.Build(get, id)
		if errors.Is(err, scan.ErrNoObject) {
			continue
		}
		ureq, err := s.Build(op, id)
		if errors.Is(err, scan.ErrNoObject) {
			continue
		}
		before, err := s.Do(ctx, id, greq)
		if err != nil {
			return err
		}
		obj := before.Object()
		if !before.OK() || obj == nil {
			continue
		}
		rs := get.SuccessSchema()
		attack := ureq.Clone()
		body := map[string]any{}
		if op.Method == http.MethodPut {
			// PUT replaces: start from the object as read
			for k, v := range obj {
				if p := op.Body.Prop(k); p != nil && !p.ReadOnly {
					body[k] = v
				}
			}
		}
		sent := map[string]any{}
		for _, name := range cands {
			p := rs.Prop(name)
			if p == nil {
				p = op.Body.Prop(name)
			}
			if p == nil {
				continue
			}
			if v, ok := massValue(p, obj[name]); ok {
				body[name] = v
				sent[name] = v
			}
		}
		if len(sent) == 0 {
			continue
		}
		attack.JSON = body
		r, err := s.Do(ctx, id, attack)
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
		got := after.Object()
		var written []string
		restore := map[string]any{}
		for name, v := range sent {
			if got != nil && sameJSONValue(got[name], v) && !sameJSONValue(obj[name], v) {
				written = append(written, name)
				restore[name] = obj[name]
			}
		}
		if len(written) == 0 {
			continue
		}
		sort.Strings(written)
		// put the old values back (accepted the same way they were written)
		back := ureq.Clone()
		back.JSON = restore
		_, _ = s.Do(ctx, id, back)
		sev := report.High
		for _, w := range written {
			if privilegeLooking(w) {
				sev = report.Critical
			}
		}
		var parts []string
		for _, w := range written {
			parts = append(parts, fmt.Sprintf("%s: %v → %v", w, obj[w], got[w]))
		}
		s.Report(scan.Finding{
			Severity: sev,
			Title:    fmt.Sprintf("%s %s lets the caller set %s", op.Method, op.Path, strings.Join(written, ", ")),
			Evidence: fmt.Sprintf("%s %s as %s on its own object: %d; the read-back shows %s (restored afterwards)", op.Method, r.URL, id.Name, r.Status, strings.Join(parts, ", ")),
			Exchange: r,
		})
	}
	return nil
}

// sameJSONValue compares decoded JSON values, numbers by value.
func sameJSONValue(a, b any) bool {
	return reflect.DeepEqual(a, b) || scan.ScalarString(a) != "" && scan.ScalarString(a) == scan.ScalarString(b)
}
