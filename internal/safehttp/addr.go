package safehttp

import (
	"fmt"
	"net/netip"
)

// Reason says why an address is forbidden. The empty Reason means the
// address is a public unicast address.
type Reason string

// Reasons an address is forbidden.
const (
	ReasonUnspecified   Reason = "unspecified"
	ReasonLoopback      Reason = "loopback"
	ReasonPrivate       Reason = "private"
	ReasonLinkLocal     Reason = "link-local"
	ReasonCGNAT         Reason = "cgnat"
	ReasonMulticast     Reason = "multicast"
	ReasonBroadcast     Reason = "broadcast"
	ReasonReserved      Reason = "reserved"
	ReasonDocumentation Reason = "documentation"
	ReasonBenchmark     Reason = "benchmarking"
	ReasonULA           Reason = "unique-local"
	ReasonIPv4Mapped    Reason = "ipv4-mapped"
	ReasonIPv4Compat    Reason = "ipv4-compatible"
	ReasonEmbedded      Reason = "embedded-ipv4"
	ReasonMetadata      Reason = "cloud-metadata"
	ReasonZone          Reason = "zoned"
	ReasonInvalid       Reason = "invalid"
)

type rangeReason struct {
	p netip.Prefix
	r Reason
}

// metadata addresses are named first so events say what was targeted.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OCI, DigitalOcean, OpenStack
	netip.MustParseAddr("169.254.170.2"),   // AWS ECS task metadata
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
	netip.MustParseAddr("192.0.0.192"),     // Oracle Cloud (classic)
	netip.MustParseAddr("fd00:ec2::254"),   // AWS IMDS over IPv6
}

// v4Ranges are the IPv4 ranges that are not public unicast (IANA special
// purpose registry, RFC 6890 and successors).
var v4Ranges = []rangeReason{
	{netip.MustParsePrefix("0.0.0.0/8"), ReasonUnspecified},
	{netip.MustParsePrefix("10.0.0.0/8"), ReasonPrivate},
	{netip.MustParsePrefix("100.64.0.0/10"), ReasonCGNAT},
	{netip.MustParsePrefix("127.0.0.0/8"), ReasonLoopback},
	{netip.MustParsePrefix("169.254.0.0/16"), ReasonLinkLocal},
	{netip.MustParsePrefix("172.16.0.0/12"), ReasonPrivate},
	{netip.MustParsePrefix("192.0.0.0/24"), ReasonReserved},
	{netip.MustParsePrefix("192.0.2.0/24"), ReasonDocumentation},
	{netip.MustParsePrefix("192.88.99.0/24"), ReasonReserved}, // 6to4 relay anycast
	{netip.MustParsePrefix("192.168.0.0/16"), ReasonPrivate},
	{netip.MustParsePrefix("198.18.0.0/15"), ReasonBenchmark},
	{netip.MustParsePrefix("198.51.100.0/24"), ReasonDocumentation},
	{netip.MustParsePrefix("203.0.113.0/24"), ReasonDocumentation},
	{netip.MustParsePrefix("224.0.0.0/4"), ReasonMulticast},
	{netip.MustParsePrefix("255.255.255.255/32"), ReasonBroadcast},
	{netip.MustParsePrefix("240.0.0.0/4"), ReasonReserved},
}

// v6Ranges are the IPv6 ranges inside 2000::/3 that are not public
// unicast. Everything outside 2000::/3 is refused as reserved unless a
// rule below (loopback, ULA, ...) names it more precisely.
var v6Ranges = []rangeReason{
	{netip.MustParsePrefix("::/128"), ReasonUnspecified},
	{netip.MustParsePrefix("::1/128"), ReasonLoopback},
	{netip.MustParsePrefix("64:ff9b:1::/48"), ReasonPrivate}, // local-use NAT64
	{netip.MustParsePrefix("100::/64"), ReasonReserved},      // discard-only
	{netip.MustParsePrefix("2001:2::/48"), ReasonBenchmark},
	{netip.MustParsePrefix("2001:db8::/32"), ReasonDocumentation},
	{netip.MustParsePrefix("2001:10::/28"), ReasonReserved}, // ORCHID
	{netip.MustParsePrefix("2001:20::/28"), ReasonReserved}, // ORCHIDv2
	{netip.MustParsePrefix("3fff::/20"), ReasonDocumentation},
	{netip.MustParsePrefix("fc00::/7"), ReasonULA},
	{netip.MustParsePrefix("fe80::/10"), ReasonLinkLocal},
	{netip.MustParsePrefix("fec0::/10"), ReasonPrivate}, // deprecated site-local
	{netip.MustParsePrefix("ff00::/8"), ReasonMulticast},
}

