package dlp

// The text scanner: one pass over a value's bytes, a byte-class table to
// skip uninteresting bytes, and a hand-written check per detector at word
// boundaries. No regular expressions; no allocation beyond the span slice.

// Kind is a class of sensitive data.
type Kind uint8

// Kinds of sensitive data, in the order they are reported.
const (
	KindNone Kind = iota
	KindCard
	KindIBAN
	KindSSN
	KindEmail
	KindPhone
	KindJWT
	KindPrivateKey
	KindAWSAccessKey
	KindAWSSecretKey
	KindGCPAPIKey
	KindGitHubToken
	KindSlackToken
	KindPasswordHash
	KindField // a value under a configured field, whatever it holds
	numKinds
)

var kindNames = [numKinds]string{
	"", "card", "iban", "ssn", "email", "phone", "jwt", "private_key", "aws_access_key",
	"aws_secret_key", "gcp_api_key", "github_token", "slack_token", "password_hash", "field",
}

// String returns the kind's config and rule name.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "unknown"
}

// kindByName returns the kind of a detector name.
func kindByName(s string) (Kind, bool) {
	for k := KindCard; k < KindField; k++ {
		if kindNames[k] == s {
			return k, true
		}
	}
	return KindNone, false
}

// span is one finding inside a scanned buffer.
type span struct {
	start, end int
	kind       Kind
}

// hint is context from the JSON property name that makes a detector
// accept weaker evidence.
type hint uint8

const (
	hintSSN    hint = 1 << iota // the property is named like an SSN
	hintSecret                  // the property is named like a secret
)

// byte classes
const (
	clsNone uint8 = iota
	clsDigit
	clsUpper
	clsLower
	clsPlus
	clsAt
	clsDollar
	clsDash
)

var class = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = clsDigit
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = clsUpper
	}
	for _, c := range "aegpx" { // aws_secret_access_key, eyJ, gh*_, pbkdf2_, xox*-
		t[c] = clsLower
	}
	t['+'] = clsPlus
	t['@'] = clsAt
	t['$'] = clsDollar
	t['-'] = clsDash
	return t
}()

var alnum = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	return t
}()

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }

// boundaryBefore reports whether a word may start at s[i]: the byte before
// is not a letter or digit (an escape such as \n counts as a boundary).
func boundaryBefore(s []byte, i int) bool {
	if i == 0 || !alnum[s[i-1]] {
		return true
	}
	return i >= 2 && s[i-2] == '\\' && isEscLetter(s[i-1])
}

func isEscLetter(c byte) bool { return c == 'n' || c == 'r' || c == 't' || c == 'b' || c == 'f' }

// boundaryAfter reports whether a word may end before s[i].
func boundaryAfter(s []byte, i int) bool { return i >= len(s) || !alnum[s[i]] }

// scan appends the spans found in s to dst. enabled has bit k set for
// every detector kind k that is on.
func scan(dst []span, s []byte, enabled uint32, h hint) []span {
	n := len(s)
	if h&hintSecret != 0 && n == 40 && enabled&(1<<KindAWSSecretKey) != 0 && run(s, 0, setBase64) == 40 {
		return append(dst, span{0, 40, KindAWSSecretKey})
	}
	for i := 0; i < n; i++ {
		c := s[i]
		cl := class[c]
		if cl == clsNone {
			continue
		}
		switch cl {
		case clsDigit:
			if !boundaryBefore(s, i) {
				for i+1 < n && isDigit(s[i+1]) {
					i++
				}
				continue
			}
			end, k := digitRun(s, i, enabled, h)
			if k != KindNone {
				dst = append(dst, span{i, end, k})
			}
			i = end - 1
		case clsPlus:
			if enabled&(1<<KindPhone) != 0 && boundaryBefore(s, i) && i+1 < n && isDigit(s[i+1]) {
				if end := phone(s, i); end > 0 {
					dst = append(dst, span{i, end, KindPhone})
					i = end - 1
				}
			}
		case clsAt:
			if enabled&(1<<KindEmail) != 0 {
				if start, end := email(s, i); end > 0 {
					dst = append(dst, span{start, end, KindEmail})
					i = end - 1
				}
			}
		case clsDollar:
			if enabled&(1<<KindPasswordHash) != 0 && boundaryBefore(s, i) {
				if end := passwordHash(s, i, i+1); end > 0 {
					dst = append(dst, span{i, end, KindPasswordHash})
					i = end - 1
				}
			}
		case clsDash:
			if enabled&(1<<KindPrivateKey) != 0 && hasPrefix(s[i:], "-----BEGIN ") {
				if end := privateKey(s, i); end > 0 {
					dst = append(dst, span{i, end, KindPrivateKey})
					i = end - 1
				}
			}
		case clsUpper, clsLower:
			if !boundaryBefore(s, i) {
				continue
			}
			if end, k := word(s, i, enabled, h); k != KindNone {
				dst = append(dst, span{i, end, k})
				i = end - 1
			}
		}
	}
	return dst
}

