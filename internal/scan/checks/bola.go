package checks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"github.com/apiguard/apiguard/internal/report"
	"github.com/apiguard/apiguard/internal/scan"
)

// bola replays requests on an identity's objects as the other users and
// anonymously (broken object level authorization):
//
//   - reads (GET with object ids in the path): a finding when another
//     identity gets 2xx with the owner's data (compared with the owner's
//     own answer);
//   - updates (PATCH/PUT with a GET on the same path; --allow-destructive):
//     a finding when another user's update shows in the owner's read-back
//     (the owner's value is restored afterwards);
//   - writes whose body names an object (POST/PUT/PATCH with properties
//     like from_account_id; --allow-destructive): a finding when a user's
//     write naming another identity's object is accepted and either
//     echoes that object or changes it as its owner reads it.
type bola struct{ checkMeta }

func newBOLA() scan.Check {
	return bola{checkMeta{
		name: "scan.bola", category: "API1", severity: report.High,
		title:       "Broken object level authorization: another identity's objects are readable or writable",
		description: "The operation takes an object id from the caller and does not check that the caller may access that object: one user reads or changes another user's data by changing an id.",
		remediation: "Check the caller's right to the object on every access (apiguard: authz rules such as path.userId == principal.sub, response rules on owner ids, require_access for ids named in bodies).",
	}}
}

func (c bola) Run(ctx context.Context, s *scan.Session) error {
	for _, op := range s.Ops {
		// public operations (the spec allows anonymous callers) answer
		// everyone by design; admin-looking ones are scan.bfla's
		if op == s.LoginOp || scan.AdminLooking(op) || !op.Secured() {
			continue
		}
		var err error
		switch {
		case len(op.PathParams()) > 0 && op.Method == http.MethodGet:
			err = c.read(ctx, s, op)
		case len(op.PathParams()) > 0 && (op.Method == http.MethodPatch || op.Method == http.MethodPut) && s.AllowDestructive:
			err = c.update(ctx, s, op)
		}
		if err != nil {
			return err
		}
		if op.Unsafe() && s.AllowDestructive && op.Body != nil && op.Method != http.MethodDelete {
			if err := c.bodyRefs(ctx, s, op); err != nil {
				return err
			}
		}
	}
	return nil
}

// attackers are the identities that must not reach owner's objects: the
// other users and anonymous (never the admin).
func attackers(s *scan.Session, owner *scan.Identity) []*scan.Identity {
	var out []*scan.Identity
	for _, u := range s.Users() {
		if u != owner {
			out = append(out, u)
		}
	}
	return append(out, s.Anonymous())
}

// owners are the identities whose objects are attacked: users, then the
// admin.
func owners(s *scan.Session) []*scan.Identity { return s.Identities() }

func (c bola) read(ctx context.Context, s *scan.Session, op *scan.Operation) error {
	for _, owner := range owners(s) {
		req, err := s.Build(op, owner)
		if errors.Is(err, scan.ErrNoObject) {
			continue
		}
		base, err := s.Do(ctx, owner, req)
		if err != nil {
			return err
		}
		if !base.OK() || base.JSON() == nil {
			continue
		}
		for _, att := range attackers(s, owner) {
			r, err := s.Do(ctx, att, req)
			if err != nil {
				return err
			}
			if scan.SameData(base, r) {
				sev := report.High
				s.Report(scan.Finding{
					Severity: sev,
					Title:    fmt.Sprintf("%s reads %s's object with %s %s", att.Name, owner.Name, op.Method, op.Path),
					Evidence: fmt.Sprintf("%s %s as %s: %d with %s's data (the same values as %s's own answer, %d bytes)", op.Method, r.URL, att.Name, r.Status, owner.Name, owner.Name, len(r.Body)),
					Exchange: r,
				})
				return nil
			}
		}
	}
	return nil
}

// readBack returns the GET operation on the same path template, if any.
func readBack(s *scan.Session, op *scan.Operation) *scan.Operation {
	for _, o := range s.Ops {
		if o.Method == http.MethodGet && o.Path == op.Path {
			return o
		}
	}
	return nil
}

