package inventory

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Path templating of undocumented traffic.
//
// Segments that are identifiers by their shape (integers, UUIDs, ULIDs,
// hex, dates, e-mails, prefixed or long random tokens) become parameters
// at once. Other segments are literal until a prefix has seen more than
// maxLiterals distinct ones below it: the prefix is then "collapsed" —
// its rarely seen literals (slugs, user names) merge into one parameter,
// the frequently seen ones (/users/me, /articles/search) stay literal, and
// every later unknown segment there is a parameter. The tree of prefixes
// holds at most maxNodes literal nodes (plus at most one parameter node
// per node), so no traffic can grow it without bound.
const (
	// maxDepth is the number of segments templated one by one; the
	// rest of a deeper path becomes one parameter.
	maxDepth = 24
	// maxSegment is the longest literal segment; longer ones are
	// parameters.
	maxSegment = 64
	// hotMin is the fewest hits a literal needs to stay literal when its
	// prefix collapses (and twice the mean hits of its siblings).
	hotMin = 8
)

// tnode is one prefix of the templating tree.
type tnode struct {
	// Seg is the segment leading here ("{name}" for a parameter node).
	Seg string `json:"seg,omitempty"`
	// Lits are the literal children.
	Lits map[string]*tnode `json:"lits,omitempty"`
	// Param is the parameter child.
	Param *tnode `json:"param,omitempty"`
	// Collapsed is set once the literals here outnumbered maxLiterals:
	// unknown segments are then parameters.
	Collapsed bool `json:"collapsed,omitempty"`
	// Hits counts the paths that went through here.
	Hits uint64 `json:"hits,omitempty"`

	tmpl string // the template of paths ending here, cached
}

// templater learns path templates for one API.
type templater struct {
	root        *tnode
	nodes       int // nodes in the tree
	maxNodes    int
	maxLiterals int
}

func newTemplater(maxLiterals, maxNodes int) *templater {
	return &templater{root: &tnode{}, nodes: 1, maxNodes: maxNodes, maxLiterals: maxLiterals}
}

// template returns the template of a canonical path and learns from it;
// collapsed reports that a prefix collapsed, so templates given before
// may have changed (see retemplate).
func (t *templater) template(path string) (tmpl string, collapsed bool) {
	n, collapsed := t.walk(path, true)
	if n.tmpl == "" {
		n.tmpl = t.render(path)
	}
	return n.tmpl, collapsed
}

// retemplate maps a template given before a collapse to the current one,
// without learning.
func (t *templater) retemplate(tmpl string) string {
	return t.render(tmpl)
}

// nextSeg splits the first segment off rest (the path after a slash).
func nextSeg(rest string) (seg, tail string, more bool) {
	return strings.Cut(rest, "/")
}

// isParamSeg reports whether a segment of a template is a parameter.
func isParamSeg(seg string) bool {
	return len(seg) >= 2 && seg[0] == '{' && seg[len(seg)-1] == '}'
}

// literalOK reports whether seg may be kept as a literal segment: short,
// printable UTF-8, no braces, not an identifier by its shape.
func literalOK(seg string) bool {
	if len(seg) > maxSegment || !utf8.ValidString(seg) {
		return false
	}
	for i := 0; i < len(seg); i++ {
		if c := seg[i]; c < ' ' || c == 0x7f || c == '{' || c == '}' {
			return false
		}
	}
	return segmentKind(seg) == segLiteral
}

// walk follows (and, when learn, extends) the tree along path, and
// returns the node where it ends.
func (t *templater) walk(path string, learn bool) (*tnode, bool) {
	collapsed := false
	n := t.root
	if learn {
		n.Hits++
	}
	rest := strings.TrimPrefix(path, "/")
	for depth := 0; ; depth++ {
		seg, tail, more := nextSeg(rest)
		if depth == maxDepth-1 && more {
			seg, more = rest, false // the rest, as one parameter
		}
		next, c := t.child(n, seg, depth == maxDepth-1, learn)
		collapsed = collapsed || c
		if next == nil {
			return n, collapsed
		}
		n = next
		if learn {
			n.Hits++
		}
		if !more {
			return n, collapsed
		}
		rest = tail
	}
}

// child returns the child of n for seg, creating it when learning.
func (t *templater) child(n *tnode, seg string, last, learn bool) (*tnode, bool) {
	if isParamSeg(seg) || last || !literalOK(seg) {
		return t.paramChild(n, seg, learn), false
	}
	if c := n.Lits[seg]; c != nil {
		return c, false
	}
	if n.Collapsed || t.nodes >= t.maxNodes {
		// A full tree templates unknown literals too: it never grows
		// past maxNodes (plus one parameter node per node).
		return t.paramChild(n, seg, learn), false
	}
	if !learn {
		return nil, false
	}
	if len(n.Lits) >= t.maxLiterals {
		t.collapse(n)
		return t.paramChild(n, seg, learn), true
	}
	if n.Lits == nil {
		n.Lits = map[string]*tnode{}
	}
	c := &tnode{Seg: seg}
	n.Lits[seg] = c
	t.nodes++
	return c, false
}

// paramChild returns n's parameter child, creating it (named after n's
// segment and the first value's kind) when learning.
func (t *templater) paramChild(n *tnode, value string, learn bool) *tnode {
	if n.Param != nil || !learn {
		return n.Param
	}
	n.Param = &tnode{Seg: "{" + paramName(n.Seg, value) + "}"}
	t.nodes++
	return n.Param
}

