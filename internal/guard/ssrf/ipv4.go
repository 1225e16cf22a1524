package ssrf

import (
	"net/netip"
	"strings"
)

// endsInNumber reports whether a lower-case host's last label is a number
// in the sense of the WHATWG URL standard ("ends in a number checker"):
// all decimal digits, or 0x followed by hex digits. Such a host is an IPv4
// address to browsers, curl, glibc's inet_aton and most URL libraries,
// never a DNS name.
func endsInNumber(host string) bool {
	last := host
	if i := strings.LastIndexByte(host, '.'); i >= 0 {
		last = host[i+1:]
	}
	if last == "" {
		return false
	}
	if allDigits(last, 10) {
		return true
	}
	return len(last) >= 2 && last[0] == '0' && last[1] == 'x' && allDigits(last[2:], 16)
}

func allDigits(s string, base int) bool {
	for i := 0; i < len(s); i++ {
		if _, ok := digit(s[i], base); !ok {
			return false
		}
	}
	return true
}

func digit(c byte, base int) (uint64, bool) {
	var v uint64
	switch {
	case '0' <= c && c <= '9':
		v = uint64(c - '0')
	case 'a' <= c && c <= 'f':
		v = uint64(c-'a') + 10
	default:
		return 0, false
	}
	if v >= uint64(base) {
		return 0, false
	}
	return v, true
}

// parseLooseIPv4 parses an IPv4 host the way the WHATWG URL standard and
// inet_aton(3) do: one to four parts separated by dots, each decimal,
// octal (leading 0) or hexadecimal (leading 0x), the last part filling
// the remaining bytes ("127.1" is 127.0.0.1, "2130706433" too, and so are
// "0x7f.1" and "0177.0.0.1"). canonical is true only for the plain dotted
// quad without leading zeros, the one form every parser reads alike.
func parseLooseIPv4(host string) (a netip.Addr, canonical, ok bool) {
	parts := strings.Split(host, ".")
	if len(parts) > 4 || len(parts) == 0 {
		return netip.Addr{}, false, false
	}
	nums := make([]uint64, len(parts))
	for i, p := range parts {
		n, ok := parseIPv4Number(p)
		if !ok {
			return netip.Addr{}, false, false
		}
		nums[i] = n
	}
	for _, n := range nums[:len(nums)-1] {
		if n > 255 {
			return netip.Addr{}, false, false
		}
	}
	last := nums[len(nums)-1]
	if last >= 1<<(8*(5-len(nums))) {
		return netip.Addr{}, false, false
	}
	v := last
	for i, n := range nums[:len(nums)-1] {
		v |= n << (8 * (3 - i))
	}
	a = netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	return a, a.String() == host, true
}

// parseIPv4Number parses one part: decimal, 0-prefixed octal or
// 0x-prefixed hexadecimal. Empty parts are refused. Values are capped
// well above 2^32 so overflow cannot wrap.
func parseIPv4Number(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	base := 10
	switch {
	case len(s) >= 2 && s[0] == '0' && s[1] == 'x':
		s, base = s[2:], 16
	case len(s) >= 2 && s[0] == '0':
		s, base = s[1:], 8
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		d, ok := digit(s[i], base)
		if !ok {
			return 0, false
		}
		n = n*uint64(base) + d
		if n > 1<<40 {
			return 0, false
		}
	}
	return n, true
}
