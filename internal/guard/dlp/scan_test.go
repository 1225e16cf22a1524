package dlp

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// all turns every detector on.
const all = uint32(1<<KindField - 2)

func kindsOf(spans []span, s []byte) []string {
	var out []string
	for _, sp := range spans {
		out = append(out, sp.kind.String()+"="+string(s[sp.start:sp.end]))
	}
	return out
}

func TestScan(t *testing.T) {
	tests := []struct {
		name string
		in   string
		h    hint
		want []string
	}{
		{"visa", "card 4111111111111111 ok", 0, []string{"card=4111111111111111"}},
		{"visa spaced", "4111 1111 1111 1111", 0, []string{"card=4111 1111 1111 1111"}},
		{"amex dashed", "3782-822463-10005", 0, []string{"card=3782-822463-10005"}},
		{"mixed separators", "4111 1111-1111 1111", 0, nil},
		{"bad luhn", "4111111111111112", 0, nil},
		{"epoch millis", "1700000000005", 0, nil},
		{"glued to letters", "id4111111111111111", 0, nil},
		{"ssn", "ssn 078-05-1120.", 0, []string{"ssn=078-05-1120"}},
		{"ssn area 666", "666-05-1120", 0, nil},
		{"ssn area 9xx", "900-05-1120", 0, nil},
		{"ssn group 00", "078-00-1120", 0, nil},
		{"ssn serial 0000", "078-05-0000", 0, nil},
		{"bare ssn needs hint", "078051120", 0, nil},
		{"bare ssn with hint", "078051120", hintSSN, []string{"ssn=078051120"}},
		{"iban", "pay DE89370400440532013000 now", 0, []string{"iban=DE89370400440532013000"}},
		{"iban grouped", "GB82 WEST 1234 5698 7654 32", 0, []string{"iban=GB82 WEST 1234 5698 7654 32"}},
		{"iban bad checksum", "DE89370400440532013001", 0, nil},
		{"email", "write to alice@demobank.example.", 0, []string{"email=alice@demobank.example"}},
		{"not an email", "a@b", 0, nil},
		{"phone", "call +1-202-555-0143", 0, []string{"phone=+1-202-555-0143"}},
		{"phone parens", "+1 (202) 555-0143", 0, []string{"phone=+1 (202) 555-0143"}},
		{"short plus", "+12345", 0, nil},
		{"jwt", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlX2hlcmU", 0, []string{"jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlX2hlcmU"}},
		{"jwt none", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIzIn0.", 0, []string{"jwt=eyJhbGciOiJub25lIn0.eyJzdWIiOiIzIn0."}},
		{"pem", "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", 0, []string{"private_key=-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"}},
		{"public key is fine", "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----", 0, nil},
		{"aws id", "AKIAIOSFODNN7EXAMPLE", 0, []string{"aws_access_key=AKIAIOSFODNN7EXAMPLE"}},
		{"aws sts id", "key=ASIAIOSFODNN7EXAMPLE;", 0, []string{"aws_access_key=ASIAIOSFODNN7EXAMPLE"}},
		{"aws secret assignment", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", 0, []string{"aws_secret_key=aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}},
		{"aws secret by field", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", hintSecret, []string{"aws_secret_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}},
		{"gcp", "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe", 0, []string{"gcp_api_key=AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe"}},
		{"github", "ghp_" + strings.Repeat("a1B2", 9), 0, []string{"github_token=ghp_" + strings.Repeat("a1B2", 9)}},
		{"github pat", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", 0, []string{"github_token=github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"}},
		{"slack", "xoxb-123456789012-abcdefABCDEF", 0, []string{"slack_token=xoxb-123456789012-abcdefABCDEF"}},
		{"bcrypt", "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW", 0, []string{"password_hash=$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"}},
		{"argon2id", "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG", 0, []string{"password_hash=$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"}},
		{"sha512-crypt", "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/", 0, []string{"password_hash=$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/"}},
		{"demobank pbkdf2", "$pbkdf2-sha256$4096$c2FsdHNhbHRzYWx0c2FsdA$3q2+7w", 0, []string{"password_hash=$pbkdf2-sha256$4096$c2FsdHNhbHRzYWx0c2FsdA$3q2+7w"}},
		{"django pbkdf2", "pbkdf2_sha256$600000$salt$aGFzaGhhc2hoYXNo", 0, []string{"password_hash=pbkdf2_sha256$600000$salt$aGFzaGhhc2hoYXNo"}},
		{"price is not a hash", "costs $5$ only", 0, nil},
		{"prose", "The quick brown fox paid 12.50 EUR on 2024-01-02 to Bob.", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := kindsOf(scan(nil, []byte(tt.in), all, tt.h), []byte(tt.in))
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("scan(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func testGuard(t testing.TB, c Config) *guard {
	t.Helper()
	g, err := compile(c)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return g
}

func TestScanBodyJSON(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		in     string
		want   string // masked answer; "" when unchanged
		worst  action
		detail string
	}{
		{name: "mask ssn and hash, keep the rest",
			in:     `{"id":1,"ssn":"078-05-1120","password_hash":"$pbkdf2-sha256$4096$c2FsdHNhbHRzYWx0c2FsdA$3q2+7w","email":"alice@demobank.example"}`,
			want:   `{"id":1,"ssn":"***-**-1120","password_hash":"$pbkdf2-sha256$****$**********************$******","email":"alice@demobank.example"}`,
			worst:  actMask,
			detail: "mask ssn at /ssn; mask password_hash at /password_hash"},
		{name: "card as a number becomes a masked string",
			in: `{"card":4111111111111111,"n":1700000000005}`, want: `{"card":"************1111","n":1700000000005}`, worst: actMask,
			detail: "mask card at /card"},
		{name: "escaped string is decoded, masked and re-encoded",
			in: `{"note":"card\u003a 4111 1111 1111 1111\n"}`, want: `{"note":"card: **** **** **** 1111\n"}`, worst: actMask},
		{name: "field rule by name masks whatever the value is",
			cfg: Config{Fields: map[string]string{"display_name": "mask"}},
			in:  `{"display_name":"Alice Example","x":"y"}`, want: `{"display_name":"***** *******","x":"y"}`, worst: actMask,
			detail: "mask field at /display_name"},
		{name: "field rule by pointer with wildcard covers a subtree",
			cfg: Config{Fields: map[string]string{"/items/*/secret": "mask"}},
			in:  `{"items":[{"secret":{"a":"b1","n":12}},{"other":"c"}]}`, want: `{"items":[{"secret":{"a":"**","n":"**"}},{"other":"c"}]}`, worst: actMask,
			detail: "mask field at /items/0/secret/a; mask field at /items/0/secret/n"},
		{name: "allow skips a field",
			cfg: Config{Fields: map[string]string{"ssn": "allow"}},
			in:  `{"ssn":"078-05-1120"}`, worst: actOff},
		{name: "detect only",
			cfg: Config{Detectors: map[string]string{"ssn": "detect"}},
			in:  `{"ssn":"078-05-1120"}`, worst: actDetect, detail: "detect ssn at /ssn"},
		{name: "block",
			cfg: Config{Detectors: map[string]string{"private_key": "block"}},
			in:  `{"k":"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----"}`, worst: actBlock},
		{name: "key with escapes and pointer escaping",
			in: `{"a\/b":{"ss\u006e":"078051120"}}`, want: `{"a\/b":{"ss\u006e":"*****1120"}}`, worst: actMask, detail: "mask ssn at /a~1b/ssn"},
		{name: "invalid JSON is scanned as text",
			in: `{"ssn":"078-05-1120"`, want: `{"ssn":"***-**-1120"`, worst: actMask},
		{name: "nothing found", in: `{"a":[1,2,{"b":true,"c":null}],"d":"hello"}`, worst: actOff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := testGuard(t, tt.cfg)
			res := g.scanBody([]byte(tt.in), true, g.api)
			if res.worst != tt.worst {
				t.Errorf("scanBody(%s) worst = %v, want %v", tt.in, res.worst, tt.worst)
			}
			if string(res.out) != tt.want {
				t.Errorf("scanBody(%s) =\n  %s\nwant\n  %s", tt.in, res.out, tt.want)
			}
			if tt.detail != "" && describe(res) != tt.detail {
				t.Errorf("describe = %q, want %q", describe(res), tt.detail)
			}
			if res.out != nil && !json.Valid(res.out) && json.Valid([]byte(tt.in)) {
				t.Errorf("masked answer is not JSON: %s", res.out)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"unknown detector", Config{Detectors: map[string]string{"pin": "mask"}}, "detectors.pin: unknown detector"},
		{"bad action", Config{Detectors: map[string]string{"card": "allow"}}, "detectors.card: must be"},
		{"bad field action", Config{Fields: map[string]string{"x": "off"}}, "fields.x: must be"},
		{"bad over_limit", Config{OverLimit: "drop"}, "over_limit: must be"},
		{"bad max_buffer", Config{MaxBuffer: 10}, "max_buffer: must be"},
		{"bad content type", Config{ContentTypes: []string{"json"}}, "content_types[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compile(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("compile(%+v) = %v, want %q", tt.cfg, err, tt.want)
			}
		})
	}
}

var cardRef = regexp.MustCompile(`[0-9](?:[ -]?[0-9])*`)

// refCards returns the card numbers in s by an independent reference:
// maximal runs of digits with single separators, not glued to letters,
// 13-19 digits, issuer prefix 2-6, Luhn-valid.
func refCards(s []byte) map[string]bool {
	out := map[string]bool{}
	for _, m := range cardRef.FindAllIndex(s, -1) {
		a, b := m[0], m[1]
		if a > 0 && alnum[s[a-1]] || b < len(s) && alnum[s[b]] {
			continue
		}
		d := bytes.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, s[a:b])
		if len(d) >= 13 && len(d) <= 19 && d[0] >= '2' && d[0] <= '6' && luhn(d) {
			out[string(d)] = true
		}
	}
	return out
}

func FuzzScanText(f *testing.F) {
	for _, s := range []string{"4111 1111 1111 1111", "078-05-1120", "a@b.example", "-----BEGIN PRIVATE KEY-----\nx", "$2b$12$" + strings.Repeat("a", 53),
		"eyJa.eyJb.c", "DE89370400440532013000", "+1-202-555-0143", "AKIAIOSFODNN7EXAMPLE", "\\n4111111111111111"} {
		f.Add([]byte(s))
	}
	g := testGuard(f, Config{})
	f.Fuzz(func(t *testing.T, in []byte) {
		res := g.scanBody(in, false, g.api)
		out := res.out
		if out == nil {
			out = in
		}
		if len(out) != len(in) {
			t.Fatalf("text masking changed the length: %d -> %d", len(in), len(out))
		}
		again := g.scanBody(out, false, g.api)
		if again.out != nil && !bytes.Equal(again.out, out) {
			t.Fatalf("masking is not idempotent:\n%q\n%q", out, again.out)
		}
		before := refCards(in)
		for c := range refCards(out) {
			if before[c] {
				t.Fatalf("card %s survived masking: %q", c, out)
			}
		}
	})
}

func FuzzScanJSON(f *testing.F) {
	for _, s := range []string{`{"ssn":"078-05-1120","card":4111111111111111}`, `["4111 1111 1111 1111","x"]`, `{"a\u0062":"\u0034111111111111111"}`,
		`{"k":"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----"}`, `{"x":[1,{"y":"alice@demobank.example"}]}`, `{`, `"\ud83d\ude00"`} {
		f.Add([]byte(s))
	}
	g := testGuard(f, Config{Detectors: map[string]string{"email": "mask", "phone": "mask", "jwt": "mask", "iban": "mask"},
		Fields: map[string]string{"display": "mask", "/a/*/b": "mask"}})
	f.Fuzz(func(t *testing.T, in []byte) {
		res := g.scanBody(in, true, g.api)
		out := res.out
		if out == nil {
			out = in
		}
		if json.Valid(in) && !json.Valid(out) {
			t.Fatalf("masking broke JSON:\n%s\n%s", in, out)
		}
		again := g.scanBody(out, true, g.api)
		if again.out != nil && !bytes.Equal(again.out, out) {
			t.Fatalf("masking is not idempotent:\n%s\n%s", out, again.out)
		}
		// decoded view: every card the reference sees in the input's
		// strings is gone from the output's
		before := refCards(decodeAll(in))
		for c := range refCards(decodeAll(out)) {
			if before[c] {
				t.Fatalf("card %s survived masking:\n%s\n%s", c, in, out)
			}
		}
	})
}

// decodeAll unescapes JSON string escapes everywhere in b, so cards
// written with \u escapes are seen.
func decodeAll(b []byte) []byte { return decodeString(nil, b) }
