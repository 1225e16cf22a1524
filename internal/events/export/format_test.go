package export

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/events"
)

// sample is a blocked request with every field set.
func sample() events.Event {
	return events.Event{
		ID: 42, Time: time.Date(2025, 6, 1, 12, 3, 0, 123_000_000, time.UTC), Kind: events.KindGuard,
		RequestID: "01J2Z8Q4", API: "pets", Operation: "getPet", Method: "GET", Path: "/pets/42",
		ClientIP: "192.0.2.10", Principal: "alice", Guard: "authz", Rule: "authz.object_owner",
		Category: "API1", Verdict: events.VerdictBlock, Mode: "enforce", Status: 403,
		Latency: 812 * time.Microsecond, Detail: "pet 42 belongs to another owner",
	}
}

// cefRecord is a parsed CEF line.
type cefRecord struct {
	header [7]string // CEF:0 version, vendor, product, version, signature, name, severity
	ext    map[string]string
}

// parseCEF parses one CEF record strictly: seven '|'-separated header
// fields ('\|' and '\\' escapes), then key=value pairs separated by spaces
// ('\=', '\\', '\n', '\r' escapes in values).
func parseCEF(s string) (cefRecord, error) {
	var r cefRecord
	i, field := 0, 0
	var cur strings.Builder
	for ; i < len(s) && field < 7; i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '\\' || s[i+1] == '|'):
			cur.WriteByte(s[i+1])
			i++
		case c == '\\':
			return r, fmt.Errorf("header: lone backslash at %d", i)
		case c == '|':
			r.header[field] = cur.String()
			cur.Reset()
			field++
		case c == '\r' || c == '\n':
			return r, errors.New("header: line break")
		default:
			cur.WriteByte(c)
		}
	}
	if field != 7 {
		return r, fmt.Errorf("header: %d fields, want 7", field)
	}
	if r.header[0] != "CEF:0" {
		return r, fmt.Errorf("header: starts %q, want CEF:0", r.header[0])
	}
	ext := s[i:]
	r.ext = map[string]string{}
	// Unescaped '=' separate keys from values; a key is the word before it.
	var eqs []int
	for j := 0; j < len(ext); j++ {
		if ext[j] == '\\' {
			j++
			continue
		}
		if ext[j] == '=' {
			eqs = append(eqs, j)
		}
	}
	keyStart := func(eq int) int {
		k := eq
		for k > 0 && ext[k-1] != ' ' {
			k--
		}
		return k
	}
	for n, eq := range eqs {
		ks := keyStart(eq)
		key := ext[ks:eq]
		if key == "" {
			return r, fmt.Errorf("extension: empty key at %d", eq)
		}
		for _, c := range key {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return r, fmt.Errorf("extension: bad key %q", key)
			}
		}
		if n == 0 && ks != 0 {
			return r, fmt.Errorf("extension: text before the first key: %q", ext[:ks])
		}
		end := len(ext)
		if n+1 < len(eqs) {
			end = keyStart(eqs[n+1]) - 1
		}
		if end < eq+1 {
			return r, fmt.Errorf("extension: no separator before the key after %q", key)
		}
		v, err := unescapeCEFValue(ext[eq+1 : end])
		if err != nil {
			return r, fmt.Errorf("extension %s: %w", key, err)
		}
		if _, dup := r.ext[key]; dup {
			return r, fmt.Errorf("extension: duplicate key %q", key)
		}
		r.ext[key] = v
	}
	if len(eqs) == 0 && ext != "" {
		return r, fmt.Errorf("extension without a key: %q", ext)
	}
	return r, nil
}

func unescapeCEFValue(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", errors.New("trailing backslash")
		}
		i++
		switch s[i] {
		case '\\', '=':
			b.WriteByte(s[i])
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		default:
			return "", fmt.Errorf("unknown escape \\%c", s[i])
		}
	}
	return b.String(), nil
}

