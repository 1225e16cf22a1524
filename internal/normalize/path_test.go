package normalize

import (
	"path"
	"strings"
	"testing"
	"unicode/utf8"
)

// pathBypasses are shapes used to make a guard and an upstream disagree on
// the path. Each must be rejected with the given rule.
var pathBypasses = []struct {
	in, rule string
}{
	// not origin form
	{"", "normalize.path_not_absolute"},
	{"admin", "normalize.path_not_absolute"},
	{"%2fadmin", "normalize.path_not_absolute"},
	{"\\admin", "normalize.path_not_absolute"},
	// encoded dot segments
	{"/%2e/admin", "normalize.dot_segment"},
	{"/%2E/admin", "normalize.dot_segment"},
	{"/api/%2e%2e/admin", "normalize.dot_segment"},
	{"/api/%2E%2E/admin", "normalize.dot_segment"},
	{"/api/.%2e/admin", "normalize.dot_segment"},
	{"/api/%2e./admin", "normalize.dot_segment"},
	{"/api/.%2E/admin", "normalize.dot_segment"},
	{"/api/%2e", "normalize.dot_segment"},
	{"/api/%2e%2e", "normalize.dot_segment"},
	{"/api/...", "normalize.dot_segment"},
	{"/api/..../admin", "normalize.dot_segment"},
	{"/api/.. /admin", "normalize.path_char"},
	{"/api/..%20/admin", "normalize.dot_segment"},
	{"/api/.%20./admin", "normalize.dot_segment"},
	// traversal above root
	{"/..", "normalize.dot_segment_above_root"},
	{"/../admin", "normalize.dot_segment_above_root"},
	{"/a/../../admin", "normalize.dot_segment_above_root"},
	{"//../etc/passwd", "normalize.dot_segment_above_root"},
	{"/./../x", "normalize.dot_segment_above_root"},
	// double encoding
	{"/api/%252e%252e/admin", "normalize.double_encoding"},
	{"/api/%252E/admin", "normalize.double_encoding"},
	{"/api%252fadmin", "normalize.double_encoding"},
	{"/api/%255c", "normalize.double_encoding"},
	{"/api/%25%32%65", "normalize.double_encoding"},
	{"/files/%2500", "normalize.double_encoding"},
	{"/a/%25c0%25ae", "normalize.double_encoding"},
	// invalid escapes
	{"/a%zz", "normalize.path_bad_escape"},
	{"/a%4", "normalize.path_bad_escape"},
	{"/a%", "normalize.path_bad_escape"},
	{"/a%%32%65", "normalize.path_bad_escape"},
	{"/a%g0", "normalize.path_bad_escape"},
	// slashes and backslashes
	{"/api%2fadmin", "normalize.encoded_slash"},
	{"/api%2Fadmin", "normalize.encoded_slash"},
	{"/api/..%2fadmin", "normalize.encoded_slash"},
	{"/api%5cadmin", "normalize.encoded_slash"},
	{"/api%5C..%5Cadmin", "normalize.encoded_slash"},
	{"/api\\admin", "normalize.backslash"},
	{"/api\\..\\admin", "normalize.backslash"},
	// matrix parameters
	{"/admin;x=y/", "normalize.matrix_param"},
	{"/admin;jsessionid=1", "normalize.matrix_param"},
	{"/api/..;/admin", "normalize.matrix_param"},
	{"/admin%3bx", "normalize.matrix_param"},
	{"/admin%3Bx", "normalize.matrix_param"},
	{"/;/admin", "normalize.matrix_param"},
	// control characters, raw and encoded
	{"/admin%00", "normalize.control_char"},
	{"/admin%00.json", "normalize.control_char"},
	{"/admin\x00", "normalize.control_char"},
	{"/admin%0a", "normalize.control_char"},
	{"/admin%0D%0ASet-Cookie:x", "normalize.control_char"},
	{"/admin%09", "normalize.control_char"},
	{"/admin\t", "normalize.control_char"},
	{"/admin%7f", "normalize.control_char"},
	{"/admin\x7f", "normalize.control_char"},
	{"/admin%c2%85", "normalize.control_char"},    // U+0085 NEL
	{"/admin%e2%80%ae", "normalize.control_char"}, // U+202E RLO
	{"/ad%e2%80%8bmin", "normalize.control_char"}, // U+200B ZWSP
	{"/admin%e2%80%a8", "normalize.control_char"}, // U+2028
	// raw characters that cannot be in a wire path
	{"/admin#x", "normalize.path_char"},
	{"/admin?x", "normalize.path_char"},
	{"/ad min", "normalize.path_char"},
	// invalid and overlong UTF-8
	{"/a%ff", "normalize.invalid_utf8"},
	{"/a\xff", "normalize.invalid_utf8"},
	{"/a%c3", "normalize.invalid_utf8"},
	{"/a%c3%28", "normalize.invalid_utf8"},
	{"/a%ed%a0%80", "normalize.invalid_utf8"}, // surrogate
	{"/a%80", "normalize.invalid_utf8"},
	{"/%c0%ae%c0%ae/admin", "normalize.overlong_utf8"},
	{"/api%c0%afadmin", "normalize.overlong_utf8"},
	{"/api%c1%9cadmin", "normalize.overlong_utf8"},
	{"/%e0%80%ae%e0%80%ae/admin", "normalize.overlong_utf8"},
	{"/%f0%80%80%ae", "normalize.overlong_utf8"},
	{"/\xc0\xae\xc0\xae/admin", "normalize.overlong_utf8"},
	// unicode folding tricks
	{"/api%ef%bc%8fadmin", "normalize.unicode_fold"},            // U+FF0F fullwidth solidus
	{"/api/%ef%bc%8e%ef%bc%8e/admin", "normalize.unicode_fold"}, // U+FF0E fullwidth full stop
	{"/api%e2%88%95admin", "normalize.unicode_fold"},            // U+2215 division slash
	{"/api/%e2%80%a4%e2%80%a4/admin", "normalize.unicode_fold"}, // U+2024 one dot leader
	{"/api%ef%b9%a8admin", "normalize.unicode_fold"},            // U+FE68 small reverse solidus
	{"/api/\u2025/admin", "normalize.unicode_fold"},             // U+2025 two dot leader, raw
	{"/%ef%bd%81dmin", "normalize.unicode_fold"},                // U+FF41 fullwidth a
	{"/admin%ef%bc%9bx", "normalize.unicode_fold"},              // U+FF1B fullwidth semicolon
	{"/admin%cd%bex", "normalize.unicode_fold"},                 // U+037E greek question mark
	{"/api%e2%81%84admin", "normalize.unicode_fold"},            // U+2044 fraction slash
	{"/api%ef%bc%bcadmin", "normalize.unicode_fold"},            // U+FF3C fullwidth reverse solidus
}

