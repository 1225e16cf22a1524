package inventory

import (
	"net/netip"
	"strings"
	"unicode/utf8"
)

// Kinds of path segments that are identifiers by their shape alone.
const (
	segLiteral  = ""
	segInteger  = "integer"
	segUUID     = "uuid"
	segULID     = "ulid"
	segHex      = "hex"
	segDate     = "date"
	segDateTime = "date-time"
	segToken    = "token"
	segEmail    = "email"
	// segSlug is a literal segment templated because too many distinct
	// ones were seen under the same prefix.
	segSlug = "slug"
)

// segmentKind says whether a path segment is an identifier by its shape:
// an integer, a UUID, a ULID, a long hex string, a date, an e-mail
// address, a prefixed id (cus_9a8b7c6d5e) or a long random token. Words,
// versions (v1), and short mixed strings stay literal: whether they are
// identifiers is learned from their number (see templater).
func segmentKind(s string) string {
	n := len(s)
	if n == 0 {
		return segLiteral
	}
	var digits, lower, upper, hexLetters, dashes, unders, others int
	for i := 0; i < n; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'z':
			lower++
			if c <= 'f' {
				hexLetters++
			}
		case c >= 'A' && c <= 'Z':
			upper++
			if c <= 'F' {
				hexLetters++
			}
		case c == '-':
			dashes++
		case c == '_':
			unders++
		default:
			others++
		}
	}
	switch {
	case digits == n:
		return segInteger
	case n == 36 && isUUID(s):
		return segUUID
	case n == 26 && digits >= 2 && isULID(s):
		return segULID
	case n >= 8 && digits > 0 && digits+hexLetters == n:
		return segHex
	case isDate(s):
		return segDate
	case n >= 20 && others > 0 && isDateTime(s):
		return segDateTime
	case others > 0 && strings.IndexByte(s, '@') > 0 && isEmail(s):
		return segEmail
	case others > 0:
		return segLiteral
	}
	// cus_9a8b7c6d5e, usr_2xYb81: a short lower-case prefix, an
	// underscore, and at least 8 characters with digits.
	if i := strings.IndexByte(s, '_'); i >= 2 && i <= 6 && n-i-1 >= 8 && unders == 1 && dashes == 0 {
		prefixLower := true
		for j := 0; j < i; j++ {
			prefixLower = prefixLower && s[j] >= 'a' && s[j] <= 'z'
		}
		if prefixLower && digits > 0 {
			return segToken
		}
	}
	// Long random tokens (base64url ids): digits and letters mixed, few
	// dashes (slugs of words have many).
	if n >= 20 && digits >= 2 && lower+upper >= 2 && dashes <= 2 && digits*6 >= n {
		return segToken
	}
	return segLiteral
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHex(s[i]) {
				return false
			}
		}
	}
	return true
}

// isULID checks Crockford base32 (no I, L, O, U) with a first character
// of 0-7 (the 48-bit timestamp).
func isULID(s string) bool {
	if len(s) != 26 || s[0] < '0' || s[0] > '7' {
		return false
	}
	for i := 0; i < 26; i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		switch {
		case c >= '0' && c <= '9':
		case c >= 'A' && c <= 'Z' && c != 'I' && c != 'L' && c != 'O' && c != 'U':
		default:
			return false
		}
	}
	return true
}

func digitsAt(s string, i, n int) bool {
	if i+n > len(s) {
		return false
	}
	for j := i; j < i+n; j++ {
		if s[j] < '0' || s[j] > '9' {
			return false
		}
	}
	return true
}

// isDate checks YYYY-MM-DD with a plausible month and day.
func isDate(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' || !digitsAt(s, 0, 4) || !digitsAt(s, 5, 2) || !digitsAt(s, 8, 2) {
		return false
	}
	m := (s[5]-'0')*10 + s[6] - '0'
	d := (s[8]-'0')*10 + s[9] - '0'
	return m >= 1 && m <= 12 && d >= 1 && d <= 31
}

