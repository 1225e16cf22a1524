package checks

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode"

	"github.com/apiguard/apiguard/internal/report"
	"github.com/apiguard/apiguard/internal/scan"
)

// dataExposure reads the 2xx JSON answers the scan has received so far
// (discovery and the checks before it) against their response schemas:
// members the schema does not document or marks writeOnly, and values
// that look like secrets (password hashes, SSNs, private keys, tokens).
// Sensitive data is reported high (rule scan.data_exposure); other
// undocumented members low (scan.undocumented_field). Masked values
// (mostly '*') are not sensitive.
type dataExposure struct{ checkMeta }

func newDataExposure() scan.Check {
	return dataExposure{checkMeta{
		name: "scan.data_exposure", category: "API3", severity: report.High,
		title:       "Excessive data exposure: answers carry sensitive data",
		description: "Answers contain members the spec does not document or declares writeOnly, with sensitive values (password hashes, SSNs, secrets): the API returns whole records and relies on clients to hide fields.",
		remediation: "Answer only the documented members (apiguard: the schema guard's response mode, authz property filters and the dlp guard masking ssn and password_hash).",
	}}
}

// undocumentedRule is the low-severity rule for undocumented members that
// carry nothing sensitive.
const undocumentedRule = "scan.undocumented_field"