// bolaValue is a marker value for property p that fits its schema and
// differs from cur.
func bolaValue(p *scan.Schema, name string, cur any, seq int) (any, bool) {
	if p == nil || p.ReadOnly || p.HasConst || len(p.Enum) > 1 {
		if p != nil && len(p.Enum) > 1 {
			for _, e := range p.Enum {
				if !reflect.DeepEqual(e, cur) {
					return e, true
				}
			}
		}
		return nil, false
	}
	if p.Type != "string" && p.Type != "" {
		return nil, false
	}
	sample := scan.Sample(p, name)
	str, ok := sample.(string)
	if !ok {
		return nil, false
	}
	marker := fmt.Sprintf("apiguard%d", seq)
	var v string
	switch {
	case strings.Contains(str, "@"):
		v = marker + "-" + str
	case strings.HasPrefix(str, "+") && strings.Trim(str[1:], "0123456789") == "":
		v = fmt.Sprintf("+1555555%04d", seq%10000)
	default:
		v = str + " " + marker
		if p.Pattern != "" {
			v = str + marker
		}
	}
	if p.MaxLength != nil && len(v) > *p.MaxLength {
		return nil, false
	}
	if v == cur {
		return nil, false
	}
	return v, true
}

// update tries another user's update of owner's object and reads it back
// as the owner.
func (c bola) update(ctx context.Context, s *scan.Session, op *scan.Operation) error {
	get := readBack(s, op)
	if get == nil || op.Body == nil {
		return nil
	}
	for _, owner := range owners(s) {
		greq, err := s.Build(get, owner)
		if errors.Is(err, scan.ErrNoObject) {
			continue
		}
		ureq, err := s.Build(op, owner)
		if errors.Is(err, scan.ErrNoObject) {
			continue
		}
		before, err := s.Do(ctx, owner, greq)
		if err != nil {
			return err
		}
		obj := before.Object()
		if !before.OK() || obj == nil {
			continue
		}
		// one harmless, non-privileged property present in the answer
		prop, val := "", any(nil)
		for i, name := range op.Body.Order {
			p := op.Body.Properties[name]
			if privilegeLooking(name) || p == nil || p.ReadOnly {
				continue
			}
			if res, _ := scan.RefResource(name); res != "" {
				continue
			}
			cur, present := obj[name]
			if !present {
				continue
			}
			if v, ok := bolaValue(p, name, cur, i+1); ok {
				prop, val = name, v
				break
			}
		}
		if prop == "" {
			return nil
		}
		for _, att := range attackers(s, owner) {
			if att.IsAnonymous() && !op.Secured() {
				continue
			}
			attack := ureq.Clone()
			attack.JSON = map[string]any{prop: val}
			r, err := s.Do(ctx, att, attack)
			if err != nil {
				return err
			}
			if !r.OK() {
				continue
			}
			after, err := s.Do(ctx, owner, greq)
			if err != nil {
				return err
			}
			if got := after.Object(); got != nil && reflect.DeepEqual(got[prop], val) {
				// put the owner's value back
				restore := ureq.Clone()
				restore.JSON = map[string]any{prop: obj[prop]}
				_, _ = s.Do(ctx, owner, restore)
				s.Report(scan.Finding{
					Severity: report.High,
					Title:    fmt.Sprintf("%s changes %s's object with %s %s", att.Name, owner.Name, op.Method, op.Path),
					Evidence: fmt.Sprintf("%s %s as %s setting %s: %d; %s's read-back then shows %s = %v (was %v); restored", op.Method, r.URL, att.Name, prop, r.Status, owner.Name, prop, val, obj[prop]),
					Exchange: r,
				})
				return nil
			}
		}
		return nil
	}
	return nil
}

// itemGet returns a GET operation whose last path parameter names
// resource (/accounts/{accountId} for "account"), or nil.
func itemGet(s *scan.Session, resource string) *scan.Operation {
	for _, o := range s.Ops {
		if o.Method != http.MethodGet || o.Deprecated || scan.AdminLooking(o) {
			continue
		}
		pp := o.PathParams()
		if len(pp) == 1 && scan.ParamResource(pp[0].Name, o.Path) == resource && strings.HasSuffix(o.Path, "{"+pp[0].Name+"}") {
			return o
		}
	}
	return nil
}