// isDateTime checks an RFC 3339 date-time: a date, T, hh:mm:ss, an
// optional fraction and a zone (Z or ±hh:mm).
func isDateTime(s string) bool {
	if len(s) < 20 || !isDate(s[:10]) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') {
		return false
	}
	if !digitsAt(s, 11, 2) || s[13] != ':' || !digitsAt(s, 14, 2) || s[16] != ':' || !digitsAt(s, 17, 2) {
		return false
	}
	rest := s[19:]
	if rest != "" && rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 1 {
			return false
		}
		rest = rest[i:]
	}
	switch {
	case rest == "Z" || rest == "z":
		return true
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && digitsAt(rest, 1, 2) && rest[3] == ':' && digitsAt(rest, 4, 2):
		return true
	}
	return false
}

// isEmail is a light check of local@domain.tld.
func isEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || len(s) > 254 || strings.IndexByte(s[at+1:], '@') >= 0 {
		return false
	}
	dom := s[at+1:]
	dot := strings.LastIndexByte(dom, '.')
	if dot <= 0 || dot == len(dom)-1 {
		return false
	}
	for i := 0; i < at; i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".!#$%&'*+/=?^_`{|}~-", c) >= 0) {
			return false
		}
	}
	for i := at + 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// stringFormat infers the OpenAPI format of a string value: date-time,
// date, email, uuid, uri, ipv4 or ipv6; "" when none fits.
func stringFormat(s string) string {
	n := len(s)
	switch {
	case n == 0 || n > 2048:
		return ""
	case n == 10 && isDate(s):
		return "date"
	case n >= 20 && isDateTime(s):
		return "date-time"
	case n == 36 && isUUID(s):
		return "uuid"
	case isEmail(s):
		return "email"
	case strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://"):
		if strings.IndexFunc(s, func(r rune) bool { return r <= ' ' }) < 0 {
			return "uri"
		}
	case n >= 7 && n <= 45 && (strings.IndexByte(s, '.') > 0 || strings.IndexByte(s, ':') >= 0):
		if a, err := netip.ParseAddr(s); err == nil {
			if a.Is4() {
				return "ipv4"
			}
			return "ipv6"
		}
	}
	return ""
}

// scalarType infers the JSON type and format of a query, header or path
// value (always a string on the wire).
func scalarType(s string) (typ uint8, format string) {
	if s == "" {
		return tString, ""
	}
	if s == "true" || s == "false" {
		return tBoolean, ""
	}
	i := 0
	if s[0] == '-' {
		i = 1
	}
	if i < len(s) && digitsAt(s, i, len(s)-i) && len(s)-i <= 18 {
		return tInteger, ""
	}
	if isDecimal(s) {
		return tNumber, ""
	}
	return tString, stringFormat(s)
}

// isDecimal checks -?digits.digits.
func isDecimal(s string) bool {
	if s != "" && s[0] == '-' {
		s = s[1:]
	}
	intPart, frac, ok := strings.Cut(s, ".")
	return ok && intPart != "" && frac != "" && digitsAt(intPart, 0, len(intPart)) && digitsAt(frac, 0, len(frac)) && len(s) <= 32
}

// redactedExample is what the inventory keeps of a string value: a
// placeholder valid for its format, or its shape (digits as 0, letters as
// x or X, other characters kept, at most 24 characters) — never the value.
func redactedExample(s, format string) string {
	switch format {
	case "date":
		return "1970-01-01"
	case "date-time":
		return "1970-01-01T00:00:00Z"
	case "uuid":
		return "00000000-0000-0000-0000-000000000000"
	case "email":
		return "user@example.com"
	case "uri":
		return "https://example.com/"
	case "ipv4":
		return "192.0.2.1"
	case "ipv6":
		return "2001:db8::1"
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == 24 {
			b.WriteString("…")
			break
		}
		switch {
		case r >= '0' && r <= '9':
			b.WriteByte('0')
		case r >= 'a' && r <= 'z':
			b.WriteByte('x')
		case r >= 'A' && r <= 'Z':
			b.WriteByte('X')
		case r < ' ' || r == utf8.RuneError:
			b.WriteByte('?')
		case r >= utf8.RuneSelf:
			b.WriteByte('x')
		default:
			b.WriteRune(r)
		}
		n++
	}
	return b.String()
}

