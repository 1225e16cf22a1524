package events

import (
	"net/http"
	"strings"
	"unicode/utf8"
)

// Redacted replaces every secret that redaction removes.
const Redacted = "REDACTED"

// secretParamNames are parameter names that always hold secrets, compared
// case-insensitively.
var secretParamNames = [...]string{
	"access_token", "token", "id_token", "refresh_token", "api_key", "apikey",
	"key", "password", "passwd", "secret", "client_secret", "signature", "sig",
	"code", "auth", "session", "jwt",
}

// secretParamParts mark a parameter as secret when its name contains one of
// them, ignoring case and the separators - _ . and space.
var secretParamParts = [...]string{"token", "secret", "password", "apikey"}

// secretHeaderNames are header names whose values are always secret.
var secretHeaderNames = [...]string{
	"authorization", "proxy-authorization", "cookie", "set-cookie",
	"x-api-key", "api-key", "x-auth-token",
}

// secretHeaderParts mark a header as secret when its name contains one of them.
var secretHeaderParts = [...]string{
	"token", "secret", "key", "signature", "session", "password", "credential", "cookie",
}

// IsSecretParam reports whether a query or form parameter named name looks
// like it carries a secret (access_token, api_key, password, ...).
func IsSecretParam(name string) bool { return isSecretName(name) }

func isSecretName[S ~string | ~[]byte](name S) bool {
	for _, n := range secretParamNames {
		if equalFold(name, n) {
			return true
		}
	}
	for _, p := range secretParamParts {
		if containsFoldSep(name, p) {
			return true
		}
	}
	return false
}

// lower folds an ASCII letter to lower case.
func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func equalFold[S ~string | ~[]byte](s S, lowerWord string) bool {
	if len(s) != len(lowerWord) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if lower(s[i]) != lowerWord[i] {
			return false
		}
	}
	return true
}

func isSep(c byte) bool { return c == '-' || c == '_' || c == '.' || c == ' ' }

// containsFoldSep reports whether s contains the lower-case word, ignoring
// ASCII case and separators inside s (so "API-Key" contains "apikey").
func containsFoldSep[S ~string | ~[]byte](s S, word string) bool {
	for start := 0; start < len(s); start++ {
		if lower(s[start]) != word[0] {
			continue
		}
		j := 1
		for i := start + 1; i < len(s) && j < len(word); i++ {
			c := s[i]
			if isSep(c) {
				continue
			}
			if lower(c) != word[j] {
				break
			}
			j++
		}
		if j == len(word) {
			return true
		}
	}
	return false
}

