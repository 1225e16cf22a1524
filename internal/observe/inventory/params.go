package inventory

import (
	"net/url"
	"strings"
)

// unescapeQuery decodes a query name or value.
func unescapeQuery(s string) (string, error) { return url.QueryUnescape(s) }

// credentialParams are query parameters that carry credentials (a token
// in the URL, a finding in itself: it leaks into logs and Referer).
var credentialParams = [...]string{"access_token", "api_key", "apikey", "token", "jwt", "auth_token", "id_token", "x-api-key"}

func isCredentialParam(name string) bool {
	for _, s := range credentialParams {
		if strings.EqualFold(name, s) {
			return true
		}
	}
	return false
}

// standardHeaders are request headers that are not API parameters:
// HTTP's own, credentials (counted as authentication methods), caching,
// proxies and tracing. Keys are canonical (http.CanonicalHeaderKey).
var standardHeaders = func() map[string]bool {
	m := map[string]bool{}
	for _, h := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges", "Authorization",
		"Cache-Control", "Connection", "Content-Encoding", "Content-Language", "Content-Length", "Content-Type",
		"Cookie", "Date", "Dnt", "Expect", "Forwarded", "From", "Host", "If-Match", "If-Modified-Since",
		"If-None-Match", "If-Range", "If-Unmodified-Since", "Keep-Alive", "Max-Forwards", "Origin", "Pragma",
		"Priority", "Proxy-Authorization", "Proxy-Connection", "Range", "Referer", "Te", "Trailer",
		"Transfer-Encoding", "Upgrade", "Upgrade-Insecure-Requests", "User-Agent", "Via", "Warning",
		"Access-Control-Request-Method", "Access-Control-Request-Headers", "Sec-Fetch-Dest", "Sec-Fetch-Mode",
		"Sec-Fetch-Site", "Sec-Fetch-User", "Sec-Ch-Ua", "Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform",
		"X-Api-Key", "Api-Key", "X-Auth-Token", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
		"X-Forwarded-Port", "X-Forwarded-Prefix", "X-Real-Ip", "X-Request-Id", "X-Correlation-Id",
		"Traceparent", "Tracestate", "Baggage", "X-Amzn-Trace-Id", "X-B3-Traceid", "X-B3-Spanid",
		"X-B3-Parentspanid", "X-B3-Sampled", "X-B3-Flags", "B3", "X-Cloud-Trace-Context", "Uber-Trace-Id",
		"Cdn-Loop", "X-Envoy-Expected-Rq-Timeout-Ms", "X-Envoy-Attempt-Count", "X-Requested-With",
	} {
		m[h] = true
	}
	return m
}()

func standardHeader(name string) bool { return standardHeaders[name] }