// sensitiveName maps a field name to the kind of sensitive data it holds
// by convention, or "". Names are compared without case, "_" and "-".
func sensitiveName(name string) string {
	if len(name) > 64 {
		return ""
	}
	var buf [64]byte
	k := buf[:0]
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_' || c == '-' || c == '.':
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		k = append(k, c)
	}
	switch string(k) {
	case "ssn", "socialsecuritynumber", "nationalid", "taxid":
		return "ssn"
	case "password", "passwd", "pwd", "currentpassword", "newpassword":
		return "password"
	case "passwordhash", "hashedpassword", "passworddigest", "pwdhash":
		return "password_hash"
	case "secret", "clientsecret", "apisecret", "secretkey", "privatekey", "signingkey":
		return "secret"
	case "apikey", "accesstoken", "refreshtoken", "idtoken", "sessiontoken", "authtoken", "bearertoken", "sessionid":
		return "token"
	case "creditcard", "cardnumber", "ccnumber", "cvv", "cvc", "cvv2", "cardcvv":
		return "card"
	case "iban", "bankaccount", "accountnumber":
		return "iban"
	case "email", "emailaddress":
		return "email"
	case "phone", "phonenumber", "mobile", "mobilephone", "telephone", "msisdn":
		return "phone"
	case "dob", "dateofbirth", "birthdate", "birthday":
		return "dob"
	}
	return ""
}

// sensitiveValue recognizes sensitive data by the value's shape: e-mail
// addresses, JWTs, US SSNs, payment card numbers (Luhn), password hashes.
func sensitiveValue(s, format string) string {
	if format == "email" {
		return "email"
	}
	n := len(s)
	switch {
	case n > 20 && strings.HasPrefix(s, "eyJ") && strings.Count(s, ".") == 2:
		return "jwt"
	case n == 11 && s[3] == '-' && s[6] == '-' && digitsAt(s, 0, 3) && digitsAt(s, 4, 2) && digitsAt(s, 7, 4):
		return "ssn"
	case n >= 13 && n <= 23 && luhn(s):
		return "card"
	case credentialURL(s):
		return "secret"
	case strings.HasPrefix(s, "pbkdf2") || strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") ||
		strings.HasPrefix(s, "$argon2") || strings.HasPrefix(s, "$6$") || strings.HasPrefix(s, "scrypt"):
		return "password_hash"
	}
	return ""
}

// credentialURL recognizes a URL with a password in it
// (postgres://app:secret@db/app).
func credentialURL(s string) bool {
	i := strings.Index(s, "://")
	if i <= 0 || len(s) > 2048 {
		return false
	}
	rest := s[i+3:]
	if end := strings.IndexAny(rest, "/?#"); end >= 0 {
		rest = rest[:end]
	}
	at := strings.LastIndexByte(rest, '@')
	if at <= 0 {
		return false
	}
	_, pass, ok := strings.Cut(rest[:at], ":")
	return ok && pass != ""
}

// luhn checks 13 to 19 digits (spaces and dashes allowed between) with a
// valid Luhn checksum and the first digits of a card network (2-6), so
// that long numeric ids do not pass one time in ten.
func luhn(s string) bool {
	if s[0] < '2' || s[0] > '6' {
		return false
	}
	sum, n, double := 0, 0, false
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if c == ' ' || c == '-' {
			continue
		}
		if c < '0' || c > '9' {
			return false
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
		n++
	}
	return n >= 13 && n <= 19 && sum%10 == 0
}

// versionOf parses a version segment (v1, v2, V10, v1.2): major*1000 +
// minor, and whether it is one.
func versionOf(seg string) (int, bool) {
	if len(seg) < 2 || len(seg) > 8 || (seg[0] != 'v' && seg[0] != 'V') {
		return 0, false
	}
	major, minor, hasMinor := strings.Cut(seg[1:], ".")
	if major == "" || !digitsAt(major, 0, len(major)) || len(major) > 3 {
		return 0, false
	}
	v := 0
	for i := 0; i < len(major); i++ {
		v = v*10 + int(major[i]-'0')
	}
	v *= 1000
	if hasMinor {
		if minor == "" || !digitsAt(minor, 0, len(minor)) || len(minor) > 2 {
			return 0, false
		}
		m := 0
		for i := 0; i < len(minor); i++ {
			m = m*10 + int(minor[i]-'0')
		}
		v += m
	}
	return v, true
}
