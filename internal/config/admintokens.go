package config

import (
	"fmt"
	"regexp"
)

// AdminToken is one named admin API token. The name is what the audit log
// records as the actor of every action made with the token.
type AdminToken struct {
	// Name identifies the token's holder in the audit log, such as
	// ops-alice. Required, unique, and not "admin" (the name of
	// admin.token).
	Name string `yaml:"name" json:"name" jsonschema:"required"`
	// Token is the bearer token, at least 16 bytes; write it as
	// ${ENV_VAR}. Required, unique.
	Token Secret `yaml:"token" json:"token" jsonschema:"required"`
	// Role is admin (default: every call) or read-only (GET calls only;
	// state-changing calls answer 403).
	Role string `yaml:"role" json:"role" jsonschema:"enum=admin,enum=read-only"`
}

// Admin token roles.
const (
	RoleAdmin    = "admin"
	RoleReadOnly = "read-only"
)

// LegacyAdminTokenName is the audit name of admin.token.
const LegacyAdminTokenName = "admin"

var adminTokenNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$`)

// applyAdminDefaults fills the tokens' roles.
func (a *Admin) applyAdminDefaults() {
	for i := range a.Tokens {
		if a.Tokens[i].Role == "" {
			a.Tokens[i].Role = RoleAdmin
		}
	}
}

// validateTokens checks admin.tokens; add reports a problem at a path.
func (a *Admin) validateTokens(add func(path, format string, args ...any)) {
	names := map[string]int{}
	values := map[Secret]int{}
	if a.Token != "" {
		values[a.Token] = -1
	}
	for i, t := range a.Tokens {
		p := fmt.Sprintf("admin.tokens[%d]", i)
		switch {
		case !adminTokenNameRE.MatchString(t.Name):
			add(p+".name", "must be 1-64 letters, digits, '_', '.', '@', '-', not %q", t.Name)
		case t.Name == LegacyAdminTokenName:
			add(p+".name", "%q is the name of admin.token; choose another", t.Name)
		default:
			if j, dup := names[t.Name]; dup {
				add(p+".name", "%q is already the name of admin.tokens[%d]", t.Name, j)
			}
			names[t.Name] = i
		}
		if len(t.Token) < MinAdminTokenBytes {
			add(p+".token", "must be at least %d bytes", MinAdminTokenBytes)
		} else if j, dup := values[t.Token]; dup {
			other := "admin.token"
			if j >= 0 {
				other = fmt.Sprintf("admin.tokens[%d]", j)
			}
			add(p+".token", "is the same token as %s: every token must be different", other)
		} else {
			values[t.Token] = i
		}
		if t.Role != RoleAdmin && t.Role != RoleReadOnly {
			add(p+".role", "must be admin or read-only, not %q", t.Role)
		}
	}
}