func TestCEF(t *testing.T) {
	e := sample()
	got := string(AppendCEF(nil, &e, "1.2.3"))
	want := `CEF:0|apiguard|apiguard|1.2.3|authz.object_owner|Broken Object Level Authorization|6|rt=1748779380123 cat=guard act=block src=192.0.2.10 suser=alice requestMethod=GET request=/pets/42 externalId=42 cn1=403 cn1Label=httpStatus cn2=812000 cn2Label=latencyNs cs1=pets cs1Label=api cs2=getPet cs2Label=operation cs3=API1 cs3Label=owaspCategory cs4=authz cs4Label=guard cs5=01J2Z8Q4 cs5Label=requestId cs6=enforce cs6Label=mode msg=pet 42 belongs to another owner`
	if got != want {
		t.Fatalf("AppendCEF(sample) =\n%s\nwant\n%s", got, want)
	}
	tests := []struct {
		name        string
		rule, dtl   string
		wantSig     string
		wantMsg     string
		wantEscaped string
	}{
		{"pipe in header", "a|b", "x", "a|b", "x", `|a\|b|`},
		{"backslash in header", `a\b`, "x", `a\b`, "x", `|a\\b|`},
		{"newline in header", "a\nb", "x", "a b", "x", "|a b|"},
		{"equals in value", "r", "k=v", "r", "k=v", `msg=k\=v`},
		{"backslash in value", "r", `c:\tmp`, "r", `c:\tmp`, `msg=c:\\tmp`},
		{"newline in value", "r", "one\r\ntwo", "r", "one\r\ntwo", `msg=one\r\ntwo`},
		{"pipe in value kept", "r", "a|b", "r", "a|b", `msg=a|b`},
		{"fake key in value", "r", "x act=allow", "r", "x act=allow", `msg=x act\=allow`},
		{"invalid utf-8", "r", "a\xffb", "r", "a\uFFFDb", "msg=a\uFFFDb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := sample()
			e.Rule, e.Detail = tt.rule, tt.dtl
			line := string(AppendCEF(nil, &e, "v"))
			if !strings.Contains(line, tt.wantEscaped) {
				t.Errorf("AppendCEF(%q, %q) = %s, want it to contain %s", tt.rule, tt.dtl, line, tt.wantEscaped)
			}
			r, err := parseCEF(line)
			if err != nil {
				t.Fatalf("parseCEF(%s) error = %v", line, err)
			}
			if r.header[4] != tt.wantSig || r.ext["msg"] != tt.wantMsg || r.ext["act"] != "block" {
				t.Errorf("parsed signature, msg, act = %q, %q, %q; want %q, %q, block", r.header[4], r.ext["msg"], r.ext["act"], tt.wantSig, tt.wantMsg)
			}
		})
	}
}

func TestSeverity(t *testing.T) {
	tests := []struct {
		verdict       string
		want          Severity
		syslog, cef   int
		ocsfSeverity  string
		ocsfDisp      string
		ocsfStatusID  int
		ocsfDispID    int
		passesDefault bool // webhook default filter, min medium
	}{
		{events.VerdictAllow, SeverityInfo, 6, 1, "Informational", "Allowed", 1, 1, false},
		{events.VerdictObserve, SeverityLow, 5, 3, "Low", "Detected", 1, 15, false},
		{events.VerdictBlock, SeverityMedium, 4, 6, "Medium", "Blocked", 2, 2, true},
		{events.VerdictError, SeverityHigh, 3, 8, "High", "Error", 2, 99, true},
	}
	f := newFilter(config.AlertFilter{MinSeverity: "medium"})
	for _, tt := range tests {
		t.Run(tt.verdict, func(t *testing.T) {
			e := sample()
			e.Verdict = tt.verdict
			if got := SeverityOf(&e); got != tt.want {
				t.Errorf("SeverityOf(%s) = %v, want %v", tt.verdict, got, tt.want)
			}
			if got := syslogSeverity(tt.want); got != tt.syslog {
				t.Errorf("syslogSeverity(%v) = %d, want %d", tt.want, got, tt.syslog)
			}
			if got := cefSeverity(tt.want); got != tt.cef {
				t.Errorf("cefSeverity(%v) = %d, want %d", tt.want, got, tt.cef)
			}
			o := ToOCSF(&e, "v")
			if o.Severity != tt.ocsfSeverity || o.SeverityID != int(tt.want) || o.Disposition != tt.ocsfDisp || o.DispositionID != tt.ocsfDispID || o.StatusID != tt.ocsfStatusID {
				t.Errorf("ToOCSF(%s) severity %d %s, disposition %d %s, status %d; want %d %s, %d %s, %d", tt.verdict,
					o.SeverityID, o.Severity, o.DispositionID, o.Disposition, o.StatusID, tt.want, tt.ocsfSeverity, tt.ocsfDispID, tt.ocsfDisp, tt.ocsfStatusID)
			}
			if got := f.match(&e); got != tt.passesDefault {
				t.Errorf("filter{min medium}.match(%s) = %v, want %v", tt.verdict, got, tt.passesDefault)
			}
		})
	}
}

