package denylist

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/apiguard/apiguard/internal/store"
)

// Block kinds.
const (
	KindIP        = "ip"
	KindCIDR      = "cidr"
	KindKey       = "key"
	KindPrincipal = "principal"
	KindJTI       = "jti"
	// KindCountry blocks the addresses a GeoIP database places in a
	// country (ISO 3166-1 alpha-2 code, such as "FR").
	KindCountry = "country"
)

// kinds are the block kinds, for validation messages.
var kinds = []string{KindIP, KindCIDR, KindKey, KindPrincipal, KindJTI, KindCountry}

// maxValueLen bounds block values and reasons.
const maxValueLen = 512

// entry is one compiled block.
type entry struct {
	id      string
	kind    string
	reason  string
	expires int64 // Unix ns; 0: never
}

// live reports whether e is in force at now (Unix ns).
func (e *entry) live(now int64) bool { return e.expires == 0 || now < e.expires }

// outlives reports whether e lasts at least as long as o.
func (e *entry) outlives(o *entry) bool {
	return e.expires == 0 || (o.expires != 0 && e.expires >= o.expires)
}

// prefixTable finds the blocked prefix containing an address: one hash
// lookup per distinct prefix length present (longest first), so a lookup
// costs a handful of map probes and allocates nothing.
type prefixTable struct {
	lens [2][]int // IPv4, IPv6: the prefix lengths present, longest first
	m    map[netip.Prefix]*entry
}

// add inserts p (canonical: masked, IPv4 unmapped), keeping the entry that
// lasts longest when two share a prefix.
func (p *prefixTable) add(pf netip.Prefix, e *entry) {
	if p.m == nil {
		p.m = map[netip.Prefix]*entry{}
	}
	if cur, ok := p.m[pf]; ok && cur.outlives(e) {
		return
	}
	p.m[pf] = e
	fam := 0
	if pf.Addr().Is6() {
		fam = 1
	}
	if !slices.Contains(p.lens[fam], pf.Bits()) {
		p.lens[fam] = append(p.lens[fam], pf.Bits())
		slices.SortFunc(p.lens[fam], func(a, b int) int { return b - a })
	}
}

// lookup returns the live entry whose prefix contains a, or nil.
func (p *prefixTable) lookup(a netip.Addr, now int64) *entry {
	if len(p.m) == 0 || !a.IsValid() {
		return nil
	}
	a = a.Unmap().WithZone("")
	fam := 0
	if a.Is6() {
		fam = 1
	}
	for _, l := range p.lens[fam] {
		pf, err := a.Prefix(l)
		if err != nil {
			continue
		}
		if e, ok := p.m[pf]; ok && e.live(now) {
			return e
		}
	}
	return nil
}

// table is a compiled set of blocks and lockdowns. It is immutable once
// built: the request path reads it without locks.
type table struct {
	prefixes               prefixTable
	keys, principals, jtis map[string]*entry
	countries              map[string]*entry // by ISO 3166-1 alpha-2 code
	lockdowns              map[string]*lockdown
}

// lockdown is one compiled lockdown.
type lockdown struct {
	mode    string
	reason  string
	expires int64
}

// emptyTable matches nothing.
var emptyTable = &table{}

// needsCredentials reports whether matching needs the caller's
// credentials (key, principal or token id blocks exist).
func (t *table) needsCredentials() bool {
	return len(t.keys)+len(t.principals)+len(t.jtis) > 0
}

// matchCountry returns the live entry blocking country (an ISO code), or nil.
func (t *table) matchCountry(country string, now int64) *entry {
	if country == "" {
		return nil
	}
	if e, ok := t.countries[country]; ok && e.live(now) {
		return e
	}
	return nil
}

// matchCredentials returns the live entry matching c, or nil.
func (t *table) matchCredentials(c *credentials, now int64) *entry {
	for _, m := range [...]struct {
		set map[string]*entry
		v   string
	}{{t.jtis, c.jti}, {t.keys, c.keyID}, {t.principals, c.subject}} {
		if m.v == "" || len(m.set) == 0 {
			continue
		}
		if e, ok := m.set[m.v]; ok && e.live(now) {
			return e
		}
	}
	return nil
}

// canonical validates a block's kind and value and returns the value in
// canonical form (addresses and prefixes normalized).
func canonical(kind, value string) (string, error) {
	if value == "" || len(value) > maxValueLen {
		return "", fmt.Errorf("value: must be 1 to %d bytes", maxValueLen)
	}
	if strings.ContainsFunc(value, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", fmt.Errorf("value: must not contain control characters")
	}
	switch kind {
	case KindIP:
		a, err := netip.ParseAddr(value)
		if err != nil || a.Zone() != "" {
			return "", fmt.Errorf("value: must be an IP address")
		}
		return a.Unmap().String(), nil
	case KindCIDR:
		p, err := parsePrefix(value)
		if err != nil {
			return "", err
		}
		return p.String(), nil
	case KindKey, KindPrincipal, KindJTI:
		return value, nil
	case KindCountry:
		c := strings.ToUpper(value)
		if len(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' {
			return "", fmt.Errorf("value: must be an ISO 3166-1 alpha-2 country code such as FR")
		}
		return c, nil
	}
	return "", fmt.Errorf("kind: must be one of %s", strings.Join(kinds, ", "))
}

// parsePrefix parses a CIDR into its canonical, masked, unmapped form.
func parsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("value: must be a CIDR such as 192.0.2.0/24")
	}
	a := p.Addr()
	if a.Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("value: an IPv4-mapped prefix must be at least /96")
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// compile builds a table from blocks and lockdowns. Invalid blocks are
// returned as errors (config) or skipped by the caller (shared state).
func compile(blocks []store.Block, locks []store.Lockdown) (*table, []error) {
	t := &table{}
	var errs []error
	set := func(m *map[string]*entry, v string, e *entry) {
		if *m == nil {
			*m = map[string]*entry{}
		}
		if cur, ok := (*m)[v]; ok && cur.outlives(e) {
			return
		}
		(*m)[v] = e
	}
	for i, b := range blocks {
		v, err := canonical(b.Kind, b.Value)
		if err != nil {
			errs = append(errs, fmt.Errorf("[%d].%w", i, err))
			continue
		}
		e := &entry{id: b.ID, kind: b.Kind, reason: b.Reason, expires: nsOf(b.Expires.UnixNano(), b.Expires.IsZero())}
		switch b.Kind {
		case KindIP:
			a, _ := netip.ParseAddr(v) // validated by canonical
			t.prefixes.add(netip.PrefixFrom(a, a.BitLen()), e)
		case KindCIDR:
			p, _ := netip.ParsePrefix(v) // validated by canonical
			t.prefixes.add(p, e)
		case KindKey:
			set(&t.keys, v, e)
		case KindPrincipal:
			set(&t.principals, v, e)
		case KindJTI:
			set(&t.jtis, v, e)
		case KindCountry:
			set(&t.countries, v, e)
		}
	}
	for _, l := range locks {
		if t.lockdowns == nil {
			t.lockdowns = map[string]*lockdown{}
		}
		t.lockdowns[l.API] = &lockdown{mode: l.Mode, reason: l.Reason, expires: nsOf(l.Expires.UnixNano(), l.Expires.IsZero())}
	}
	return t, errs
}

func nsOf(ns int64, zero bool) int64 {
	if zero {
		return 0
	}
	return ns
}
