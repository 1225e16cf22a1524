package events

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// Access is one completed request, as written to the access log and
// counted in the request metrics.
type Access struct {
	// Time is when the request was received; zero means now.
	Time time.Time
	// RequestID is the request's id.
	RequestID string
	// API is the name of the API the request was routed to.
	API string
	// Operation is the spec operation id, or "unmatched". It is a metric
	// label: it must come from the spec, never from the request.
	Operation string
	// Method is the request method.
	Method string
	// Path is the canonical request path.
	Path string
	// Query is the raw query string; it is redacted when written.
	Query string
	// Proto is the request protocol, such as "HTTP/1.1" or "HTTP/2.0".
	Proto string
	// ClientIP is the client's address.
	ClientIP string
	// Principal is the authenticated caller's subject, when known.
	Principal string
	// Status is the status answered to the client.
	Status int
	// Latency is the time from receiving the request to the end of the answer.
	Latency time.Duration
	// UpstreamLatency is the time spent waiting for the upstream; 0 when
	// the request was not proxied.
	UpstreamLatency time.Duration
	// BytesIn and BytesOut are the request and response body sizes.
	BytesIn  int64
	BytesOut int64
	// Upstream is the host of the upstream URL used, if any.
	Upstream string
	// UserAgent is the client's User-Agent header.
	UserAgent string
	// Verdict is allow, block or observe; empty means allow.
	Verdict string
	// Guard and Rule identify the blocking or observing decision, if any.
	Guard string
	Rule  string
}

// appendTime appends t in UTC as RFC 3339 with milliseconds, such as
// 2025-03-04T05:06:07.891Z, without time.Format's layout parsing.
func appendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	hour, min, sec := t.Clock()
	ms := t.Nanosecond() / 1e6
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	}
	return append(dst,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+int(month)/10), byte('0'+int(month)%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+min/10), byte('0'+min%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

// appendAccess appends a's access-log line (a JSON object and a newline) to
// dst. scratch is a reusable buffer for query redaction; it is returned.
func appendAccess(dst []byte, a *Access, scratch []byte) ([]byte, []byte) {
	t := a.Time
	if t.IsZero() {
		t = time.Now()
	}
	dst = append(dst, `{"time":"`...)
	dst = appendTime(dst, t)
	dst = append(dst, `","kind":"access","request_id":`...)
	dst = appendJSONString(dst, a.RequestID)
	dst = append(dst, `,"api":`...)
	dst = appendJSONString(dst, a.API)
	dst = append(dst, `,"operation":`...)
	dst = appendJSONString(dst, a.Operation)
	dst = append(dst, `,"method":`...)
	dst = appendJSONString(dst, a.Method)
	dst = append(dst, `,"path":`...)
	dst = appendJSONString(dst, a.Path)
	dst = append(dst, `,"query":"`...)
	if a.Query != "" {
		dst, _, scratch = appendRedactedQuery(dst, a.Query, scratch, appendJSONStringBody)
	}
	dst = append(dst, `","proto":`...)
	dst = appendJSONString(dst, a.Proto)
	dst = append(dst, `,"client_ip":`...)
	dst = appendJSONString(dst, a.ClientIP)
	dst = append(dst, `,"principal":`...)
	dst = appendJSONString(dst, a.Principal)
	dst = append(dst, `,"status":`...)
	dst = strconv.AppendInt(dst, int64(a.Status), 10)
	dst = append(dst, `,"latency_ms":`...)
	dst = appendMillis(dst, a.Latency)
	dst = append(dst, `,"upstream_latency_ms":`...)
	dst = appendMillis(dst, a.UpstreamLatency)
	dst = append(dst, `,"bytes_in":`...)
	dst = strconv.AppendInt(dst, a.BytesIn, 10)
	dst = append(dst, `,"bytes_out":`...)
	dst = strconv.AppendInt(dst, a.BytesOut, 10)
	dst = append(dst, `,"upstream":`...)
	dst = appendJSONString(dst, a.Upstream)
	dst = append(dst, `,"user_agent":`...)
	dst = appendJSONString(dst, a.UserAgent)
	dst = append(dst, `,"verdict":`...)
	v := a.Verdict
	if v == "" {
		v = VerdictAllow
	}
	dst = appendJSONString(dst, v)
	dst = append(dst, `,"guard":`...)
	dst = appendJSONString(dst, a.Guard)
	dst = append(dst, `,"rule":`...)
	dst = appendJSONString(dst, a.Rule)
	dst = append(dst, "}\n"...)
	return dst, scratch
}

// appendMillis appends d in milliseconds with microsecond precision.
func appendMillis(dst []byte, d time.Duration) []byte {
	if d < 0 {
		d = 0
	}
	us := int64(d / time.Microsecond)
	dst = strconv.AppendInt(dst, us/1000, 10)
	frac := us % 1000
	dst = append(dst, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	return dst
}

// appendJSONString appends s to dst as a JSON string, with quotes.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendJSONStringBody(dst, s)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// jsonSafe[c] is true for the ASCII bytes a JSON string holds unescaped.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONStringBody appends s to dst escaped as the inside of a JSON
// string, the way encoding/json does without HTML escaping: quotes,
// backslashes and control characters are escaped, U+2028 and U+2029 are
// escaped for JavaScript, and invalid UTF-8 becomes U+FFFD.
func appendJSONStringBody(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}