// bodyRefs sends, as each user, the operation with the source-like object
// references of its body pointing at another identity's objects.
func (c bola) bodyRefs(ctx context.Context, s *scan.Session, op *scan.Operation) error {
	type ref struct {
		prop, resource string
		source         bool
	}
	var refs []ref
	for _, name := range op.Body.Order {
		p := op.Body.Properties[name]
		if p == nil || p.ReadOnly || p.Type != "integer" && p.Type != "string" {
			continue
		}
		res, qual := scan.RefResource(name)
		if res == "" {
			continue
		}
		refs = append(refs, ref{prop: name, resource: res, source: !destinationRef(qual)})
	}
	if len(refs) == 0 {
		return nil
	}
	for _, att := range s.Users() {
		for _, victim := range owners(s) {
			if victim == att {
				continue
			}
			req, err := s.Build(op, att)
			if errors.Is(err, scan.ErrNoObject) {
				continue
			}
			body := req.BodyObject()
			if body == nil {
				continue
			}
			var target *ref
			var victimValue string
			for i := range refs {
				r := refs[i]
				if !r.source {
					// the receiving side: the attacker's own object
					if own := s.Owned(att, r.resource); len(own) > 0 {
						body[r.prop] = typedLike(body[r.prop], own[0])
					}
					continue
				}
				vs := s.Owned(victim, r.resource)
				if len(vs) == 0 || target != nil {
					continue
				}
				target, victimValue = &refs[i], vs[0]
				body[r.prop] = typedLike(body[r.prop], victimValue)
			}
			if target == nil {
				continue
			}
			// the victim's view of the object before and after
			var get *scan.Operation
			var greq *scan.Request
			var before *scan.Response
			if get = itemGet(s, target.resource); get != nil {
				if greq, err = s.Build(get, victim); err == nil && greq.PathParams[get.PathParams()[0].Name] == victimValue {
					if before, err = s.Do(ctx, victim, greq); err != nil {
						return err
					}
				}
			}
			r, err := s.Do(ctx, att, req)
			if err != nil {
				return err
			}
			if !r.OK() {
				continue
			}
			echoed := scan.ScalarString(r.Object()[target.prop]) == victimValue
			changed := false
			if before != nil && before.OK() {
				after, err := s.Do(ctx, victim, greq)
				if err != nil {
					return err
				}
				changed = after.OK() && !reflect.DeepEqual(before.JSON(), after.JSON())
			}
			if !echoed && !changed {
				continue
			}
			sev := report.High
			ev := fmt.Sprintf("%s %s as %s with %s = %s (%s's %s): %d", op.Method, r.URL, att.Name, target.prop, victimValue, victim.Name, target.resource, r.Status)
			if echoed {
				ev += fmt.Sprintf(", the answer names %s's %s", victim.Name, target.resource)
			}
			if changed {
				sev = report.Critical
				ev += fmt.Sprintf("; %s's read-back of %s %s changed", victim.Name, get.Method, strings.ReplaceAll(get.Path, "{"+get.PathParams()[0].Name+"}", victimValue))
			}
			s.Report(scan.Finding{
				Severity: sev,
				Title:    fmt.Sprintf("%s acts on %s's %s through %s %s", att.Name, victim.Name, target.resource, op.Method, op.Path),
				Evidence: ev,
				Exchange: r,
			})
			return nil
		}
	}
	return nil
}

// destinationRef reports whether a reference's qualifier words name the
// receiving side (to_account_id).
func destinationRef(qual []string) bool {
	for _, w := range qual {
		switch w {
		case "to", "dest", "destination", "target", "recipient", "payee", "beneficiary", "receiver", "counterparty":
			return true
		}
	}
	return false
}

// typedLike returns id text v with the JSON type of the sample value.
func typedLike(sample any, v string) any {
	if _, isNum := sample.(float64); isNum {
		var f float64
		if _, err := fmt.Sscan(v, &f); err == nil {
			return f
		}
	}
	return v
}

// privilegeLooking reports whether a property name looks like it grants
// privileges or money (role, is_admin, permissions, balance, credit, …).
func privilegeLooking(name string) bool {
	for _, w := range scan.Words(name) {
		switch w {
		case "role", "roles", "admin", "administrator", "superuser", "permission", "permissions", "scope", "scopes",
			"privilege", "privileges", "balance", "credit", "credits", "group", "groups", "verified", "approved",
			"owner", "tier", "plan", "staff", "level", "limit", "quota", "discount", "price":
			return true
		}
	}
	return false
}