func hasPrefix(s []byte, p string) bool { return len(s) >= len(p) && string(s[:len(p)]) == p }

// run returns the end of the run of bytes in set starting at i.
func run(s []byte, i int, set *[256]bool) int {
	for i < len(s) && set[s[i]] {
		i++
	}
	return i
}

func charset(chars string, ranges ...string) *[256]bool {
	var t [256]bool
	for i := 0; i < len(chars); i++ {
		t[chars[i]] = true
	}
	for _, r := range ranges {
		for c := r[0]; c <= r[1]; c++ {
			t[c] = true
		}
	}
	return &t
}

var (
	setAlnum      = charset("", "09", "az", "AZ")
	setUpperDigit = charset("", "09", "AZ")
	setBase64URL  = charset("-_", "09", "az", "AZ")
	setBase64     = charset("+/", "09", "az", "AZ")
	setSlack      = charset("-", "09", "az", "AZ")
	setGitHubPAT  = charset("_", "09", "az", "AZ")
	setHash       = charset("./+=$,-_", "09", "az", "AZ")
	setEmailLocal = charset("._%+-", "09", "az", "AZ")
	setDomain     = charset("-", "09", "az", "AZ")

	setLetterUnderscore = charset("_", "az", "AZ")
)

// digitRun checks a run of digits with single space or dash separators
// starting at i for a card number (13-19 digits, issuer prefix 2-6, Luhn)
// or an SSN (ddd-dd-dddd, valid area/group/serial). It returns the end of
// the run and the kind found.
func digitRun(s []byte, i int, enabled uint32, h hint) (int, Kind) {
	n := len(s)
	j, digits, seps := i, 0, 0
	var groups [8]int
	g := 0
	for j < n {
		if isDigit(s[j]) {
			digits++
			if g < len(groups) {
				groups[g]++
			}
			j++
			continue
		}
		if (s[j] == ' ' || s[j] == '-') && j+1 < n && isDigit(s[j+1]) && digits > 0 {
			seps++
			g++
			j++
			continue
		}
		break
	}
	if !boundaryAfter(s, j) {
		// a digit run glued to letters is an identifier, not data
		return run(s, j, setAlnum), KindNone
	}
	if enabled&(1<<KindCard) != 0 && digits >= 13 && digits <= 19 && s[i] >= '2' && s[i] <= '6' && (seps == 0 || sameSep(s[i:j])) && luhn(s[i:j]) {
		return j, KindCard
	}
	if enabled&(1<<KindSSN) != 0 && digits == 9 {
		if seps == 2 && groups[0] == 3 && groups[1] == 2 && groups[2] == 4 && s[i+3] == '-' && s[i+6] == '-' && validSSN(s[i:i+3], s[i+4:i+6], s[i+7:i+11]) {
			return j, KindSSN
		}
		if seps == 0 && h&hintSSN != 0 && validSSN(s[i:i+3], s[i+3:i+5], s[i+5:i+9]) {
			return j, KindSSN
		}
	}
	return j, KindNone
}

// sameSep reports whether every separator in a digit run is the same byte.
func sameSep(b []byte) bool {
	var sep byte
	for _, c := range b {
		if c == ' ' || c == '-' {
			if sep != 0 && c != sep {
				return false
			}
			sep = c
		}
	}
	return true
}