// containsFold reports whether s contains the lower-case word, ignoring ASCII case.
func containsFold(s, word string) bool {
	for i := 0; i+len(word) <= len(s); i++ {
		if equalFold(s[i:i+len(word)], word) {
			return true
		}
	}
	return false
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// needsUnescape reports whether form decoding would change s.
func needsUnescape(s string) bool {
	return strings.IndexByte(s, '%') >= 0 || strings.IndexByte(s, '+') >= 0
}

// queryUnescape appends the form-decoded s to dst: %XX sequences are
// decoded, '+' becomes a space, and invalid escapes are kept as they are.
func queryUnescape(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '+':
			dst = append(dst, ' ')
		case '%':
			if i+2 < len(s) {
				h, ok1 := unhex(s[i+1])
				l, ok2 := unhex(s[i+2])
				if ok1 && ok2 {
					dst = append(dst, h<<4|l)
					i += 2
					continue
				}
			}
			dst = append(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// isJWTChar reports whether c may appear in a JWT's compact serialization.
func isJWTChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.'
}

// nextJWT finds the next maximal run of base64url characters and dots at or
// after from that holds "eyJ" (the encoding of `{"`) followed by at least two
// dots: a JWT, JWS or JWE in compact form. It returns the run's bounds.
func nextJWT[S ~string | ~[]byte](s S, from int) (start, end int, ok bool) {
	i := from
	for i < len(s) {
		if !isJWTChar(s[i]) {
			i++
			continue
		}
		start = i
		for i < len(s) && isJWTChar(s[i]) {
			i++
		}
		end = i
		// Find the first "eyJ" in the run; count the dots after it.
		for k := start; k+3 <= end; k++ {
			if s[k] == 'e' && s[k+1] == 'y' && s[k+2] == 'J' {
				dots := 0
				for m := k + 3; m < end; m++ {
					if s[m] == '.' {
						dots++
					}
				}
				if dots >= 2 {
					return start, end, true
				}
				break
			}
		}
	}
	return 0, 0, false
}

// nextAWSKey finds the next AWS access key id (AKIA, ASIA, ABIA or ACCA
// followed by 16 upper-case letters or digits) at or after from.
func nextAWSKey[S ~string | ~[]byte](s S, from int) (start int, ok bool) {
	for i := from; i+20 <= len(s); i++ {
		if s[i] != 'A' {
			continue
		}
		a, b, c := s[i+1], s[i+2], s[i+3]
		if !(b == 'I' && c == 'A' && (a == 'K' || a == 'S' || a == 'B')) && !(a == 'C' && b == 'C' && c == 'A') {
			continue
		}
		good := true
		for k := i + 4; k < i+20; k++ {
			c := s[k]
			if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
				good = false
				break
			}
		}
		if good {
			return i, true
		}
	}
	return 0, false
}

// containsSecretValue reports whether s holds a JWT or an AWS key id.
func containsSecretValue[S ~string | ~[]byte](s S) bool {
	if _, _, ok := nextJWT(s, 0); ok {
		return true
	}
	_, ok := nextAWSKey(s, 0)
	return ok
}

// RedactQuery returns rawQuery with the values of secret-looking parameters
// (see IsSecretParam), and any value holding a JWT or an AWS key id,
// replaced by REDACTED. Parameter names are matched after form decoding.
// Everything else is kept byte for byte, so the result is stable:
// RedactQuery(RedactQuery(q)) == RedactQuery(q).
func RedactQuery(rawQuery string) string {
	if rawQuery == "" {
		return ""
	}
	var scratch [128]byte
	out, changed, _ := appendRedactedQuery(nil, rawQuery, scratch[:0], appendRaw)
	if !changed {
		return rawQuery
	}
	return string(out)
}

func appendRaw(dst []byte, s string) []byte { return append(dst, s...) }

// appendRedactedQuery appends the redacted form of raw to dst, each piece
// passed through emit (plain append, or JSON string escaping). scratch is a
// reusable buffer for decoding; it is returned for reuse.
func appendRedactedQuery(dst []byte, raw string, scratch []byte, emit func([]byte, string) []byte) (out []byte, changed bool, scr []byte) {
	for first := true; ; first = false {
		var pair string
		amp := strings.IndexByte(raw, '&')
		if amp < 0 {
			pair = raw
		} else {
			pair = raw[:amp]
		}
		if !first {
			dst = append(dst, '&')
		}
		key, val, hasEq := strings.Cut(pair, "=")
		// Check the raw and the decoded forms; decoding is needed only
		// when there is something to decode.
		keyEnc := needsUnescape(key)
		if keyEnc {
			scratch = queryUnescape(scratch[:0], key)
		}
		switch {
		case containsSecretValue(key) || keyEnc && containsSecretValue(scratch):
			dst = emit(dst, Redacted)
			changed = changed || pair != Redacted
		case hasEq && (isSecretName(key) || keyEnc && isSecretName(scratch)):
			dst = emit(dst, key)
			dst = emit(dst, "="+Redacted)
			changed = changed || val != Redacted
		case hasEq && val != "" && (containsSecretValue(val) || needsUnescape(val) && containsSecretValue(queryUnescape(scratch[:0], val))):
			dst = emit(dst, key)
			dst = emit(dst, "="+Redacted)
			changed = true
		default:
			dst = emit(dst, pair)
		}
		if amp < 0 {
			return dst, changed, scratch
		}
		raw = raw[amp+1:]
	}
}

// RedactHeaders returns h as a flat map (values joined with ", ") with the
// values of credential headers (Authorization, Cookie, X-Api-Key, and any
// header whose name contains token, secret, key, signature, session,
// password, credential or cookie) replaced by REDACTED. Other values go
// through RedactText, so a JWT in any header is masked too.
func RedactHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for name, vs := range h {
		if isSecretHeader(name) {
			out[name] = Redacted
			continue
		}
		out[name] = RedactText(strings.Join(vs, ", "), 0)
	}
	return out
}

