package authn

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/safehttp"
)

// TestFetcherAddressPolicy checks that JWKS, discovery and introspection
// fetches go through the dial-time address check: loopback only when the
// configured URL names it, private networks only with allow_private, and
// link-local (cloud metadata) never, whatever the configured URL.
func TestFetcherAddressPolicy(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/keys", http.StatusFound)
			return
		}
		_, _ = io.WriteString(w, `{"keys":[]}`)
	}))
	defer srv.Close()

	tests := []struct {
		name         string
		target       string // the configured URL
		allowPrivate bool
		fetch        string // the URL fetched (a discovery document may name another)
		want         string // "" for success, else a part of the error
		wantAddrErr  bool
	}{
		{"configured loopback", srv.URL, false, srv.URL + "/keys", "", false},
		{"jwks_uri on loopback from a public issuer", "https://idp.example.com", false, srv.URL + "/keys", "loopback", true},
		{"allow_private does not open loopback", "https://idp.example.com", true, srv.URL + "/keys", "loopback", true},
		{"cloud metadata", "https://169.254.169.254/keys", false, "https://169.254.169.254/keys", "forbidden", true},
		{"cloud metadata with allow_private", "https://169.254.169.254/keys", true, "https://169.254.169.254/keys", "forbidden", true},
		{"IPv4-mapped metadata", "https://idp.example.com", true, "https://[::ffff:169.254.169.254]/keys", "forbidden", true},
		{"private without allow_private", "https://10.20.30.40/keys", false, "https://10.20.30.40/keys", "forbidden", true},
		{"redirect not followed", srv.URL, false, srv.URL + "/moved", "redirect", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFetcher(2*time.Second, 1<<10, tc.target, tc.allowPrivate)
			b, err := f.get(context.Background(), tc.fetch)
			if tc.want == "" {
				if err != nil || !strings.Contains(string(b), "keys") {
					t.Fatalf("get(%s) = %q, %v; want the key set", tc.fetch, b, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("get(%s) error = %v, want one containing %q", tc.fetch, err, tc.want)
			}
			var ae *safehttp.AddressError
			if errors.As(err, &ae) != tc.wantAddrErr {
				t.Fatalf("get(%s) error = %v; address refusal = %v, want %v", tc.fetch, err, !tc.wantAddrErr, tc.wantAddrErr)
			}
		})
	}
}

// TestFetcherSizeCap checks that a key set larger than the limit is
// refused, whether or not the server announces its length.
func TestFetcherSizeCap(t *testing.T) {
	big := strings.Repeat("x", 4096)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("chunked") {
			w.(http.Flusher).Flush()
		}
		_, _ = io.WriteString(w, big)
	}))
	defer srv.Close()
	f := newFetcher(2*time.Second, 1024, srv.URL, false)
	for _, u := range []string{srv.URL + "/", srv.URL + "/?chunked"} {
		if _, err := f.get(context.Background(), u); !errors.Is(err, errTooLarge) {
			t.Errorf("get(%s) error = %v, want errTooLarge", u, err)
		}
	}
}
