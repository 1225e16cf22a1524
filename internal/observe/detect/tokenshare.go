package detect

import (
	"hash/maphash"
	"net/netip"
	"strings"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/guard/authn"
	"github.com/apiguard/apiguard/internal/guard/denylist"
	"github.com/apiguard/apiguard/internal/observe"
)

// tokenSharing catches one credential (a token or an API key, by its
// fingerprint) used from many addresses or networks (IPv4 /24, IPv6 /64)
// within the window (API2: a leaked or shared credential). Only requests
// that authenticated count: garbage credentials are not tracked.
type tokenSharing struct {
	cfg    config.TokenSharingDetector
	window uint32
	t      *table[uint64, shareState] // by credential
}

type shareState struct {
	ips, nets tset
	fired     uint32
}

func newTokenSharing(*Set) *tokenSharing {
	return &tokenSharing{t: newTable[uint64, shareState](1)}
}

func (d *tokenSharing) name() string { return NameTokenSharing }
func (d *tokenSharing) keys() int    { return d.t.len() }
func (d *tokenSharing) reset()       { d.t.clear() }

func (d *tokenSharing) configure(c *config.Detectors) {
	d.cfg = c.TokenSharing
	d.window = windowSecs(d.cfg.Window.D())
	d.t.resize(c.MaxKeys)
}

func (d *tokenSharing) observe(o *observe.Observation, in *input, s *Set) {
	now := in.now
	ip := o.ClientIP.Unmap()
	if o.Credential == "" || o.Principal == "" || !ip.IsValid() {
		return
	}
	st, _ := d.t.put(maphash.String(s.seed, o.Credential))
	nIPs, _ := st.ips.add(uint32(maphash.Comparable(s.seed, ip)), false, now, d.window, d.cfg.MaxIPs)
	nNets := 0
	if d.cfg.MaxNetworks > 0 {
		nNets, _ = st.nets.add(uint32(maphash.Comparable(s.seed, network(ip))), false, now, d.window, d.cfg.MaxNetworks)
	}
	if within(st.fired, now, d.window) {
		return
	}
	var rule, detail string
	win := d.cfg.Window.D().String()
	switch {
	case nIPs >= d.cfg.MaxIPs:
		rule, detail = "detect.token_sharing.ips", itoa(nIPs)+" addresses"
	case d.cfg.MaxNetworks > 0 && nNets >= d.cfg.MaxNetworks:
		rule, detail = "detect.token_sharing.networks", itoa(nNets)+" networks"
	default:
		return
	}
	st.fired = now
	s.fire(o, trigger{detector: NameTokenSharing, rule: rule, category: "API2",
		detail: "one credential of principal " + o.Principal + " used from " + detail + " within " + win,
		target: credentialTarget(o), common: d.cfg.DetectorCommon})
}

// network is the network an address belongs to: its /24 (IPv4) or /64
// (IPv6).
func network(a netip.Addr) netip.Prefix {
	bits := 24
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// credentialTarget is the narrowest block that stops a credential: its
// token id, its API key id, else its principal.
func credentialTarget(o *observe.Observation) blockTarget {
	if jti, ok := strings.CutPrefix(o.Credential, "jti:"); ok && jti != "" {
		return blockTarget{kind: denylist.KindJTI, value: jti}
	}
	if v := o.RequestHeader["X-Api-Key"]; len(v) == 1 {
		if id, _, ok := authn.ParseAPIKey(v[0]); ok {
			return blockTarget{kind: denylist.KindKey, value: id}
		}
	}
	return blockTarget{kind: denylist.KindPrincipal, value: o.Principal}
}