func isSecretHeader(name string) bool {
	for _, n := range secretHeaderNames {
		if equalFold(name, n) {
			return true
		}
	}
	for _, p := range secretHeaderParts {
		if containsFold(name, p) {
			return true
		}
	}
	return false
}

// RedactText masks secrets in free text meant for operators: JWT-looking
// strings (three base64url parts), the credential after "Bearer " or
// "Basic ", AWS access key ids, and the value of secret-looking name=value
// pairs. Invalid UTF-8 is replaced by U+FFFD and, when max > 0, the result
// is cut to at most max bytes on a UTF-8 boundary. The result is stable:
// RedactText(RedactText(s, n), n) == RedactText(s, n).
func RedactText(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = maskJWTs(s)
	s = maskAWSKeys(s)
	s = maskAuthSchemes(s)
	s = maskAssignments(s)
	if max > 0 && len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

func maskJWTs(s string) string {
	start, end, ok := nextJWT(s, 0)
	if !ok {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for ok {
		b.WriteString(s[last:start])
		b.WriteString(Redacted)
		last = end
		start, end, ok = nextJWT(s, end)
	}
	b.WriteString(s[last:])
	return b.String()
}

func maskAWSKeys(s string) string {
	start, ok := nextAWSKey(s, 0)
	if !ok {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for ok {
		b.WriteString(s[last:start])
		b.WriteString(Redacted)
		last = start + 20
		start, ok = nextAWSKey(s, last)
	}
	b.WriteString(s[last:])
	return b.String()
}

// isValueStop reports whether c ends a credential or a value in free text.
func isValueStop(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', ',', ';', '"', '\'', '&', '<', '>', '(', ')', '[', ']', '{', '}':
		return true
	}
	return false
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// maskAuthSchemes replaces the credential after "Bearer" or "Basic"
// (any case, followed by spaces or tabs).
func maskAuthSchemes(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if i > 0 && isLetter(s[i-1]) {
			continue
		}
		var n int
		switch {
		case i+6 <= len(s) && equalFold(s[i:i+6], "bearer"):
			n = 6
		case i+5 <= len(s) && equalFold(s[i:i+5], "basic"):
			n = 5
		default:
			continue
		}
		j := i + n
		if j >= len(s) || (s[j] != ' ' && s[j] != '\t') {
			continue
		}
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		k := j
		for k < len(s) && !isValueStop(s[k]) {
			k++
		}
		if k == j || s[j:k] == Redacted {
			i = k - 1
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[last:j])
		b.WriteString(Redacted)
		last = k
		i = k - 1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isNameChar(c byte) bool {
	return isLetter(c) || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.'
}

// maskAssignments replaces the value of secret-looking name=value pairs,
// such as "password=hunter2" or "?api_key=abc".
func maskAssignments(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			continue
		}
		n := i
		for n > 0 && isNameChar(s[n-1]) {
			n--
		}
		if n == i || !isSecretName(s[n:i]) {
			continue
		}
		j := i + 1
		k := j
		for k < len(s) && !isValueStop(s[k]) {
			k++
		}
		if k == j || s[j:k] == Redacted {
			i = k - 1
			continue
		}
		b.WriteString(s[last:j])
		b.WriteString(Redacted)
		last = k
		i = k - 1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}
