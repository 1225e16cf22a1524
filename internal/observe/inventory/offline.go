package inventory

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/apiguard/apiguard/internal/observe"
	"github.com/apiguard/apiguard/internal/openapi"
)

// Offline sources: HAR files (browser or proxy captures) and apiguard's
// own JSON access log. They give the same inventory as live traffic,
// within what they hold: a HAR has headers and bodies but no client
// address; the access log has the client, the principal and the query
// (with secrets redacted) but neither headers nor bodies, so whether an
// anonymous caller was answered is only known for lines with a principal.

// Match sets what the gateway would have set from the spec on an
// offline observation: the API name, the spec, the operation and its path
// parameters. The path must be what the spec's paths are matched against
// (no stripped prefix).
func Match(o *observe.Observation, api string, spec *openapi.Spec) {
	o.API, o.Spec, o.RoutePath = api, spec, o.Path
	o.Operation, o.PathParams, o.MethodMismatch = nil, o.PathParams[:0], false
	if spec == nil {
		return
	}
	op, params, found := spec.Match(o.Method, o.Path, o.PathParams)
	o.Operation, o.PathParams = op, params
	o.MethodMismatch = op == nil && found
}

// harEntry is the part of a HAR 1.2 entry the inventory reads.
type harEntry struct {
	StartedDateTime string  `json:"startedDateTime"`
	Time            float64 `json:"time"`
	Request         struct {
		Method   string      `json:"method"`
		URL      string      `json:"url"`
		Headers  []harHeader `json:"headers"`
		PostData *struct {
			MimeType string `json:"mimeType"`
			Text     string `json:"text"`
		} `json:"postData"`
	} `json:"request"`
	Response struct {
		Status  int         `json:"status"`
		Headers []harHeader `json:"headers"`
		Content struct {
			MimeType string `json:"mimeType"`
			Text     string `json:"text"`
			Encoding string `json:"encoding"`
		} `json:"content"`
	} `json:"response"`
	ServerIPAddress string `json:"serverIPAddress"`
}

type harHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ReadHAR reads a HAR file entry by entry (log.entries, streamed) and
// calls fn with each as an observation (fn must not keep it). Entries
// with an unusable URL are skipped and counted.
func ReadHAR(r io.Reader, fn func(*observe.Observation)) (read, skipped int, err error) {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return 0, 0, fmt.Errorf("reading HAR: %w", err)
	}
	found := false
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return read, skipped, fmt.Errorf("reading HAR: %w", err)
		}
		if key != "log" {
			if err := skipValue(dec); err != nil {
				return read, skipped, fmt.Errorf("reading HAR: %w", err)
			}
			continue
		}
		if err := expectDelim(dec, '{'); err != nil {
			return read, skipped, fmt.Errorf("reading HAR: log: %w", err)
		}
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return read, skipped, fmt.Errorf("reading HAR: %w", err)
			}
			if key != "entries" {
				if err := skipValue(dec); err != nil {
					return read, skipped, fmt.Errorf("reading HAR: %w", err)
				}
				continue
			}
			found = true
			if err := expectDelim(dec, '['); err != nil {
				return read, skipped, fmt.Errorf("reading HAR: log.entries: %w", err)
			}
			for dec.More() {
				var e harEntry
				if err := dec.Decode(&e); err != nil {
					return read, skipped, fmt.Errorf("reading HAR: log.entries[%d]: %w", read+skipped, err)
				}
				o, ok := harObservation(&e)
				if !ok {
					skipped++
					continue
				}
				read++
				fn(o)
			}
			if err := expectDelim(dec, ']'); err != nil {
				return read, skipped, fmt.Errorf("reading HAR: %w", err)
			}
		}
		if err := expectDelim(dec, '}'); err != nil {
			return read, skipped, fmt.Errorf("reading HAR: %w", err)
		}
	}
	if !found {
		return read, skipped, errors.New("reading HAR: no log.entries: not a HAR file")
	}
	return read, skipped, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("expected %q, found %v", want, tok)
	}
	return nil
}

// skipValue reads and drops one JSON value.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				depth++
			default:
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}

