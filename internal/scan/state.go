package scan

import (
	"strconv"
	"strings"
	"sync"
	"unicode"
)

// state is what the scan learned about the target's objects: which
// identity owns which object of which resource (producer→consumer
// inference). A resource is a singular lower-case noun ("account",
// "user", "webhook") derived from collection paths, path parameter names
// and body property names.
type state struct {
	mu    sync.Mutex
	owned map[string]map[string][]string // identity name → resource → values
	owner map[string]map[string]string   // resource → value → identity name
}

func newState() *state {
	return &state{owned: map[string]map[string][]string{}, owner: map[string]map[string]string{}}
}

// maxObjects bounds the objects remembered per identity and resource.
const maxObjects = 50

// add records that identity owns value of resource.
func (st *state) add(identity, resource, value string) {
	if resource == "" || value == "" {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.owner[resource] == nil {
		st.owner[resource] = map[string]string{}
	}
	if prev, ok := st.owner[resource][value]; ok {
		if prev != identity {
			// seen as two identities' object: nobody's for sure
			st.owner[resource][value] = ""
			st.remove(prev, resource, value)
		}
		return
	}
	st.owner[resource][value] = identity
	m := st.owned[identity]
	if m == nil {
		m = map[string][]string{}
		st.owned[identity] = m
	}
	if len(m[resource]) < maxObjects {
		m[resource] = append(m[resource], value)
	}
}

func (st *state) remove(identity, resource, value string) {
	list := st.owned[identity][resource]
	for i, v := range list {
		if v == value {
			st.owned[identity][resource] = append(list[:i:i], list[i+1:]...)
			return
		}
	}
}

func (st *state) get(identity, resource string) []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]string(nil), st.owned[identity][resource]...)
}

func (st *state) resources(identity string) []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []string
	for r, vs := range st.owned[identity] {
		if len(vs) > 0 {
			out = append(out, r)
		}
	}
	return out
}

// Owned returns the values of resource objects id owns (as learned from
// its list and create answers, and its subject for user-like resources),
// oldest first.
func (s *Session) Owned(id *Identity, resource string) []string {
	if id == nil || s.state == nil {
		return nil
	}
	return s.state.get(id.Name, resource)
}

// OwnedResources returns the resources id owns objects of.
func (s *Session) OwnedResources(id *Identity) []string {
	if id == nil || s.state == nil {
		return nil
	}
	return s.state.resources(id.Name)
}

// OwnerOf returns the identity known to own value of resource, or nil.
func (s *Session) OwnerOf(resource, value string) *Identity {
	if s.state == nil {
		return nil
	}
	s.state.mu.Lock()
	name := s.state.owner[resource][value]
	s.state.mu.Unlock()
	if name == "" {
		return nil
	}
	for _, id := range s.Identities() {
		if id.Name == name {
			return id
		}
	}
	return nil
}

// subjectResources are the resources an identity's subject is an object
// of.
var subjectResources = []string{"user", "owner", "customer", "member", "profile", "me"}

// learn records the objects an answer shows id owns: the ids of the items
// of a list operation, and the id of what a create operation made. It
// skips admin-looking operations (their lists are everyone's objects),
// anonymous callers and requests naming objects in their path.
func (st *state) learn(s *Session, id *Identity, r *Response) {
	req := r.Request
	if !r.OK() || req == nil || req.Op == nil || id.IsAnonymous() || req.NoAuth || AdminLooking(req.Op) || req.Path != "" {
		return
	}
	op := req.Op
	if len(op.PathParams()) > 0 && !lastSegmentStatic(op.Path) {
		return
	}
	if len(op.PathParams()) > 0 {
		// a sub-collection of an object (/users/{id}/cards): only when the
		// parent object is the caller's own
		for _, p := range op.PathParams() {
			res := ParamResource(p.Name, op.Path)
			own := false
			for _, v := range st.get(id.Name, res) {
				if v == req.PathParams[p.Name] {
					own = true
				}
			}
			if !own {
				return
			}
		}
	}
	res := CollectionResource(op.Path)
	if res == "" {
		return
	}
	body := r.JSON()
	switch op.Method {
	case "GET":
		for _, item := range listItems(body) {
			if v := idValue(item); v != "" {
				st.add(id.Name, res, v)
			}
		}
	case "POST", "PUT":
		if obj, ok := body.(map[string]any); ok {
			if v := idValue(obj); v != "" {
				st.add(id.Name, res, v)
			} else if inner, ok := obj["data"].(map[string]any); ok {
				if v := idValue(inner); v != "" {
					st.add(id.Name, res, v)
				}
			}
		}
	}
}

