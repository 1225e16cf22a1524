package inventory

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestSegmentKind(t *testing.T) {
	tests := []struct{ seg, want string }{
		{"123", segInteger},
		{"0", segInteger},
		{"550e8400-e29b-41d4-a716-446655440000", segUUID},
		{"01ARZ3NDEKTSV4RRFFQ69G5FAV", segULID},
		{"01arz3ndektsv4rrffq69g5fav", segULID},
		{"5f8d0d55b54764421b7156c9", segHex},
		{"deadbeef12", segHex},
		{"2024-02-29", segDate},
		{"2024-02-29T10:11:12Z", segDateTime},
		{"alice@example.com", segEmail},
		{"cus_9a8b7c6d5e", segToken},
		{"aZ3kP9qL2mN8xR4tV7wY1bC", segToken},
		// literal: words, versions, short mixed, slugs, file names
		{"users", segLiteral},
		{"me", segLiteral},
		{"v1", segLiteral},
		{"v2.1", segLiteral},
		{"search", segLiteral},
		{"deadbeef", segLiteral}, // a word-like hex without digits
		{"my-first-blog-post-2023", segLiteral},
		{"avatar.png", segLiteral},
		{"oauth2", segLiteral},
		{"2024-13-01", segLiteral},
		{"", segLiteral},
	}
	for _, tt := range tests {
		if got := segmentKind(tt.seg); got != tt.want {
			t.Errorf("segmentKind(%q) = %q, want %q", tt.seg, got, tt.want)
		}
	}
}