// harObservation converts an entry.
func harObservation(e *harEntry) (*observe.Observation, bool) {
	u, err := url.Parse(e.Request.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, false
	}
	o := &observe.Observation{Method: e.Request.Method, Host: u.Hostname(), Path: u.Path, RawQuery: u.RawQuery}
	if o.Path == "" {
		o.Path = "/"
	}
	if t, err := time.Parse(time.RFC3339Nano, e.StartedDateTime); err == nil {
		o.Time = t
	}
	if e.Time > 0 && e.Time < 1e9 {
		o.Latency = time.Duration(e.Time * float64(time.Millisecond))
	}
	o.RequestHeader = http.Header{}
	for _, h := range e.Request.Headers {
		if h.Name == "" || h.Name[0] == ':' { // HTTP/2 pseudo-headers
			continue
		}
		o.RequestHeader.Add(h.Name, h.Value)
	}
	o.RequestContentType = o.RequestHeader.Get("Content-Type")
	if pd := e.Request.PostData; pd != nil {
		if o.RequestContentType == "" {
			o.RequestContentType = pd.MimeType
		}
		if len(pd.Text) <= observe.MaxBody {
			o.RequestBody = []byte(pd.Text)
		}
		o.BytesIn = int64(len(pd.Text))
	}
	if v := o.RequestHeader.Get("Authorization"); v != "" {
		o.Credential = observe.Fingerprint(v)
	} else if v := o.RequestHeader.Get("X-Api-Key"); v != "" {
		o.Credential = observe.Fingerprint(v)
	}
	o.Status = e.Response.Status
	o.Upstreamed = o.Status > 0
	c := e.Response.Content
	o.ResponseContentType = c.MimeType
	for _, h := range e.Response.Headers {
		if strings.EqualFold(h.Name, "Content-Type") {
			o.ResponseContentType = h.Value
		}
	}
	body := []byte(c.Text)
	if c.Encoding == "base64" {
		if b, err := base64.StdEncoding.DecodeString(c.Text); err == nil {
			body = b
		} else {
			body = nil
		}
	}
	if len(body) <= observe.MaxBody {
		o.ResponseBody = body
	}
	o.BytesOut = int64(len(body))
	return o, true
}

// accessLine is one line of the JSON access log (internal/events).
type accessLine struct {
	Time      string  `json:"time"`
	Kind      string  `json:"kind"`
	RequestID string  `json:"request_id"`
	API       string  `json:"api"`
	Method    string  `json:"method"`
	Path      string  `json:"path"`
	Query     string  `json:"query"`
	ClientIP  string  `json:"client_ip"`
	Principal string  `json:"principal"`
	Status    int     `json:"status"`
	LatencyMs float64 `json:"latency_ms"`
	BytesIn   int64   `json:"bytes_in"`
	BytesOut  int64   `json:"bytes_out"`
	Upstream  string  `json:"upstream"`
	Verdict   string  `json:"verdict"`
	Guard     string  `json:"guard"`
	Rule      string  `json:"rule"`
}

// maxLine is the longest access-log line read.
const maxLine = 1 << 20

// ReadAccessLog reads apiguard's JSON access log and calls fn with each
// access line as an observation (fn must not keep it). Lines that are not
// access records (other JSON logs interleaved) or not JSON are skipped
// and counted.
func ReadAccessLog(r io.Reader, fn func(*observe.Observation)) (read, skipped int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var a accessLine
		if json.Unmarshal(line, &a) != nil || a.Kind != "access" || a.Method == "" || !strings.HasPrefix(a.Path, "/") {
			skipped++
			continue
		}
		o := &observe.Observation{RequestID: a.RequestID, API: a.API, Method: a.Method, Path: a.Path, RawQuery: a.Query,
			Principal: a.Principal, Status: a.Status, BytesIn: a.BytesIn, BytesOut: a.BytesOut}
		if t, err := time.Parse(time.RFC3339Nano, a.Time); err == nil {
			o.Time = t
		}
		if a.LatencyMs > 0 && a.LatencyMs < 1e9 {
			o.Latency = time.Duration(a.LatencyMs * float64(time.Millisecond))
		}
		if ip, err := netip.ParseAddr(a.ClientIP); err == nil {
			o.ClientIP = ip
		}
		o.Blocked = a.Verdict == "block"
		o.Upstreamed = a.Upstream != "" && !o.Blocked
		if a.Guard != "" {
			o.Decisions = []observe.Decision{{Guard: a.Guard, Rule: a.Rule, Action: a.Verdict}}
		}
		read++
		fn(o)
	}
	if err := sc.Err(); err != nil {
		return read, skipped, fmt.Errorf("reading access log: line %d: %w", read+skipped+1, err)
	}
	return read, skipped, nil
}