// listItems returns the objects of a list answer: the array itself, or
// the first array member of an object (items, data, results, …).
func listItems(body any) []map[string]any {
	var arr []any
	switch t := body.(type) {
	case []any:
		arr = t
	case map[string]any:
		for _, k := range []string{"items", "data", "results", "content", "records", "values"} {
			if a, ok := t[k].([]any); ok {
				arr = a
				break
			}
		}
		if arr == nil {
			for _, v := range t {
				if a, ok := v.([]any); ok {
					arr = a
					break
				}
			}
		}
	}
	var out []map[string]any
	for _, e := range arr {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// idValue returns an object's identifier member (id, uuid, _id) as text.
func idValue(obj map[string]any) string {
	for _, k := range []string{"id", "uuid", "_id", "ID", "Id"} {
		if v, ok := obj[k]; ok {
			return ScalarString(v)
		}
	}
	return ""
}

// ScalarString formats a JSON scalar as text ("" for objects, arrays and
// null); integral numbers have no decimal point.
func ScalarString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case float64:
		if t == float64(int64(t)) {
			return strconv.FormatInt(int64(t), 10)
		}
		return strconv.FormatFloat(t, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(t)
	case int:
		return strconv.Itoa(t)
	case int64:
		return strconv.FormatInt(t, 10)
	}
	return ""
}

func lastSegmentStatic(path string) bool {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	return len(segs) > 0 && !strings.Contains(segs[len(segs)-1], "{")
}

// CollectionResource is the resource of a collection path: the singular
// of its last static segment ("/api/v1/accounts" → "account", "/users/{id}"
// → "user"); "" when the path has no such segment or it names an action
// (login, search, import, test, …).
func CollectionResource(path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i := len(segs) - 1; i >= 0; i-- {
		seg := segs[i]
		if seg == "" || strings.Contains(seg, "{") {
			continue
		}
		if isVersion(seg) {
			return ""
		}
		w := words(seg)
		if len(w) == 0 {
			return ""
		}
		last := w[len(w)-1]
		if actionWords[last] {
			return ""
		}
		return Singular(last)
	}
	return ""
}

var actionWords = map[string]bool{
	"login": true, "logout": true, "token": true, "signin": true, "signup": true, "register": true, "search": true,
	"import": true, "export": true, "test": true, "verify": true, "reset": true, "refresh": true, "me": true,
	"health": true, "status": true, "jwks": true, "json": true, "yaml": true, "configuration": true, "auth": true,
	"debug": true, "metrics": true, "avatar": true,
}

func isVersion(seg string) bool {
	if len(seg) < 2 || (seg[0] != 'v' && seg[0] != 'V') {
		return false
	}
	for _, c := range seg[1:] {
		if !unicode.IsDigit(c) && c != '.' {
			return false
		}
	}
	return true
}

// ParamResource is the resource a path parameter names: its name without
// an id suffix ("userId", "user_id" → "user"), or, for a bare "id", the
// collection segment before it ("/accounts/{id}" → "account").
func ParamResource(name, path string) string {
	w := words(name)
	if n := len(w); n > 0 && idWords[w[n-1]] {
		w = w[:n-1]
	}
	if len(w) > 0 {
		return Singular(w[len(w)-1])
	}
	// bare id: the segment before {name}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i, seg := range segs {
		if seg == "{"+name+"}" && i > 0 && !strings.Contains(segs[i-1], "{") {
			if ws := words(segs[i-1]); len(ws) > 0 {
				return Singular(ws[len(ws)-1])
			}
		}
	}
	return ""
}

// RefResource is the resource a body property references when its name
// ends in an id ("from_account_id" → "account", "ownerId" → "owner"), and
// the words before it ("from"); "" when it is not a reference.
func RefResource(prop string) (resource string, qualifier []string) {
	w := words(prop)
	if len(w) < 2 || !idWords[w[len(w)-1]] {
		return "", nil
	}
	return Singular(w[len(w)-2]), w[:len(w)-2]
}

var idWords = map[string]bool{"id": true, "ids": true, "uuid": true, "key": true, "number": true, "no": true}

// words splits camelCase, snake_case and kebab-case into lower-case words.
func words(s string) []string {
	var out []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	rs := []rune(s)
	for i, r := range rs {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
		case unicode.IsUpper(r) && len(cur) > 0 && (unicode.IsLower(cur[len(cur)-1]) || i+1 < len(rs) && unicode.IsLower(rs[i+1])):
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
	}
	flush()
	return out
}

// Words splits an identifier into lower-case words (camelCase, snake_case,
// kebab-case), for name heuristics.
func Words(s string) []string { return words(s) }

// Singular returns a simple English singular of a lower-case noun.
func Singular(w string) string {
	switch {
	case strings.HasSuffix(w, "ies") && len(w) > 3:
		return w[:len(w)-3] + "y"
	case strings.HasSuffix(w, "sses"), strings.HasSuffix(w, "xes"), strings.HasSuffix(w, "ches"), strings.HasSuffix(w, "shes"):
		return w[:len(w)-2]
	case strings.HasSuffix(w, "ss"), strings.HasSuffix(w, "us"), strings.HasSuffix(w, "is"):
		return w
	case strings.HasSuffix(w, "s") && len(w) > 1:
		return w[:len(w)-1]
	}
	return w
}

// AdminLooking reports whether an operation looks reserved for
// administrators: x-apiguard-roles naming an admin-like role, an admin
// tag or scope, or an admin/internal/debug/management path segment.
func AdminLooking(op *Operation) bool {
	for _, r := range op.Roles {
		if adminWord(r) {
			return true
		}
	}
	for _, t := range op.Tags {
		if adminWord(t) {
			return true
		}
	}
	for _, sc := range op.Scopes {
		if adminWord(sc) {
			return true
		}
	}
	for _, seg := range strings.Split(strings.ToLower(op.Path), "/") {
		switch seg {
		case "admin", "admins", "administration", "internal", "debug", "manage", "management", "superuser", "sudo", "staff", "backoffice", "ops":
			return true
		}
	}
	return false
}

func adminWord(s string) bool {
	for _, w := range words(s) {
		switch w {
		case "admin", "admins", "administrator", "superuser", "root", "staff", "internal":
			return true
		}
	}
	return false
}
