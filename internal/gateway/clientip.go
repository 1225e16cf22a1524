package gateway

import (
	"crypto/rand"
	"encoding/binary"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
)

// trustedProxies decides whose forwarding headers are believed.
type trustedProxies []netip.Prefix

func (t trustedProxies) contains(ip netip.Addr) bool {
	for _, p := range t {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// peerAddr is the socket peer of a request.
func peerAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// clientIP returns the client's address: the socket peer unless the peer
// is a trusted proxy, in which case X-Forwarded-For (or Forwarded) is read
// right to left and the first address that is not itself a trusted proxy
// is the client. A client cannot spoof it: entries left of an untrusted
// hop are never read.
func clientIP(r *http.Request, peer netip.Addr, trusted trustedProxies) netip.Addr {
	if len(trusted) == 0 || !trusted.contains(peer) {
		return peer
	}
	var hops []string
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		for _, v := range xff {
			hops = append(hops, strings.Split(v, ",")...)
		}
	} else if fwd := r.Header.Values("Forwarded"); len(fwd) > 0 {
		hops = forwardedFor(fwd)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		ip, ok := parseHop(hops[i])
		if !ok {
			return client // a garbled hop: believe nothing to its left
		}
		client = ip
		if !trusted.contains(ip) {
			return ip
		}
	}
	return client
}

// forwardedFor extracts the for= values of RFC 7239 Forwarded headers.
func forwardedFor(values []string) []string {
	var out []string
	for _, v := range values {
		for _, elem := range strings.Split(v, ",") {
			for _, pair := range strings.Split(elem, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(k, "for") {
					out = append(out, val)
				}
			}
		}
	}
	return out
}

// parseHop parses one forwarding hop: an IP, "IP:port", "[IPv6]:port" or a
// quoted form of those.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.Trim(strings.TrimSpace(s), `"`)
	if ip, err := netip.ParseAddr(s); err == nil {
		return ip.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if ip, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return ip.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// requestIDs makes request ids: a random per-process prefix and a counter,
// unique without a system call per request.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [6]byte
	_, _ = rand.Read(b[:])
	v := uint64(binary.BigEndian.Uint32(b[:4]))<<16 | uint64(binary.BigEndian.Uint16(b[4:]))
	return &requestIDs{prefix: strconv.FormatUint(v|1<<47, 36)}
}

func (g *requestIDs) next() string {
	var buf [32]byte
	b := append(buf[:0], g.prefix...)
	b = append(b, '-')
	b = strconv.AppendUint(b, g.n.Add(1), 36)
	return string(b)
}

// validRequestID accepts an inbound id from a trusted proxy: 1 to 128
// characters of letters, digits and ._:-
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-' {
			continue
		}
		return false
	}
	return true
}