// pathLegit are paths real clients send; they must pass, canonicalized as
// given.
var pathLegit = []struct {
	in, want string
}{
	{"/", "/"},
	{"/api/v1/accounts/101", "/api/v1/accounts/101"},
	{"/api/v1/accounts/101/", "/api/v1/accounts/101/"},
	{"/API/V1/Accounts", "/API/V1/Accounts"},
	{"/users/Zo%C3%AB", "/users/Zoë"},
	{"/users/Zo%c3%ab", "/users/Zoë"},
	{"/users/Zoë", "/users/Zoë"},
	{"/users/%E5%BC%A0%E4%BC%9F", "/users/张伟"},
	{"/files/a%20b", "/files/a b"},
	{"/files/100%25off", "/files/100%off"},
	{"/files/50%25", "/files/50%"},
	{"/v1/items/{not-a-template}", "/v1/items/{not-a-template}"},
	{"/v1/items/%7Bnot-a-template%7D", "/v1/items/{not-a-template}"},
	{"/users/alice@example.com", "/users/alice@example.com"},
	{"/users/alice%40example.com", "/users/alice@example.com"},
	{"/users/alice+tag@example.com", "/users/alice+tag@example.com"},
	{"/~alice/notes", "/~alice/notes"},
	{"/files/report.v2.pdf", "/files/report.v2.pdf"},
	{"/files/file%2etxt", "/files/file.txt"},
	{"/files/.well-known/x", "/files/.well-known/x"},
	{"/.well-known/openid-configuration", "/.well-known/openid-configuration"},
	{"/a/..b/c", "/a/..b/c"},
	{"/items/a:b,c=d!$&'()*", "/items/a:b,c=d!$&'()*"},
	{"/emoji/%F0%9F%98%80", "/emoji/😀"},
	{"/q/a%3Fb%23c", "/q/a?b#c"},
	// canonicalized
	{"//a///b", "/a/b"},
	{"/a//", "/a/"},
	{"//", "/"},
	{"/a/./b", "/a/b"},
	{"/a/../b", "/b"},
	{"/a/b/..", "/a/"},
	{"/a/b/../", "/a/"},
	{"/a/.", "/a/"},
	{"/.", "/"},
	{"/a//../b", "/b"},
	{"/a/b/c/../../d", "/a/d"},
}

func TestPathRejects(t *testing.T) {
	if len(pathBypasses) < 50 {
		t.Fatalf("only %d bypass shapes, want at least 50", len(pathBypasses))
	}
	for _, tc := range pathBypasses {
		t.Run(tc.in, func(t *testing.T) {
			got, rj := Path(tc.in)
			if rj == nil {
				t.Fatalf("Path(%q) = %q, nil, want rejection %s", tc.in, got, tc.rule)
			}
			if rj.Rule != tc.rule || rj.Status != 400 {
				t.Errorf("Path(%q) = %d %s, want 400 %s", tc.in, rj.Status, rj.Rule, tc.rule)
			}
			if strings.Contains(rj.Title, tc.in) && tc.in != "" {
				t.Errorf("Path(%q) title %q echoes the input", tc.in, rj.Title)
			}
			if got != "" {
				t.Errorf("Path(%q) = %q with a rejection, want empty", tc.in, got)
			}
		})
	}
}