// collapse turns n's rarely seen literal children into its parameter
// child, keeping the hot ones.
func (t *templater) collapse(n *tnode) {
	n.Collapsed = true
	var total uint64
	for _, c := range n.Lits {
		total += c.Hits
	}
	limit := uint64(hotMin)
	if mean2 := 2 * total / uint64(max(len(n.Lits), 1)); mean2 > limit {
		limit = mean2
	}
	type lit struct {
		seg  string
		node *tnode
	}
	var hot []lit
	for seg, c := range n.Lits {
		if c.Hits >= limit {
			hot = append(hot, lit{seg, c})
		}
	}
	sort.Slice(hot, func(i, j int) bool {
		if hot[i].node.Hits != hot[j].node.Hits {
			return hot[i].node.Hits > hot[j].node.Hits
		}
		return hot[i].seg < hot[j].seg
	})
	if keep := max(t.maxLiterals/4, 1); len(hot) > keep {
		hot = hot[:keep]
	}
	kept := make(map[string]*tnode, len(hot))
	for _, h := range hot {
		kept[h.seg] = h.node
	}
	p := n.Param
	if p == nil {
		p = &tnode{Seg: "{" + paramName(n.Seg, "") + "}"}
		t.nodes++
		n.Param = p
	}
	for seg, c := range n.Lits {
		if _, ok := kept[seg]; !ok {
			t.merge(p, c)
		}
	}
	n.Lits = kept
	if len(kept) == 0 {
		n.Lits = nil
	}
	clearCache(n)
}

// merge moves src's subtree into dst; src is dropped.
func (t *templater) merge(dst, src *tnode) {
	t.nodes--
	dst.Hits += src.Hits
	dst.Collapsed = dst.Collapsed || src.Collapsed
	for seg, c := range src.Lits {
		if d := dst.Lits[seg]; d != nil {
			t.merge(d, c)
			continue
		}
		if dst.Collapsed {
			// dst sends unknown literals to its parameter.
			if dst.Param == nil {
				dst.Param = &tnode{Seg: "{" + paramName(dst.Seg, "") + "}"}
				t.nodes++
			}
			t.merge(dst.Param, c)
			continue
		}
		if dst.Lits == nil {
			dst.Lits = map[string]*tnode{}
		}
		dst.Lits[seg] = c
	}
	if src.Param != nil {
		if dst.Param == nil {
			dst.Param = src.Param
		} else {
			t.merge(dst.Param, src.Param)
		}
	}
	if len(dst.Lits) > t.maxLiterals && !dst.Collapsed {
		t.collapse(dst)
	}
}

func clearCache(n *tnode) {
	n.tmpl = ""
	for _, c := range n.Lits {
		clearCache(c)
	}
	if n.Param != nil {
		clearCache(n.Param)
	}
}

// render writes the template of path (a path or a template) as the tree
// has it now, without learning. Parameter names are made unique within
// the template.
func (t *templater) render(path string) string {
	var b strings.Builder
	b.Grow(len(path) + 8)
	n := t.root
	rest := strings.TrimPrefix(path, "/")
	var used []string
	for depth := 0; ; depth++ {
		seg, tail, more := nextSeg(rest)
		if depth == maxDepth-1 && more {
			seg, more = rest, false
		}
		b.WriteByte('/')
		var next *tnode
		if n != nil {
			next, _ = t.child(n, seg, depth == maxDepth-1, false)
		}
		switch {
		case next != nil && isParamSeg(next.Seg):
			name := unique(next.Seg[1:len(next.Seg)-1], used)
			used = append(used, name)
			b.WriteString("{" + name + "}")
		case next != nil:
			b.WriteString(seg)
		case isParamSeg(seg) || !literalOK(seg):
			name := unique(paramName(lastLabel(n), seg), used)
			used = append(used, name)
			b.WriteString("{" + name + "}")
		default:
			b.WriteString(seg)
		}
		n = next
		if !more {
			return b.String()
		}
		rest = tail
	}
}

func lastLabel(n *tnode) string {
	if n == nil {
		return ""
	}
	return n.Seg
}

// unique returns name, or name2, name3, ... when taken.
func unique(name string, used []string) string {
	taken := func(s string) bool {
		for _, u := range used {
			if u == s {
				return true
			}
		}
		return false
	}
	if !taken(name) {
		return name
	}
	for i := 2; ; i++ {
		if s := name + strconv.Itoa(i); !taken(s) {
			return s
		}
	}
}

// paramName names the parameter after the segment before it: {userId}
// under /users, {date} for a date, {id} otherwise.
func paramName(prev, value string) string {
	if segmentKind(value) == segDate {
		return "date"
	}
	if prev == "" || isParamSeg(prev) || len(prev) > 32 {
		return "id"
	}
	if _, ok := versionOf(prev); ok {
		return "id"
	}
	var b strings.Builder
	upper := false
	for _, r := range singular(prev) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9' && b.Len() > 0:
			if upper {
				r -= 'a' - 'A'
				upper = false
			}
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			if b.Len() == 0 {
				r += 'a' - 'A'
			}
			b.WriteRune(r)
			upper = false
		default:
			upper = b.Len() > 0
		}
	}
	if b.Len() == 0 {
		return "id"
	}
	return b.String() + "Id"
}

// singular is a plain English singular of a collection name.
func singular(s string) string {
	switch {
	case strings.HasSuffix(s, "ies") && len(s) > 3:
		return s[:len(s)-3] + "y"
	case strings.HasSuffix(s, "sses"), strings.HasSuffix(s, "xes"), strings.HasSuffix(s, "ches"), strings.HasSuffix(s, "shes"):
		return s[:len(s)-2]
	case strings.HasSuffix(s, "ss"), strings.HasSuffix(s, "us"):
		return s
	case strings.HasSuffix(s, "s") && len(s) > 1:
		return s[:len(s)-1]
	}
	return s
}