// luhn checks the Luhn checksum of the digits in b (separators skipped).
func luhn(b []byte) bool {
	sum, double := 0, false
	for k := len(b) - 1; k >= 0; k-- {
		c := b[k]
		if !isDigit(c) {
			continue
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
	}
	return sum%10 == 0
}

// validSSN applies the SSA rules: area not 000, 666 or 900-999; group not
// 00; serial not 0000.
func validSSN(area, group, serial []byte) bool {
	a := string(area)
	if a == "000" || a == "666" || a[0] == '9' {
		return false
	}
	return string(group) != "00" && string(serial) != "0000"
}

// phone checks an E.164-like number at s[i] == '+': 8-15 digits with
// single space, dash, dot or parenthesis separators.
func phone(s []byte, i int) int {
	j, digits := i+1, 0
	for j < len(s) {
		c := s[j]
		if isDigit(c) {
			digits++
			j++
			continue
		}
		if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')') && j+1 < len(s) && (isDigit(s[j+1]) || s[j+1] == '(' || c == ')' && (s[j+1] == ' ' || s[j+1] == '-')) {
			j++
			continue
		}
		break
	}
	if digits < 8 || digits > 15 || !boundaryAfter(s, j) {
		return 0
	}
	return j
}

// email checks for an address around the '@' at s[at]. It returns the
// span.
func email(s []byte, at int) (int, int) {
	start := at
	for start > 0 && at-start < 64 && setEmailLocal[s[start-1]] {
		start--
	}
	if start == at || s[start] == '.' {
		return 0, 0
	}
	if start > 0 && alnum[s[start-1]] && !(start >= 2 && s[start-2] == '\\') {
		return 0, 0
	}
	j, dots, label, lastLabelAlpha := at+1, 0, 0, true
	for j < len(s) && j-at < 255 {
		c := s[j]
		if setDomain[c] {
			if label == 0 {
				lastLabelAlpha = true
			}
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				lastLabelAlpha = false
			}
			label++
			j++
			continue
		}
		if c == '.' && label > 0 && j+1 < len(s) && alnum[s[j+1]] {
			dots++
			label = 0
			j++
			continue
		}
		break
	}
	if dots == 0 || label < 2 || !lastLabelAlpha || !boundaryAfter(s, j) {
		return 0, 0
	}
	return start, j
}

// passwordHash checks a modular-crypt hash whose identifier starts at
// s[id] (after a '$', or at a Django-style name). It returns the end.
func passwordHash(s []byte, start, id int) int {
	rest := s[id:]
	ok := false
	for _, p := range hashIDs {
		if hasPrefix(rest, p) {
			ok = true
			break
		}
	}
	if !ok {
		return 0
	}
	end := run(s, id, setHash)
	if end-start < 24 || !boundaryAfter(s, end) {
		return 0
	}
	return end
}

// hashIDs are the identifiers of modular-crypt and Django hash formats,
// including demobank's "$pbkdf2-sha256$".
var hashIDs = []string{
	"2a$", "2b$", "2y$", "2x$", "argon2id$", "argon2i$", "argon2d$", "scrypt$", "7$",
	"pbkdf2$", "pbkdf2-sha1$", "pbkdf2-sha256$", "pbkdf2-sha512$", "5$", "6$", "1$", "y$", "gy$", "sha1$",
	"pbkdf2_sha256$", "pbkdf2_sha1$",
}

// privateKey checks a PEM private key header at s[i] and returns the end
// of the block (after its END line), or the end of s when it has none.
func privateKey(s []byte, i int) int {
	j := i + len("-----BEGIN ")
	k := j
	for k < len(s) && k-j < 40 && (isUpper(s[k]) || s[k] == ' ') {
		k++
	}
	if !hasPrefix(s[k:], "-----") || k-j < len("PRIVATE KEY") || string(s[k-len("PRIVATE KEY"):k]) != "PRIVATE KEY" {
		return 0
	}
	for m := k + 5; m+9 <= len(s); m++ {
		if s[m] == '-' && hasPrefix(s[m:], "-----END ") {
			e := m + 9
			for e < len(s) && e-m < 60 && (isUpper(s[e]) || s[e] == ' ') {
				e++
			}
			if hasPrefix(s[e:], "-----") {
				return e + 5
			}
			return e
		}
	}
	return len(s)
}

