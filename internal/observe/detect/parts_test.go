package detect

import (
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTable(t *testing.T) {
	tb := newTable[string, int](3)
	for i, k := range []string{"a", "b", "c"} {
		v, created := tb.put(k)
		if !created {
			t.Fatalf("put(%s) created = false, want true", k)
		}
		*v = i
	}
	tb.put("a") // a is now the most recent: b is the least
	v, created := tb.put("d")
	if !created || *v != 0 {
		t.Errorf("put(d) = %d, %v, want a fresh zero entry", *v, created)
	}
	*v = 3
	if got := keysOf(tb); !slices.Equal(got, []string{"d", "a", "c"}) {
		t.Errorf("keys after evicting = %v, want [d a c]", got)
	}
	if v, created := tb.put("a"); created || *v != 0 {
		t.Errorf("put(a) = %d, %v, want the kept entry 0", *v, created)
	}
	tb.resize(2)
	if got := keysOf(tb); !slices.Equal(got, []string{"a", "d"}) || tb.len() != 2 {
		t.Errorf("keys after resize(2) = %v, want [a d]", got)
	}
	if v, created := tb.put("d"); created || *v != 3 {
		t.Errorf("put(d) after resize = %d, %v, want the kept entry 3", *v, created)
	}
	tb.clear()
	if tb.len() != 0 || len(keysOf(tb)) != 0 {
		t.Errorf("after clear: len %d", tb.len())
	}
	// Many keys through a small table stay bounded.
	big := newTable[int, [8]byte](100)
	for i := range 10_000 {
		big.put(i)
	}
	if big.len() != 100 || len(big.nodes) != 100 {
		t.Errorf("table(100) after 10000 keys: len %d, nodes %d, want 100", big.len(), len(big.nodes))
	}
	if got := keysOf(big)[0]; got != 9999 {
		t.Errorf("most recent = %d, want 9999", got)
	}
}

// keysOf lists a table's keys, most recently used first.
func keysOf[K comparable, V any](t *table[K, V]) []K {
	var out []K
	for i := t.head; i >= 0; i = t.nodes[i].next {
		out = append(out, t.nodes[i].key)
	}
	return out
}

func TestTSet(t *testing.T) {
	type step struct {
		h      uint32
		flag   bool
		now    uint32
		n, nfl int
	}
	for _, tc := range []struct {
		name   string
		window uint32
		max    int
		steps  []step
	}{
		{"distinct and repeated", 60, 10, []step{
			{1, false, 100, 1, 0}, {2, true, 101, 2, 1}, {1, false, 102, 2, 1}, {3, false, 103, 3, 1},
		}},
		{"a repeated value keeps its flag", 60, 10, []step{{1, true, 100, 1, 1}, {1, false, 101, 1, 1}}},
		{"expiry", 60, 10, []step{
			{1, true, 100, 1, 1}, {2, false, 130, 2, 1}, {3, false, 160, 2, 0}, {4, false, 191, 2, 0},
		}},
		{"seeing a value again keeps it in the window", 60, 10, []step{
			{1, false, 100, 1, 0}, {1, false, 150, 1, 0}, {2, false, 200, 2, 0},
		}},
		{"full: the least recently seen makes room", 60, 3, []step{
			{1, false, 100, 1, 0}, {2, true, 101, 2, 1}, {3, false, 102, 3, 1}, {1, false, 103, 3, 1},
			{4, false, 104, 3, 0}, // 2 was the oldest
			{2, false, 105, 3, 0},
		}},
		{"a late observation", 60, 10, []step{{1, false, 100, 1, 0}, {2, false, 90, 2, 0}, {3, false, 155, 2, 0}}},
		{"the flag bit of the hash is ignored", 60, 10, []step{{5, false, 100, 1, 0}, {5 | flagBit, false, 101, 1, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s tset
			for i, st := range tc.steps {
				if n, nfl := s.add(st.h, st.flag, st.now, tc.window, tc.max); n != st.n || nfl != st.nfl {
					t.Errorf("step %d add(%d, %v, %d) = %d, %d, want %d, %d", i, st.h, st.flag, st.now, n, nfl, st.n, st.nfl)
				}
			}
		})
	}
	// Memory is given back after a burst.
	var s tset
	for i := range 1000 {
		s.add(uint32(i), false, 100, 60, 1000)
	}
	s.add(5000, false, 200, 60, 1000)
	if len(s.e) != 1 || cap(s.e) > 64 {
		t.Errorf("after expiry: len %d cap %d, want 1 and a small capacity", len(s.e), cap(s.e))
	}
}

func TestShape(t *testing.T) {
	seed := maphash.MakeSeed()
	for _, tc := range []struct {
		path, template string
		vars           int
		last           int64
		numeric        bool
	}{
		{"/api/v2/things/42/detail", "/api/v2/things/{n}/detail", 1, 42, true},
		{"/internal/debug", "/internal/debug", 0, 0, false},
		{"/a/123", "/a/{n}", 1, 123, true},
		{"/users/3fa85f64-5717-4562-b3fc-2c963f66afa6/keys/0123456789abcdef0123", "/users/{uuid}/keys/{hex}", 2, 0, false},
		{"/a/7/b/9", "/a/{n}/b/{n}", 2, 9, true},
		{"/", "/", 0, 0, false},
		{"", "", 0, 0, false},
		{"/a//12/", "/a//{n}/", 1, 12, true},
		{"/n/99999999999999999999", "/n/{hex}", 1, 0, false},
		{"/deadbeef", "/deadbeef", 0, 0, false},
	} {
		got := shape(seed, tc.path)
		if got.template != tc.template || got.vars != tc.vars || got.last != tc.last || got.numeric != tc.numeric {
			t.Errorf("shape(%q) = %q vars %d last %d numeric %v, want %q vars %d last %d numeric %v",
				tc.path, got.template, got.vars, got.last, got.numeric, tc.template, tc.vars, tc.last, tc.numeric)
		}
	}
	a, b, c := shape(seed, "/a/1/b/2"), shape(seed, "/a/1/b/3"), shape(seed, "/a/1/b/2")
	if a.values == b.values || a.values != c.values {
		t.Errorf("shape values: /a/1/b/2 %x, /a/1/b/3 %x, again %x; want distinct values to differ and equal ones to match", a.values, b.values, c.values)
	}
	var long strings.Builder
	for i := range 100 {
		fmt.Fprintf(&long, "/%d", i)
	}
	if got := shape(seed, long.String()); got.vars != maxShapeSegments-1 || !strings.HasSuffix(got.template, "/98/99") {
		t.Errorf("shape of 100 numeric segments = %d variables, want %d (the rest folded into one literal)", got.vars, maxShapeSegments-1)
	}
}

func FuzzShape(f *testing.F) {
	for _, s := range []string{"/a/123", "/users/3fa85f64-5717-4562-b3fc-2c963f66afa6", "//", "/a/%2F/1", "/" + strings.Repeat("9/", 40)} {
		f.Add(s)
	}
	seed := maphash.MakeSeed()
	f.Fuzz(func(t *testing.T, path string) {
		got := shape(seed, path)
		if got.vars < 0 || len(got.template) > len(path)+8*maxShapeSegments {
			t.Fatalf("shape(%q) = %+v", path, got)
		}
		if got.vars == 0 && len(path) <= maxShapePath && got.template != path {
			t.Fatalf("shape(%q) template %q without variables, want the path unchanged", path, got.template)
		}
		if utf8.ValidString(path) && !utf8.ValidString(got.template) {
			t.Fatalf("shape(%q) = %q is not valid UTF-8", path, got.template)
		}
	})
}

func TestUsernameOf(t *testing.T) {
	fields := []string{"username", "email", "login", "user"}
	for _, tc := range []struct {
		ct, body string
		fields   []string
		want     string
	}{
		{"application/json", `{"username":"Alice","password":"x"}`, fields, "alice"},
		{"application/json; charset=utf-8", `{"password":"x","email":"  Bob@Example.COM "}`, fields, "bob@example.com"},
		{"application/vnd.api+json", `{"login":"carol"}`, fields, "carol"},
		{"", `{"user":"dave"}`, fields, "dave"},
		{"application/json", `{"username":42,"email":"eve"}`, fields, "eve"},
		{"application/json", `{"password":"only"}`, fields, ""},
		{"application/json", `{"user":{"email":"frank"}}`, []string{"/user/email"}, "frank"},
		{"application/json", `{"a/b":{"c~d":"grace"}}`, []string{"/a~1b/c~0d"}, "grace"},
		{"application/json", `{"user":"not an object"}`, []string{"/user/email"}, ""},
		{"application/x-www-form-urlencoded", "username=heidi&password=x", fields, "heidi"},
		{"application/x-www-form-urlencoded", "credentials=1&name=ivan", []string{"/credentials/name"}, "ivan"},
		{"text/plain", `{"username":"judy"}`, fields, ""},
		{"application/json", `not json`, fields, ""},
		{"application/json", `{"username":"` + strings.Repeat("k", 300) + `"}`, fields, strings.Repeat("k", maxUsernameLen)},
		{"application/json", `{"username":"` + strings.Repeat("k", maxLoginBody) + `"}`, fields, ""},
		{"application/json", `{"username":"a"}`, []string{"/1/2/3/4/5/6/7/8/9"}, ""},
	} {
		if got := usernameOf(tc.ct, []byte(tc.body), tc.fields); got != tc.want {
			t.Errorf("usernameOf(%q, %.40q, %v) = %q, want %q", tc.ct, tc.body, tc.fields, got, tc.want)
		}
	}
}

func FuzzUsernameOf(f *testing.F) {
	for _, s := range []struct{ ct, body string }{
		{"application/json", `{"username":"alice","password":"x"}`},
		{"application/json", `{"user":{"email":"a@b"}}`},
		{"application/x-www-form-urlencoded", "username=a%20b&password=x"},
		{"", `{"email":"\u00e9"}`},
	} {
		f.Add(s.ct, []byte(s.body))
	}
	fields := []string{"/user/email", "username", "email"}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		got := usernameOf(ct, body, fields)
		if len(got) > maxUsernameLen {
			t.Fatalf("usernameOf = %d bytes, want at most %d", len(got), maxUsernameLen)
		}
		if got != "" && (len(body) > maxLoginBody || got != strings.TrimSpace(got) && len(got) < maxUsernameLen) {
			t.Fatalf("usernameOf(%q, %q) = %q", ct, body, got)
		}
	})
}