var (
	global6   = netip.MustParsePrefix("2000::/3")
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
	teredo    = netip.MustParsePrefix("2001::/32")
	compat4   = netip.MustParsePrefix("::/96")
)

// Classify says why a is not a public unicast address, or "" when it is.
// IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) IPv6
// addresses are always refused; NAT64 (64:ff9b::/96), 6to4 (2002::/16) and
// Teredo (2001::/32) addresses are refused when the IPv4 address they
// embed is. The forbidden ranges are documented in docs/ssrf.md.
func Classify(a netip.Addr) Reason {
	if !a.IsValid() {
		return ReasonInvalid
	}
	if a.Zone() != "" {
		return ReasonZone
	}
	for _, m := range metadataAddrs {
		if a == m || a.Is4In6() && a.Unmap() == m {
			return ReasonMetadata
		}
	}
	if a.Is4() {
		return classify4(a)
	}
	if a.Is4In6() {
		if r := classify4(a.Unmap()); r != "" {
			return r
		}
		return ReasonIPv4Mapped
	}
	for _, rr := range v6Ranges {
		if rr.p.Contains(a) {
			return rr.r
		}
	}
	b := a.As16()
	switch {
	case compat4.Contains(a):
		if r := classify4(netip.AddrFrom4([4]byte(b[12:16]))); r != "" {
			return r
		}
		return ReasonIPv4Compat
	case nat64.Contains(a):
		if r := classify4(netip.AddrFrom4([4]byte(b[12:16]))); r != "" {
			return ReasonEmbedded
		}
	case sixToFour.Contains(a):
		if r := classify4(netip.AddrFrom4([4]byte(b[2:6]))); r != "" {
			return ReasonEmbedded
		}
	case teredo.Contains(a):
		server := netip.AddrFrom4([4]byte(b[4:8]))
		client := netip.AddrFrom4([4]byte{b[12] ^ 0xff, b[13] ^ 0xff, b[14] ^ 0xff, b[15] ^ 0xff})
		if classify4(server) != "" || classify4(client) != "" {
			return ReasonEmbedded
		}
	}
	if nat64.Contains(a) {
		return ""
	}
	if !global6.Contains(a) {
		return ReasonReserved
	}
	return ""
}

func classify4(a netip.Addr) Reason {
	for _, m := range metadataAddrs {
		if a == m {
			return ReasonMetadata
		}
	}
	for _, rr := range v4Ranges {
		if rr.p.Contains(a) {
			return rr.r
		}
	}
	return ""
}

// PrivateRanges are the internal networks a config's allow_private opens
// (besides loopback): RFC 1918, CGNAT and IPv6 ULA. Link-local addresses,
// cloud metadata among them, are not in it: nothing opens those.
var PrivateRanges = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("fc00::/7"),
}

// Policy decides which addresses may be dialed: public unicast addresses,
// plus what it explicitly allows. The zero Policy allows public addresses
// only.
type Policy struct {
	// AllowLoopback allows 127.0.0.0/8 and ::1 (tests, sidecars).
	AllowLoopback bool
	// AllowCIDRs are ranges allowed even though Classify refuses them
	// (an internal service that is meant to be reached).
	AllowCIDRs []netip.Prefix
}

// AddressError is returned when an address is refused.
type AddressError struct {
	// Addr is the refused address.
	Addr netip.Addr
	// Reason says why.
	Reason Reason
}

func (e *AddressError) Error() string {
	return fmt.Sprintf("address %s is forbidden (%s)", e.Addr, e.Reason)
}

// Check returns nil when a may be dialed, and an *AddressError otherwise.
func (p Policy) Check(a netip.Addr) error {
	r := Classify(a)
	if r == "" {
		return nil
	}
	if r == ReasonZone || r == ReasonInvalid {
		return &AddressError{Addr: a, Reason: r}
	}
	u := a.Unmap()
	if p.AllowLoopback && u.IsLoopback() {
		return nil
	}
	for _, c := range p.AllowCIDRs {
		if c.Contains(a) || c.Contains(u) {
			return nil
		}
	}
	return &AddressError{Addr: a, Reason: r}
}