// TestTemplatesRealisticTraffic feeds a mixed stream — identifiers of
// every shape, slugs with high cardinality, and literal segments that
// must survive — and checks the templates.
func TestTemplatesRealisticTraffic(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tp := newTemplater(DefaultMaxLiterals, treeNodes(DefaultMaxEndpoints))
	words := []string{"red", "fast", "quiet", "blue", "tiny", "brave", "old", "new", "calm", "wild"}
	slug := func() string {
		return words[rng.IntN(len(words))] + "-" + words[rng.IntN(len(words))] + "-" + words[rng.IntN(len(words))] + "-" + fmt.Sprint(rng.IntN(50))
	}
	uuid := func() string {
		return fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", rng.Uint32(), rng.IntN(1<<16), rng.IntN(1<<12), rng.IntN(1<<12), rng.Uint64()&(1<<48-1))
	}
	ulid := func() string {
		const alpha = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
		b := []byte("01")
		for len(b) < 26 {
			b = append(b, alpha[rng.IntN(32)])
		}
		return string(b)
	}
	gen := []func() string{
		func() string { return fmt.Sprintf("/api/v1/users/%d", rng.IntN(100000)) },
		func() string { return "/api/v1/users/me" },
		func() string { return fmt.Sprintf("/api/v1/users/%d/orders/%s", rng.IntN(1000), uuid()) },
		func() string { return "/api/v1/orders/" + ulid() + "/items" },
		func() string { return fmt.Sprintf("/api/v1/blobs/%x", rng.Uint64()|1<<60) },
		func() string { return fmt.Sprintf("/api/v1/reports/2024-%02d-%02d", 1+rng.IntN(12), 1+rng.IntN(28)) },
		func() string { return "/api/v1/articles/" + slug() },
		func() string { return "/api/v1/articles/search" },
		func() string { return "/api/v1/articles/latest" },
		func() string { return "/api/v1/search" },
		func() string { return "/healthz" },
		func() string { return "/api/v1/users/" + slug() + "/followers" },
	}
	for i := 0; i < 20000; i++ {
		tp.template(gen[rng.IntN(len(gen))]())
	}
	tests := []struct{ path, want string }{
		{"/api/v1/users/42", "/api/v1/users/{userId}"},
		{"/api/v1/users/me", "/api/v1/users/me"},
		{"/api/v1/users/7/orders/" + uuid(), "/api/v1/users/{userId}/orders/{orderId}"},
		{"/api/v1/orders/" + ulid() + "/items", "/api/v1/orders/{orderId}/items"},
		{"/api/v1/blobs/1a2b3c4d5e6f7a8b", "/api/v1/blobs/{blobId}"},
		{"/api/v1/reports/2024-05-06", "/api/v1/reports/{date}"},
		{"/api/v1/articles/a-never-seen-slug", "/api/v1/articles/{articleId}"},
		{"/api/v1/articles/search", "/api/v1/articles/search"},
		{"/api/v1/articles/latest", "/api/v1/articles/latest"},
		{"/api/v1/search", "/api/v1/search"},
		{"/healthz", "/healthz"},
		{"/api/v1/users/some-new-person/followers", "/api/v1/users/{userId}/followers"},
	}
	for _, tt := range tests {
		if got := tp.retemplate(tt.path); got != tt.want {
			t.Errorf("template(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
	if tp.nodes > 40 {
		t.Errorf("templating tree has %d nodes after the mixed traffic, want at most 40", tp.nodes)
	}
}

// TestTemplateCardinalityBound sends 100k random paths: the tree and the
// distinct templates stay bounded.
func TestTemplateCardinalityBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const alpha = "abcdefghijklmnopqrstuvwxyz-._~"
	word := func() string {
		b := make([]byte, 1+rng.IntN(12))
		for i := range b {
			b[i] = alpha[rng.IntN(len(alpha))]
		}
		return string(b)
	}
	for _, maxLiterals := range []int{8, DefaultMaxLiterals} {
		t.Run(fmt.Sprint("max_literals=", maxLiterals), func(t *testing.T) {
			maxNodes := 2000
			tp := newTemplater(maxLiterals, maxNodes)
			templates := map[string]bool{}
			for i := 0; i < 100000; i++ {
				var b strings.Builder
				for d := 0; d < 1+rng.IntN(8); d++ {
					b.WriteString("/" + word())
				}
				tmpl, _ := tp.template(b.String())
				templates[tmpl] = true
				if len(templates) > 50000 {
					break
				}
			}
			if tp.nodes > 2*maxNodes {
				t.Errorf("tree nodes = %d, want at most %d", tp.nodes, 2*maxNodes)
			}
			if got := countNodes(tp.root, 0); got != tp.nodes {
				t.Errorf("node count = %d, but the tree has %d", tp.nodes, got)
			}
			// Every path now maps onto a template of the settled tree;
			// how many distinct ones the stream produced along the way
			// is bounded by the tree, not by the 100k paths.
			settled := map[string]bool{}
			for tmpl := range templates {
				settled[tp.retemplate(tmpl)] = true
			}
			if len(settled) > 2*maxNodes {
				t.Errorf("distinct templates after settling = %d, want at most %d", len(settled), 2*maxNodes)
			}
			t.Logf("max_literals %d: %d tree nodes, %d templates seen, %d after settling", maxLiterals, tp.nodes, len(templates), len(settled))
		})
	}
}

func TestParamNames(t *testing.T) {
	tests := []struct{ prev, value, want string }{
		{"users", "1", "userId"},
		{"categories", "1", "categoryId"},
		{"addresses", "1", "addressId"},
		{"status", "1", "statusId"},
		{"user-groups", "1", "userGroupId"},
		{"reports", "2024-01-02", "date"},
		{"{userId}", "1", "id"},
		{"v1", "1", "id"},
		{"", "1", "id"},
	}
	for _, tt := range tests {
		if got := paramName(tt.prev, tt.value); got != tt.want {
			t.Errorf("paramName(%q, %q) = %q, want %q", tt.prev, tt.value, got, tt.want)
		}
	}
	tp := newTemplater(8, 100)
	if got, _ := tp.template("/users/1/users/2"); got != "/users/{userId}/users/{userId2}" {
		t.Errorf("template(/users/1/users/2) = %q, want unique names", got)
	}
}

func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"/", "/users/1", "/a/{b}/c", "//x//", "/v1/items/01ARZ3NDEKTSV4RRFFQ69G5FAV", "/%7B/}", "/\x00/\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		tp := newTemplater(2, 64)
		for _, p := range []string{path, path + "/x", "/a" + path, path} {
			tmpl, _ := tp.template(p)
			if !strings.HasPrefix(tmpl, "/") {
				t.Fatalf("template(%q) = %q, not a path", p, tmpl)
			}
			// A template renders to itself, and the spec parser takes it.
			if again := tp.retemplate(tmpl); again != tmpl {
				t.Fatalf("retemplate(%q) = %q, want it unchanged", tmpl, again)
			}
			for _, seg := range strings.Split(tmpl[1:], "/") {
				if strings.ContainsAny(seg, "{}") && !isParamSeg(seg) {
					t.Fatalf("template(%q) = %q: segment %q has braces but is not a parameter", p, tmpl, seg)
				}
			}
		}
		if tp.nodes > 2*64+maxDepth {
			t.Fatalf("tree has %d nodes", tp.nodes)
		}
	})
}