var (
	passwordHashRE = regexp.MustCompile(`^(\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{20,}|\$argon2(id|i|d)\$.+|\$pbkdf2[-_a-z0-9]*\$.+|pbkdf2_sha\d+\$.+|\$scrypt\$.+|\$[56]\$.+\$.{20,}|sha\d+\$.+\$.+)$`)
	ssnRE          = regexp.MustCompile(`^\d{3}-\d{2}-\d{4}$`)
	privateKeyRE   = regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`)
	jwtRE          = regexp.MustCompile(`^eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*$`)
)

// sensitiveName reports whether a member name suggests a secret or
// personal identifier.
func sensitiveName(name string) bool {
	w := scan.Words(name)
	for i, x := range w {
		switch x {
		case "password", "passwd", "pwd", "ssn", "secret", "pin", "cvv", "cvc", "salt", "otp", "mfa", "totp":
			return true
		case "hash":
			return true
		case "private", "api", "refresh", "access", "session":
			if i+1 < len(w) && (w[i+1] == "key" || w[i+1] == "token" || w[i+1] == "secret") {
				return true
			}
		case "social":
			return true
		case "card":
			if i+1 < len(w) && w[i+1] == "number" {
				return true
			}
		}
	}
	return false
}

// sensitiveValue names the kind of secret a value looks like, or "".
func sensitiveValue(v string) string {
	switch {
	case passwordHashRE.MatchString(v):
		return "password hash"
	case ssnRE.MatchString(v):
		return "social security number"
	case privateKeyRE.MatchString(v):
		return "private key"
	case jwtRE.MatchString(v):
		return "token"
	}
	return ""
}

// masked reports whether a value was masked (mostly '*', or a redaction
// marker).
func masked(v string) bool {
	if v == "" {
		return true
	}
	l := strings.ToLower(v)
	if strings.Contains(l, "redacted") || strings.Contains(l, "masked") {
		return true
	}
	stars, other := 0, 0
	for _, r := range v {
		switch {
		case r == '*' || r == '•' || r == '#':
			stars++
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			other++
		}
	}
	return stars > 0 && stars >= other
}

// exposure is what one answer shows.
type exposure struct {
	sensitive    map[string]string // member path → why
	undocumented map[string]bool
}

// inspect walks v against schema sc.
func inspect(path string, v any, sc *scan.Schema, out *exposure, depth int) {
	if depth > 10 {
		return
	}
	switch t := v.(type) {
	case map[string]any:
		for name, val := range t {
			p := joinMember(path, name)
			var ps *scan.Schema
			documented := sc == nil || len(sc.Properties) == 0 && !sc.NoAdditional
			if sc != nil {
				ps = sc.Properties[name]
				if ps != nil {
					documented = !ps.WriteOnly
				} else if sc.AdditionalProperties != nil {
					ps, documented = sc.AdditionalProperties, true
				}
			}
			if str, ok := val.(string); ok {
				kind := sensitiveValue(str)
				switch {
				case kind == "password hash" || kind == "private key":
					out.sensitive[p] = kind
				case !documented && !masked(str) && kind != "":
					out.sensitive[p] = kind
				case !documented && !masked(str) && sensitiveName(name):
					out.sensitive[p] = "sensitive member name"
				}
			}
			if !documented && ps == nil {
				if _, sens := out.sensitive[p]; !sens {
					out.undocumented[p] = true
				}
			}
			if !documented && ps != nil && ps.WriteOnly {
				if _, sens := out.sensitive[p]; !sens {
					if str, ok := val.(string); !ok || !masked(str) {
						out.sensitive[p] = "writeOnly member answered"
					}
				}
			}
			inspect(p, val, ps, out, depth+1)
		}
	case []any:
		var items *scan.Schema
		if sc != nil {
			items = sc.Items
		}
		for i, e := range t {
			if i >= 100 {
				break
			}
			inspect(path+"[]", e, items, out, depth+1)
		}
	}
}

func joinMember(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func (c dataExposure) Run(ctx context.Context, s *scan.Session) error {
	type acc struct {
		ex   exposure
		resp *scan.Response
		low  *scan.Response
	}
	byOp := map[*scan.Operation]*acc{}
	var order []*scan.Operation
	for _, r := range s.Exchanges() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		req := r.Request
		if !r.OK() || req == nil || req.Op == nil || r.JSON() == nil || req.NoAuth && req.Header.Get("Authorization") != "" {
			continue
		}
		op := req.Op
		sc := op.ResponseSchema(r.Status)
		ex := exposure{sensitive: map[string]string{}, undocumented: map[string]bool{}}
		inspect("", r.JSON(), sc, &ex, 0)
		if len(ex.sensitive) == 0 && len(ex.undocumented) == 0 {
			continue
		}
		a := byOp[op]
		if a == nil {
			a = &acc{ex: exposure{sensitive: map[string]string{}, undocumented: map[string]bool{}}}
			byOp[op] = a
			order = append(order, op)
		}
		for k, v := range ex.sensitive {
			a.ex.sensitive[k] = v
		}
		for k := range ex.undocumented {
			a.ex.undocumented[k] = true
		}
		if len(ex.sensitive) > 0 && a.resp == nil {
			a.resp = r
		}
		if len(ex.undocumented) > 0 && a.low == nil {
			a.low = r
		}
	}
	for _, op := range order {
		a := byOp[op]
		if len(a.ex.sensitive) > 0 {
			var parts []string
			for k, why := range a.ex.sensitive {
				parts = append(parts, k+" ("+why+")")
			}
			sort.Strings(parts)
			s.Report(scan.Finding{
				Op:       op,
				Title:    fmt.Sprintf("%s %s answers sensitive data the spec does not document", op.Method, op.Path),
				Evidence: fmt.Sprintf("%s's answer (%d) carries %s", a.resp.Identity.Name, a.resp.Status, strings.Join(capList(parts, 8), ", ")),
				Exchange: a.resp,
			})
		}
		if len(a.ex.undocumented) > 0 {
			var parts []string
			for k := range a.ex.undocumented {
				parts = append(parts, k)
			}
			sort.Strings(parts)
			s.Report(scan.Finding{
				Rule:        undocumentedRule,
				Severity:    report.Low,
				Op:          op,
				Title:       fmt.Sprintf("%s %s answers members its schema does not document", op.Method, op.Path),
				Description: "The answer has members that the response schema does not list; clients and gateways cannot tell what the API exposes.",
				Remediation: "Document every member of the answer or stop sending it.",
				Evidence:    fmt.Sprintf("%s's answer (%d) has %s", a.low.Identity.Name, a.low.Status, strings.Join(capList(parts, 8), ", ")),
				Exchange:    a.low,
			})
		}
	}
	return nil
}

func capList(l []string, n int) []string {
	if len(l) <= n {
		return l
	}
	return append(l[:n:n], fmt.Sprintf("and %d more", len(l)-n))
}