func TestFilter(t *testing.T) {
	e := sample()
	tests := []struct {
		name string
		f    config.AlertFilter
		want bool
	}{
		{"empty", config.AlertFilter{}, true},
		{"min high", config.AlertFilter{MinSeverity: "high"}, false},
		{"verdict", config.AlertFilter{Verdicts: []string{"block"}}, true},
		{"other verdict", config.AlertFilter{Verdicts: []string{"observe", "error"}}, false},
		{"category", config.AlertFilter{Categories: []string{"API2", "API1"}}, true},
		{"other category", config.AlertFilter{Categories: []string{"API2"}}, false},
		{"guard", config.AlertFilter{Guards: []string{"authz"}}, true},
		{"other guard", config.AlertFilter{Guards: []string{"waf"}}, false},
		{"kind", config.AlertFilter{Kinds: []string{"guard"}}, true},
		{"other kind", config.AlertFilter{Kinds: []string{"system"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFilter(tt.f)
			if got := f.match(&e); got != tt.want {
				t.Errorf("filter(%+v).match(sample) = %v, want %v", tt.f, got, tt.want)
			}
		})
	}
}

func TestOCSF(t *testing.T) {
	e := sample()
	raw := appendOCSF(nil, &e, "1.2.3")
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("appendOCSF = %s: %v", raw, err)
	}
	want := map[string]any{
		"activity_id": 2.0, "activity_name": "Read", "category_uid": 6.0, "category_name": "Application Activity",
		"class_uid": 6003.0, "class_name": "API Activity", "type_uid": 600302.0, "type_name": "API Activity: Read",
		"severity_id": 3.0, "severity": "Medium", "time": 1748779380123.0,
		"message":   "authz block: GET /pets/42 (authz.object_owner, API1)",
		"status_id": 2.0, "status": "Failure", "status_code": "403", "status_detail": "pet 42 belongs to another owner",
		"disposition_id": 2.0, "disposition": "Blocked",
		"metadata": map[string]any{"version": "1.3.0", "profiles": []any{"security_control"}, "uid": "42", "correlation_uid": "01J2Z8Q4", "log_name": "guard",
			"product": map[string]any{"name": "apiguard", "vendor_name": "apiguard", "version": "1.2.3"}},
		"api":           map[string]any{"operation": "getPet", "service": map[string]any{"name": "pets"}, "request": map[string]any{"uid": "01J2Z8Q4"}},
		"http_request":  map[string]any{"http_method": "GET", "url": map[string]any{"path": "/pets/42"}, "uid": "01J2Z8Q4"},
		"http_response": map[string]any{"code": 403.0},
		"src_endpoint":  map[string]any{"ip": "192.0.2.10"},
		"actor":         map[string]any{"user": map[string]any{"uid": "alice"}, "app_name": "apiguard"},
		"unmapped": map[string]any{"kind": "guard", "verdict": "block", "guard": "authz", "rule": "authz.object_owner", "category": "API1",
			"category_name": "Broken Object Level Authorization", "mode": "enforce", "latency_ns": 812000.0},
	}
	for k, w := range want {
		if !reflect.DeepEqual(got[k], w) {
			t.Errorf("OCSF %s = %#v, want %#v", k, got[k], w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("OCSF has unexpected field %s = %v", k, got[k])
		}
	}
	for _, tt := range []struct {
		method string
		id     int
	}{{"POST", 1}, {"GET", 2}, {"HEAD", 2}, {"PUT", 3}, {"PATCH", 3}, {"DELETE", 4}, {"OPTIONS", 99}, {"", 0}} {
		if id, _ := ocsfActivity(tt.method); id != tt.id {
			t.Errorf("ocsfActivity(%q) = %d, want %d", tt.method, id, tt.id)
		}
	}
}

// syslogFrame is a parsed RFC 5424 message.
type syslogFrame struct {
	pri                                    int
	timestamp                              time.Time
	hostname, appName, procID, msgID, sdID string
	sdParams                               map[string]string
	msg                                    string
}

// parseRFC5424 parses one RFC 5424 message (no transport framing).
func parseRFC5424(s string) (syslogFrame, error) {
	var f syslogFrame
	if !strings.HasPrefix(s, "<") {
		return f, errors.New("no PRI")
	}
	end := strings.IndexByte(s, '>')
	if end < 2 || end > 4 {
		return f, errors.New("bad PRI")
	}
	pri, err := strconv.Atoi(s[1:end])
	if err != nil || pri < 0 || pri > 191 {
		return f, fmt.Errorf("bad PRI %q", s[1:end])
	}
	f.pri = pri
	rest := s[end+1:]
	if !strings.HasPrefix(rest, "1 ") {
		return f, errors.New("version is not 1")
	}
	parts := strings.SplitN(rest[2:], " ", 6)
	if len(parts) != 6 {
		return f, errors.New("missing header fields")
	}
	if f.timestamp, err = time.Parse(time.RFC3339Nano, parts[0]); err != nil {
		return f, fmt.Errorf("timestamp: %w", err)
	}
	for i, p := range parts[1:5] {
		max := [...]int{255, 48, 128, 32}[i]
		if p == "" || len(p) > max {
			return f, fmt.Errorf("header field %d: %q", i, p)
		}
		for j := 0; j < len(p); j++ {
			if p[j] < 33 || p[j] > 126 {
				return f, fmt.Errorf("header field %d: byte %#x", i, p[j])
			}
		}
	}
	f.hostname, f.appName, f.procID, f.msgID = parts[1], parts[2], parts[3], parts[4]
	sd := parts[5]
	f.sdParams = map[string]string{}
	switch {
	case strings.HasPrefix(sd, "- "):
		f.msg = sd[2:]
	case strings.HasPrefix(sd, "["):
		i := 1
		for i < len(sd) && sd[i] != ' ' && sd[i] != ']' {
			i++
		}
		f.sdID = sd[1:i]
		for i < len(sd) && sd[i] == ' ' {
			eq := strings.IndexByte(sd[i:], '=')
			if eq < 0 || i+eq+1 >= len(sd) || sd[i+eq+1] != '"' {
				return f, errors.New("SD-PARAM without a quoted value")
			}
			name := sd[i+1 : i+eq]
			j := i + eq + 2
			var v strings.Builder
			for ; j < len(sd) && sd[j] != '"'; j++ {
				if sd[j] == '\\' && j+1 < len(sd) {
					j++
				}
				v.WriteByte(sd[j])
			}
			if j >= len(sd) {
				return f, errors.New("unterminated SD-PARAM")
			}
			f.sdParams[name] = v.String()
			i = j + 1
		}
		if i >= len(sd) || sd[i] != ']' {
			return f, errors.New("unterminated SD-ELEMENT")
		}
		rest := sd[i+1:]
		if rest != "" && !strings.HasPrefix(rest, " ") {
			return f, errors.New("no space after STRUCTURED-DATA")
		}
		f.msg = strings.TrimPrefix(rest, " ")
	default:
		return f, errors.New("no STRUCTURED-DATA")
	}
	return f, nil
}

func TestRFC5424(t *testing.T) {
	e := sample()
	m := &syslogMessage{facility: 16, hostname: "gw1", appName: "apiguard", procID: "77", format: "cef", max: 8192, version: "1.2.3"}
	line := string(m.appendRFC5424(nil, &e))
	want := `<132>1 2025-06-01T12:03:00.123000Z gw1 apiguard 77 guard [meta sequenceId="1"] CEF:0|apiguard|apiguard|1.2.3|authz.object_owner|`
	if !strings.HasPrefix(line, want) {
		t.Fatalf("appendRFC5424 = %s, want prefix %s", line, want)
	}
	f, err := parseRFC5424(line)
	if err != nil {
		t.Fatalf("parseRFC5424(%s) error = %v", line, err)
	}
	if f.pri != 16*8+4 || f.sdParams["sequenceId"] != "1" || !f.timestamp.Equal(e.Time) {
		t.Errorf("parsed = %+v, want pri 132, sequenceId 1, time %v", f, e.Time)
	}
	// A long detail is cut, and the message still parses.
	e.Detail = strings.Repeat("é=|\\", 3000)
	m.max = 600
	line = string(m.appendRFC5424(nil, &e))
	if len(line) > 600 || !utf8.ValidString(line) {
		t.Fatalf("appendRFC5424(long) = %d bytes (valid UTF-8 %v), want at most 600", len(line), utf8.ValidString(line))
	}
	f, err = parseRFC5424(line)
	if err != nil {
		t.Fatal(err)
	}
	if f.sdParams["sequenceId"] != "2" {
		t.Errorf("second message sequenceId = %q, want 2", f.sdParams["sequenceId"])
	}
	if _, err := parseCEF(f.msg); err != nil {
		t.Errorf("parseCEF(cut message %q) error = %v", f.msg, err)
	}
	// JSON payload.
	m.format, m.max = "json", 8192
	e = sample()
	f, err = parseRFC5424(string(m.appendRFC5424(nil, &e)))
	if err != nil {
		t.Fatal(err)
	}
	var back events.Event
	if err := json.Unmarshal([]byte(f.msg), &back); err != nil || back.Rule != e.Rule || back.Detail != e.Detail || !back.Time.Equal(e.Time) {
		t.Errorf("JSON payload %s = %+v (%v), want the event", f.msg, back, err)
	}
}

// validUTF8 replaces each byte of invalid UTF-8 with U+FFFD.
func validUTF8(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// FuzzCEFSyslog checks that any field content survives CEF escaping and
// RFC 5424 framing: the parsers above read back exactly what was written
// (after the documented normalizations), and a cut message never ends
// inside an escape or a character.
func FuzzCEFSyslog(f *testing.F) {
	f.Add("authz.object_owner", "pet 42", "/pets/42", "alice", 8192)
	f.Add("a|b\\c", "k=v\nx\\", "/a b=c", "bob\r\n", 480)
	f.Add("r", "\\\\\\=", "|||", "", 500)
	f.Add("r\xff", "é\xc3", "/\x00", "=", 490)
	f.Fuzz(func(t *testing.T, rule, detail, path, principal string, max int) {
		e := sample()
		e.Rule, e.Detail, e.Path, e.Principal = rule, detail, path, principal
		line := string(AppendCEF(nil, &e, "1.0"))
		r, err := parseCEF(line)
		if err != nil {
			t.Fatalf("parseCEF(AppendCEF(%q, %q, %q, %q) = %q) error = %v", rule, detail, path, principal, line, err)
		}
		header := func(s string) string {
			return strings.NewReplacer("\r", " ", "\n", " ").Replace(validUTF8(s))
		}
		value := validUTF8
		wantSig := header(rule)
		if rule == "" {
			wantSig = "guard"
		}
		if r.header[4] != wantSig {
			t.Errorf("signature = %q, want %q", r.header[4], wantSig)
		}
		for k, want := range map[string]string{"msg": value(detail), "request": value(path), "suser": value(principal)} {
			if got, ok := r.ext[k]; want != "" && (!ok || got != want) {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		if r.ext["act"] != "block" || r.ext["cs1"] != "pets" {
			t.Errorf("fixed keys act, cs1 = %q, %q; want block, pets", r.ext["act"], r.ext["cs1"])
		}
		if max < 480 || max > 1<<16 {
			max = 480 + (max&0xffff)%2000
			if max < 480 {
				max = 480
			}
		}
		m := &syslogMessage{facility: 4, hostname: "h", appName: "apiguard", procID: "1", format: "cef", max: max, version: "1.0"}
		msg := string(m.appendRFC5424(nil, &e))
		if len(msg) > max {
			t.Fatalf("message is %d bytes, max %d", len(msg), max)
		}
		if !utf8.ValidString(msg) {
			t.Fatalf("message is not valid UTF-8: %q", msg)
		}
		fr, err := parseRFC5424(msg)
		if err != nil {
			t.Fatalf("parseRFC5424(%q) error = %v", msg, err)
		}
		if fr.pri != 4*8+4 || fr.msgID != "guard" {
			t.Errorf("pri, msgid = %d, %q; want 36, guard", fr.pri, fr.msgID)
		}
		if _, err := parseCEF(fr.msg); err != nil && !strings.Contains(err.Error(), "header") {
			// A message cut inside the header loses fields; past the
			// header it must still parse.
			t.Errorf("parseCEF(framed %q) error = %v", fr.msg, err)
		}
	})
}

// TestSeverityOfSourceSeverity checks that a severity the event's source
// set (a detector with action alert) wins over the verdict's.
func TestSeverityOfSourceSeverity(t *testing.T) {
	tests := []struct {
		verdict, severity string
		want              Severity
	}{
		{events.VerdictObserve, "high", SeverityHigh},
		{events.VerdictBlock, "low", SeverityLow},
		{events.VerdictObserve, "", SeverityLow},
		{events.VerdictObserve, "bogus", SeverityLow},
	}
	f := newFilter(config.AlertFilter{MinSeverity: "medium"})
	for _, tt := range tests {
		e := sample()
		e.Kind, e.Verdict, e.Severity = events.KindDetector, tt.verdict, tt.severity
		if got := SeverityOf(&e); got != tt.want {
			t.Errorf("SeverityOf(verdict %s, severity %q) = %v, want %v", tt.verdict, tt.severity, got, tt.want)
		}
		if got, want := f.match(&e), tt.want >= SeverityMedium; got != want {
			t.Errorf("default webhook filter passes (verdict %s, severity %q) = %v, want %v", tt.verdict, tt.severity, got, want)
		}
	}
}
