package scan

import (
	"net/url"
	"strings"

	"github.com/apiguard/apiguard/internal/report"
)

// Memo returns the value stored under key, computing it with fn the first
// time; checks use it to share costly results (an expired token, the
// operation a token is probed on). fn runs without the session lock, so
// it may send requests.
func (s *Session) Memo(key string, fn func() any) any {
	s.mu.Lock()
	if v, ok := s.memo[key]; ok {
		s.mu.Unlock()
		return v
	}
	s.mu.Unlock()
	v := fn()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.memo == nil {
		s.memo = map[string]any{}
	}
	if old, ok := s.memo[key]; ok {
		return old
	}
	s.memo[key] = v
	return v
}

// SameData reports whether answer b carries the data of answer a: both
// 2xx JSON, and either equal, or with the same identifier members and at
// least half of a's significant scalar values (strings of 3+ characters,
// numbers other than 0 and 1) found at the same place in b. It is how a
// check decides that another identity got the owner's data.
func SameData(a, b *Response) bool {
	if !a.OK() || !b.OK() {
		return false
	}
	ja, jb := a.JSON(), b.JSON()
	if ja == nil || jb == nil {
		return false
	}
	if string(a.Body) == string(b.Body) {
		return significant(ja) > 0
	}
	la, lb := map[string]string{}, map[string]string{}
	flatten("", ja, la, 0)
	flatten("", jb, lb, 0)
	total, same := 0, 0
	for k, v := range la {
		if isIDPath(k) && lb[k] != v {
			return false
		}
		if !significantValue(v) {
			continue
		}
		total++
		if lb[k] == v {
			same++
		}
	}
	return total > 0 && same*2 >= total
}

// SameShape reports whether two JSON answers have the same member names
// at the top level (or the same item members for arrays): the same kind
// of answer, possibly about different objects.
func SameShape(a, b *Response) bool {
	ka, kb := shapeKeys(a.JSON()), shapeKeys(b.JSON())
	if len(ka) == 0 || len(ka) != len(kb) {
		return false
	}
	for k := range ka {
		if !kb[k] {
			return false
		}
	}
	return true
}

func shapeKeys(v any) map[string]bool {
	out := map[string]bool{}
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			out[k] = true
			if arr, ok := e.([]any); ok && len(arr) > 0 {
				if m, ok := arr[0].(map[string]any); ok {
					for ik := range m {
						out[k+"[]."+ik] = true
					}
				}
			}
		}
	case []any:
		if len(t) > 0 {
			if m, ok := t[0].(map[string]any); ok {
				for k := range m {
					out["[]."+k] = true
				}
			}
		}
	}
	return out
}

func isIDPath(k string) bool {
	last := k
	if i := strings.LastIndexByte(k, '.'); i >= 0 {
		last = k[i+1:]
	}
	return last == "id" || last == "uuid" || last == "_id"
}

func significant(v any) int {
	m := map[string]string{}
	flatten("", v, m, 0)
	n := 0
	for _, s := range m {
		if significantValue(s) {
			n++
		}
	}
	return n
}

func significantValue(v string) bool {
	switch v {
	case "", "0", "1", "true", "false", "null":
		return false
	}
	return len(v) >= 2
}

// flatten maps dotted paths to scalar texts (arrays by index, at most 50
// items and depth 8).
func flatten(prefix string, v any, out map[string]string, depth int) {
	if depth > 8 || len(out) > 5000 {
		return
	}
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			flatten(joinPath(prefix, k), e, out, depth+1)
		}
	case []any:
		for i, e := range t {
			if i >= 50 {
				break
			}
			flatten(joinPath(prefix, "["+ScalarString(float64(i))+"]"), e, out, depth+1)
		}
	default:
		out[prefix] = ScalarString(v)
	}
}

func joinPath(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// Compare merges a direct scan and the same scan through apiguard: each
// direct finding is marked closed (not reproduced through apiguard) or
// remaining, and findings seen only through apiguard are added, marked
// gateway-only. Findings match by rule, method and operation (or path
// when no operation is known).
func Compare(direct, gateway *report.Report) *report.Report {
	out := *direct
	out.Gateway = gateway.Target
	out.Checks = append([]report.Check(nil), direct.Checks...)
	through := map[string]bool{}
	for _, f := range gateway.Findings {
		through[compareKey(f)] = true
	}
	seen := map[string]bool{}
	out.Findings = make([]report.Finding, 0, len(direct.Findings))
	for _, f := range direct.Findings {
		k := compareKey(f)
		seen[k] = true
		if through[k] {
			f.Gateway = report.GatewayRemaining
		} else {
			f.Gateway = report.GatewayClosed
		}
		out.Findings = append(out.Findings, f)
	}
	for _, f := range gateway.Findings {
		if !seen[compareKey(f)] {
			f.Gateway = report.GatewayOnly
			out.Findings = append(out.Findings, f)
		}
	}
	report.SortFindings(out.Findings)
	if gateway.Finished.After(out.Finished) {
		out.Finished = gateway.Finished
	}
	return &out
}

func compareKey(f report.Finding) string {
	where := f.Location.Operation
	if where == "" {
		where = f.Location.URL
		if u, err := url.Parse(where); err == nil {
			where = u.Path
		}
	}
	return f.Rule + "\x00" + f.Location.Method + "\x00" + where
}

// Remaining returns the findings that still count against a target: all
// of them, or with a gateway comparison those not closed by apiguard.
func Remaining(r *report.Report) []report.Finding {
	var out []report.Finding
	for _, f := range r.Findings {
		if f.Gateway != report.GatewayClosed {
			out = append(out, f)
		}
	}
	return out
}
