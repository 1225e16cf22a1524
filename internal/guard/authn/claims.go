package authn

import (
	"encoding/json"
	"strings"

	"github.com/apiguard/apiguard/internal/pipeline"
)

// claimSet holds the claim names that fill a principal.
type claimSet struct {
	roles, scope, tenant, clientID string
}

func claimNames(c ClaimsConfig) claimSet {
	s := claimSet{roles: c.Roles, scope: c.Scope, tenant: c.Tenant, clientID: c.ClientID}
	if s.roles == "" {
		s.roles = "roles"
	}
	if s.tenant == "" {
		s.tenant = "tenant"
	}
	return s
}

// principal builds the principal of a verified claim set.
func (s claimSet) principal(claims map[string]any, method string) *pipeline.Principal {
	p := &pipeline.Principal{Method: method, Claims: claims}
	p.Subject, _ = claims["sub"].(string)
	p.Tenant, _ = claims[s.tenant].(string)
	p.Roles = stringList(claims[s.roles])
	if s.scope != "" {
		p.Scopes = stringList(claims[s.scope])
	} else if v, ok := claims["scope"]; ok {
		p.Scopes = stringList(v)
	} else {
		p.Scopes = stringList(claims["scp"])
	}
	if s.clientID != "" {
		p.ClientID, _ = claims[s.clientID].(string)
	} else if v, ok := claims["client_id"].(string); ok {
		p.ClientID = v
	} else {
		p.ClientID, _ = claims["azp"].(string)
	}
	return p
}

// stringList reads a claim that is a space-separated string or an array
// of strings. Other values give nil.
func stringList(v any) []string {
	switch t := v.(type) {
	case string:
		return strings.Fields(t)
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// numericClaim reads a NumericDate claim (seconds since the epoch). ok is
// false when it is absent; bad when present but not a number.
func numericClaim(claims map[string]any, name string) (v float64, ok, bad bool) {
	raw, present := claims[name]
	if !present {
		return 0, false, false
	}
	n, isNum := raw.(json.Number)
	if !isNum {
		return 0, false, true
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1e12 {
		return 0, false, true
	}
	return f, true, false
}
