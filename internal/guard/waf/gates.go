package waf

import (
	"strings"
	"sync"
	"unicode"
)

// gateSet runs every rule's literal gate at once: one Aho-Corasick DFA
// over all required literals (ASCII case-folded), whose states carry the
// gates they satisfy. Scanning a value once tells which gates it may pass;
// only those rules run their regexp.
type gateSet struct {
	n      int        // gates
	class  [256]uint8 // byte (folded) -> class
	nclass int        // classes
	delta  []int32    // state*nclass + class -> state
	out    [][]int32  // state -> gates satisfied on reaching it
	// firstOut is the first state with gates in out: the states are
	// numbered so that those without come first.
	firstOut int32
	pool     sync.Pool  // *scan
	gates    []*litGate // by id
}

// foldByte is ASCII lower-casing.
func foldByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// newGateSet numbers the gates and builds the automaton.
func newGateSet(gates []*litGate) *gateSet {
	s := &gateSet{n: len(gates), gates: gates}
	// Byte classes: each byte of a literal is its own class, the rest 0.
	s.nclass = 1
	for _, g := range gates {
		for _, w := range g.words {
			for i := 0; i < len(w); i++ {
				c := foldByte(w[i])
				if s.class[c] == 0 {
					// At most 230 folded byte values: fits in a uint8.
					s.class[c] = uint8(s.nclass)
					s.nclass++
				}
			}
		}
	}
	for c := 0; c < 256; c++ {
		s.class[c] = s.class[foldByte(byte(c))]
	}
	// Trie.
	type node struct {
		next map[uint8]int32
		fail int32
		out  []int32
	}
	nodes := []node{{next: map[uint8]int32{}}}
	for id, g := range gates {
		g.id = id
		for _, w := range g.words {
			st := int32(0)
			for i := 0; i < len(w); i++ {
				c := s.class[w[i]]
				nx, ok := nodes[st].next[c]
				if !ok {
					nx = int32(len(nodes))
					nodes = append(nodes, node{next: map[uint8]int32{}})
					nodes[st].next[c] = nx
				}
				st = nx
			}
			nodes[st].out = appendGate(nodes[st].out, int32(id))
		}
	}
	// Failure links and the DFA, breadth first.
	s.delta = make([]int32, len(nodes)*s.nclass)
	queue := []int32{}
	for c := 0; c < s.nclass; c++ {
		if nx, ok := nodes[0].next[uint8(c)]; ok {
			nodes[nx].fail = 0
			s.delta[c] = nx
			queue = append(queue, nx)
		}
	}
	for len(queue) > 0 {
		st := queue[0]
		queue = queue[1:]
		f := nodes[st].fail
		for _, gid := range nodes[f].out {
			nodes[st].out = appendGate(nodes[st].out, gid)
		}
		for c := 0; c < s.nclass; c++ {
			if nx, ok := nodes[st].next[uint8(c)]; ok {
				nodes[nx].fail = s.delta[int(f)*s.nclass+c]
				s.delta[int(st)*s.nclass+c] = nx
				queue = append(queue, nx)
			} else {
				s.delta[int(st)*s.nclass+c] = s.delta[int(f)*s.nclass+c]
			}
		}
	}
	// Renumber the states so that those where a literal ends come last
	// (from firstOut on): the scan then tests the state number, not a
	// second table, on every byte. The root (no output) stays 0.
	perm := make([]int32, len(nodes)) // old -> new
	next := int32(0)
	for pass := 0; pass < 2; pass++ {
		for i := range nodes {
			if (len(nodes[i].out) > 0) == (pass == 1) {
				perm[i] = next
				next++
			}
		}
		if pass == 0 {
			s.firstOut = next
		}
	}
	delta := make([]int32, len(s.delta))
	s.out = make([][]int32, len(nodes))
	for i := range nodes {
		ni := int(perm[i])
		s.out[ni] = nodes[i].out
		for c := 0; c < s.nclass; c++ {
			delta[ni*s.nclass+c] = perm[s.delta[i*s.nclass+c]]
		}
	}
	s.delta = delta
	s.pool.New = func() any { return &scan{set: s} }
	return s
}

func appendGate(list []int32, id int32) []int32 {
	for _, x := range list {
		if x == id {
			return list
		}
	}
	return append(list, id)
}

// scan remembers, for the strings scanned during one request, which gates
// each may pass.
type scan struct {
	set     *gateSet
	entries []scanEntry
}

// asciiFoldPartners are the non-ASCII runes that Unicode simple folding
// makes equal to an ASCII letter (U+212A KELVIN SIGN ~ k, U+017F LONG S
// ~ s), UTF-8 encoded.
var asciiFoldPartners = func() []string {
	var out []string
	for r := rune(0); r < 0x80; r++ {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f >= 0x80 {
				out = append(out, string(f))
			}
		}
	}
	return out
}()

type scanEntry struct {
	s string
	// nonASCII: v has a rune in asciiFoldPartners.
	nonASCII bool
	hits     []uint64
}

const maxScanEntries = 32

func (s *gateSet) get() *scan { return s.pool.Get().(*scan) }

func (s *gateSet) put(sc *scan) {
	for i := range sc.entries {
		sc.entries[i].s = ""
	}
	sc.entries = sc.entries[:0]
	s.pool.Put(sc)
}

// mayPass reports whether v contains one of g's literals (or g cannot
// decide v).
func (sc *scan) mayPass(g *litGate, v string) bool {
	var e *scanEntry
	for i := range sc.entries {
		if sc.entries[i].s == v {
			e = &sc.entries[i]
			break
		}
	}
	if e == nil {
		e = sc.add(v)
	}
	if g.asciiOnly && e.nonASCII {
		return true
	}
	return e.hits[g.id>>6]&(1<<(uint(g.id)&63)) != 0
}

func (sc *scan) add(v string) *scanEntry {
	s := sc.set
	if len(sc.entries) >= maxScanEntries {
		sc.entries = sc.entries[:0]
	}
	words := (s.n + 63) / 64
	if cap(sc.entries) > len(sc.entries) {
		sc.entries = sc.entries[:len(sc.entries)+1]
	} else {
		sc.entries = append(sc.entries, scanEntry{})
	}
	e := &sc.entries[len(sc.entries)-1]
	e.s = v
	e.nonASCII = false
	if cap(e.hits) < words {
		e.hits = make([]uint64, words)
	}
	e.hits = e.hits[:words]
	clear(e.hits)
	st := int32(0)
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 0x80 && !e.nonASCII {
			for _, f := range asciiFoldPartners {
				if strings.HasPrefix(v[i:], f) {
					e.nonASCII = true
				}
			}
		}
		st = s.delta[int(st)*s.nclass+int(s.class[c])]
		if st >= s.firstOut {
			for _, gid := range s.out[st] {
				e.hits[gid>>6] |= 1 << (uint(gid) & 63)
			}
		}
	}
	return e
}
