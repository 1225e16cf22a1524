package authn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/apiguard/apiguard/internal/safehttp"
)

// fetcher makes apiguard's own outbound requests (JWKS, discovery,
// introspection) through safehttp: bounded in time and size, no
// redirects, no proxy from the environment, and every address checked at
// dial time. A URL found in a fetched document (a discovery document's
// jwks_uri) is dialed under the same check, so a changed or forged
// document cannot point apiguard at cloud metadata or an internal host.
type fetcher struct {
	client  *http.Client
	maxBody int64
}

// newFetcher returns a fetcher for the configured URL target: loopback
// addresses are allowed only when target names a loopback host (a local
// identity provider or sidecar the operator chose), private networks only
// with allowPrivate; link-local addresses, cloud metadata among them,
// never.
func newFetcher(timeout time.Duration, maxBody int64, target string, allowPrivate bool) *fetcher {
	opts := safehttp.Options{
		Timeout: timeout, DialTimeout: timeout, TLSHandshakeTimeout: timeout, ResponseHeaderTimeout: timeout,
		MaxResponseBytes: maxBody + 1,
	}
	if u, err := url.Parse(target); err == nil && isLoopbackHost(u.Hostname()) {
		opts.AllowLoopback = true
	}
	if allowPrivate {
		opts.AllowCIDRs = safehttp.PrivateRanges
	}
	return &fetcher{maxBody: maxBody, client: safehttp.NewClient(opts)}
}

var errTooLarge = errors.New("answer larger than the limit")

// do sends req and returns the body of a 200 answer, at most maxBody bytes.
func (f *fetcher) do(req *http.Request) ([]byte, error) {
	resp, err := f.client.Do(req)
	if err != nil {
		if errors.Is(err, safehttp.ErrRedirect) {
			return nil, errors.New("answered with a redirect (redirects are not followed)")
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("answered %d", resp.StatusCode)
	}
	if resp.ContentLength > f.maxBody {
		return nil, errTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, f.maxBody+1))
	if errors.Is(err, safehttp.ErrResponseTooLarge) {
		return nil, errTooLarge
	}
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > f.maxBody {
		return nil, errTooLarge
	}
	return b, nil
}

// get fetches a URL.
func (f *fetcher) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	return f.do(req)
}

// checkFetchURL accepts https URLs, and http only to loopback hosts.
func checkFetchURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("must be an absolute URL")
	}
	if u.User != nil {
		return fmt.Errorf("must not contain credentials")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopbackHost(u.Hostname()) {
			return nil
		}
	}
	return fmt.Errorf("must be an https URL (http only to loopback)")
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