// word checks the token detectors that start with a letter at s[i].
func word(s []byte, i int, enabled uint32, h hint) (int, Kind) {
	rest := s[i:]
	c := s[i]
	switch {
	case c == 'A' && len(rest) >= 20:
		if enabled&(1<<KindAWSAccessKey) != 0 && (hasPrefix(rest, "AKIA") || hasPrefix(rest, "ASIA")) {
			if end := run(s, i+4, setUpperDigit); end-i == 20 && boundaryAfter(s, end) {
				return end, KindAWSAccessKey
			}
		}
		if enabled&(1<<KindGCPAPIKey) != 0 && hasPrefix(rest, "AIza") {
			if end := run(s, i+4, setBase64URL); end-i == 39 {
				return end, KindGCPAPIKey
			}
		}
	case c == 'e':
		if enabled&(1<<KindJWT) != 0 && hasPrefix(rest, "eyJ") {
			return jwt(s, i)
		}
	case c == 'g':
		if enabled&(1<<KindGitHubToken) == 0 || len(rest) < 33 {
			break
		}
		if hasPrefix(rest, "github_pat_") {
			if end := run(s, i+11, setGitHubPAT); end-i >= 11+22 {
				return end, KindGitHubToken
			}
		}
		if len(rest) < 40 || rest[1] != 'h' {
			break
		}
		if rest[3] == '_' && (rest[2] == 'p' || rest[2] == 'o' || rest[2] == 's' || rest[2] == 'u' || rest[2] == 'r') {
			if end := run(s, i+4, setAlnum); end-i >= 40 && boundaryAfter(s, end) {
				return end, KindGitHubToken
			}
		}
	case c == 'x':
		if enabled&(1<<KindSlackToken) != 0 && len(rest) >= 15 && hasPrefix(rest, "xox") && rest[4] == '-' {
			switch rest[3] {
			case 'a', 'b', 'p', 'r', 's':
				if end := run(s, i+5, setSlack); end-i >= 15 {
					return end, KindSlackToken
				}
			}
		}
	case c == 'p':
		if enabled&(1<<KindPasswordHash) != 0 && hasPrefix(rest, "pbkdf2_") {
			if end := passwordHash(s, i, i); end > 0 {
				return end, KindPasswordHash
			}
		}
	case c == 'a':
		if enabled&(1<<KindAWSSecretKey) != 0 && hasPrefix(rest, "aws_secret") {
			return awsSecretAssignment(s, i)
		}
	}
	if isUpper(c) {
		if enabled&(1<<KindAWSSecretKey) != 0 && hasPrefix(rest, "AWS_SECRET") {
			return awsSecretAssignment(s, i)
		}
		if enabled&(1<<KindIBAN) != 0 {
			if end := iban(s, i); end > 0 {
				return end, KindIBAN
			}
		}
	}
	return i + 1, KindNone
}

// jwt checks header.payload[.signature] in base64url, both JSON objects.
func jwt(s []byte, i int) (int, Kind) {
	e1 := run(s, i, setBase64URL)
	if e1-i < 10 || e1 >= len(s) || s[e1] != '.' || !hasPrefix(s[e1+1:], "eyJ") {
		return i + 1, KindNone
	}
	e2 := run(s, e1+1, setBase64URL)
	if e2-e1 < 10 || e2 >= len(s) || s[e2] != '.' {
		return i + 1, KindNone
	}
	e3 := run(s, e2+1, setBase64URL)
	return e3, KindJWT
}

// awsSecretAssignment checks "aws_secret_access_key = <40 chars>" (any
// case, with = or :, optional quotes) and returns the end of the key.
func awsSecretAssignment(s []byte, i int) (int, Kind) {
	j := run(s, i, setLetterUnderscore)
	for k := j; k < len(s) && k-j < 6; k++ {
		c := s[k]
		if c == ' ' || c == '"' || c == '\'' || c == '=' || c == ':' || c == '\\' {
			continue
		}
		if end := run(s, k, setBase64); end-k == 40 && boundaryAfter(s, end) {
			return end, KindAWSSecretKey
		}
		break
	}
	return j, KindNone
}