func TestPathLegit(t *testing.T) {
	if len(pathLegit) < 15 {
		t.Fatalf("only %d legitimate paths, want at least 15", len(pathLegit))
	}
	for _, tc := range pathLegit {
		t.Run(tc.in, func(t *testing.T) {
			got, rj := Path(tc.in)
			if rj != nil {
				t.Fatalf("Path(%q) = %v, want %q", tc.in, rj, tc.want)
			}
			if got != tc.want {
				t.Errorf("Path(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if again, rj := Path(Escape(got)); rj != nil || again != got {
				t.Errorf("Path(Escape(%q)) = %q, %v, want %q", got, again, rj, got)
			}
		})
	}
}

func TestPathCleanNoAlloc(t *testing.T) {
	for _, in := range []string{"/api/v1/accounts/101", "/", "/a/b/", "/.well-known/x"} {
		got, _ := Path(in)
		if got != in {
			t.Fatalf("Path(%q) = %q, want %q", in, got, in)
		}
		if n := testing.AllocsPerRun(100, func() { _, _ = Path(in) }); n != 0 {
			t.Errorf("Path(%q) allocates %v times, want 0", in, n)
		}
	}
}

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/api/v1/accounts/101", "/api/v1/accounts/101"},
		{"/files/a b", "/files/a%20b"},
		{"/files/100%off", "/files/100%25off"},
		{"/users/Zoë", "/users/Zo%C3%AB"},
		{"/v1/items/{x}", "/v1/items/%7Bx%7D"},
		{"/q/a?b#c", "/q/a%3Fb%23c"},
		{"/a;b", "/a%3Bb"},
		{"/users/alice+tag@example.com", "/users/alice+tag@example.com"},
	} {
		if got := Escape(tc.in); got != tc.want {
			t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// checkCanonical asserts the properties of an accepted canonical path.
func checkCanonical(t *testing.T, in, c string) {
	t.Helper()
	if c == "" || c[0] != '/' {
		t.Fatalf("Path(%q) = %q, does not start with /", in, c)
	}
	if strings.Contains(c, "//") {
		t.Fatalf("Path(%q) = %q, has //", in, c)
	}
	if !utf8.ValidString(c) {
		t.Fatalf("Path(%q) = %q, not valid UTF-8", in, c)
	}
	for _, r := range c {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
			t.Fatalf("Path(%q) = %q, has control character %U", in, c, r)
		}
		if r == '\\' || r == ';' {
			t.Fatalf("Path(%q) = %q, has %q", in, c, r)
		}
	}
	for seg := range strings.SplitSeq(c, "/") {
		if strings.Trim(seg, ". ") == "" && strings.Contains(seg, ".") {
			t.Fatalf("Path(%q) = %q, has dot segment %q", in, c, seg)
		}
	}
	// Same resolution as path.Clean, except that the trailing slash is kept.
	if want := path.Clean(c); strings.TrimSuffix(c, "/") != strings.TrimSuffix(want, "/") {
		t.Fatalf("Path(%q) = %q, path.Clean gives %q", in, c, want)
	}
	if again, rj := Path(Escape(c)); rj != nil || again != c {
		t.Fatalf("Path(Escape(%q)) = %q, %v, want %q (from %q)", c, again, rj, c, in)
	}
	if again, rj := Path(c); rj == nil && again != c {
		t.Fatalf("Path(%q) = %q, want it unchanged (a canonical path read again)", c, again)
	}
}

func FuzzPath(f *testing.F) {
	for _, tc := range pathBypasses {
		f.Add(tc.in)
	}
	for _, tc := range pathLegit {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, rj := Path(in)
		if rj != nil {
			if c != "" || rj.Status != 400 || !strings.HasPrefix(rj.Rule, "normalize.") || rj.Title == "" {
				t.Fatalf("Path(%q) = %q, %+v: bad rejection", in, c, rj)
			}
			return
		}
		checkCanonical(t, in, c)
	})
}

func BenchmarkPath(b *testing.B) {
	for _, in := range []string{
		"/api/v1/accounts/101",
		"/users/Zo%C3%AB/files/a%20b",
		"//api/./v1/../v1/accounts/101",
	} {
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = Path(in)
			}
		})
	}
}

func BenchmarkEscape(b *testing.B) {
	for _, in := range []string{"/api/v1/accounts/101", "/users/Zoë/files/a b"} {
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Escape(in)
			}
		})
	}
}