// ibanLengths are the IBAN lengths of the countries of the IBAN registry.
var ibanLengths = map[[2]byte]int{
	{'A', 'D'}: 24, {'A', 'E'}: 23, {'A', 'L'}: 28, {'A', 'T'}: 20, {'A', 'Z'}: 28, {'B', 'A'}: 20, {'B', 'E'}: 16,
	{'B', 'G'}: 22, {'B', 'H'}: 22, {'B', 'R'}: 29, {'B', 'Y'}: 28, {'C', 'H'}: 21, {'C', 'R'}: 22, {'C', 'Y'}: 28,
	{'C', 'Z'}: 24, {'D', 'E'}: 22, {'D', 'K'}: 18, {'D', 'O'}: 28, {'E', 'E'}: 20, {'E', 'G'}: 29, {'E', 'S'}: 24,
	{'F', 'I'}: 18, {'F', 'O'}: 18, {'F', 'R'}: 27, {'G', 'B'}: 22, {'G', 'E'}: 22, {'G', 'I'}: 23, {'G', 'L'}: 18,
	{'G', 'R'}: 27, {'G', 'T'}: 28, {'H', 'R'}: 21, {'H', 'U'}: 28, {'I', 'E'}: 22, {'I', 'L'}: 23, {'I', 'Q'}: 23,
	{'I', 'S'}: 26, {'I', 'T'}: 27, {'J', 'O'}: 30, {'K', 'W'}: 30, {'K', 'Z'}: 20, {'L', 'B'}: 28, {'L', 'C'}: 32,
	{'L', 'I'}: 21, {'L', 'T'}: 20, {'L', 'U'}: 20, {'L', 'V'}: 21, {'M', 'C'}: 27, {'M', 'D'}: 24, {'M', 'E'}: 22,
	{'M', 'K'}: 19, {'M', 'R'}: 27, {'M', 'T'}: 31, {'M', 'U'}: 30, {'N', 'L'}: 18, {'N', 'O'}: 15, {'P', 'K'}: 24,
	{'P', 'L'}: 28, {'P', 'S'}: 29, {'P', 'T'}: 25, {'Q', 'A'}: 29, {'R', 'O'}: 24, {'R', 'S'}: 22, {'S', 'A'}: 24,
	{'S', 'C'}: 31, {'S', 'E'}: 24, {'S', 'I'}: 19, {'S', 'K'}: 24, {'S', 'M'}: 27, {'S', 'T'}: 25, {'S', 'V'}: 28,
	{'T', 'L'}: 23, {'T', 'N'}: 24, {'T', 'R'}: 26, {'U', 'A'}: 29, {'V', 'A'}: 22, {'V', 'G'}: 24, {'X', 'K'}: 20,
}

// iban checks an IBAN at s[i]: country, check digits, the country's
// length of upper-case letters and digits (single spaces allowed between
// groups), and the mod-97 checksum.
func iban(s []byte, i int) int {
	if i+4 > len(s) || !isUpper(s[i+1]) || !isDigit(s[i+2]) || !isDigit(s[i+3]) {
		return 0
	}
	want, ok := ibanLengths[[2]byte{s[i], s[i+1]}]
	if !ok {
		return 0
	}
	var chars [34]byte
	got, j := 0, i
	for j < len(s) && got < want {
		c := s[j]
		if isUpper(c) || isDigit(c) {
			chars[got] = c
			got++
			j++
			continue
		}
		if c == ' ' && got%4 == 0 && j+1 < len(s) && (isUpper(s[j+1]) || isDigit(s[j+1])) {
			j++
			continue
		}
		break
	}
	if got != want || !boundaryAfter(s, j) {
		return 0
	}
	// move the first four characters to the end; letters are 10..35
	mod := 0
	for k := 0; k < want; k++ {
		c := chars[(k+4)%want]
		if isDigit(c) {
			mod = (mod*10 + int(c-'0')) % 97
		} else {
			mod = (mod*100 + int(c-'A'+10)) % 97
		}
	}
	if mod != 1 {
		return 0
	}
	return j
}
