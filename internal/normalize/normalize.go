// Package normalize is apiguard's protocol hardening step: always on, run
// before routing and before any guard. It turns the request path into one
// canonical form (Path, Escape) and refuses requests whose shape different
// HTTP implementations read differently (Request, Listener): request
// smuggling framings, method overrides, encoded dot segments and slashes,
// overlong UTF-8, unicode look-alikes, matrix parameters, control bytes.
//
// A refusal is a *Rejection: a status, a stable rule id and a client-safe
// title that never echoes the input. Everything here is a pure function of
// the request bytes; there is no configuration beyond header limits and no
// failure mode. See docs/hardening.md.
package normalize

import "net/http"

// Guard is the guard name under which rejections appear in events.
const Guard = "normalize"

// Category is the OWASP API Security Top 10 (2023) id of every rejection:
// API8, security misconfiguration (ambiguous protocol handling).
const Category = "API8"

// Rejection is why a request was refused: a precise, client-safe reason.
type Rejection struct {
	// Status is the HTTP status to answer with: 400 for ambiguous or
	// malformed shapes, 431 for header limits, 501 for refused methods,
	// 505 for unsupported protocol versions.
	Status int
	// Rule is a stable id such as "normalize.dot_segment".
	Rule string
	// Title is a client-safe sentence; it never echoes the input.
	Title string
	// Close is true when the connection must be closed after the answer
	// (set "Connection: close"): the request framing itself is suspect, so
	// nothing after it on the connection can be trusted.
	Close bool
}

// Error returns the rule id and the title.
func (r *Rejection) Error() string {
	return r.Rule + ": " + r.Title
}

// reject returns a fresh copy of a rule template, so callers may keep or
// modify it without touching the shared table.
func reject(t *Rejection) *Rejection {
	c := *t
	return &c
}

func rule(status int, id, title string) *Rejection {
	return &Rejection{Status: status, Rule: "normalize." + id, Title: title}
}

func wireRule(id, title string) *Rejection {
	r := rule(http.StatusBadRequest, id, title)
	r.Close = true
	return r
}

// Path rules.
var (
	rulePathNotAbsolute = rule(400, "path_not_absolute", "The request path must start with a slash.")
	rulePathBadEscape   = rule(400, "path_bad_escape", "The request path contains an invalid percent escape.")
	rulePathChar        = rule(400, "path_char", "The request path contains a character that is not allowed there.")
	ruleEncodedSlash    = rule(400, "encoded_slash", "The request path contains an encoded slash or backslash.")
	ruleBackslash       = rule(400, "backslash", "The request path contains a backslash.")
	ruleDotSegment      = rule(400, "dot_segment", "The request path contains an encoded or ambiguous dot segment.")
	ruleAboveRoot       = rule(400, "dot_segment_above_root", "The request path climbs above the root.")
	ruleDoubleEncoding  = rule(400, "double_encoding", "The request path is percent-encoded more than once.")
	ruleControlChar     = rule(400, "control_char", "The request path contains a control or invisible character.")
	ruleInvalidUTF8     = rule(400, "invalid_utf8", "The request path is not valid UTF-8.")
	ruleOverlongUTF8    = rule(400, "overlong_utf8", "The request path contains an overlong UTF-8 sequence.")
	ruleUnicodeFold     = rule(400, "unicode_fold", "The request path contains a character that folds to a path delimiter or ASCII look-alike.")
	ruleMatrixParam     = rule(400, "matrix_param", "The request path contains a matrix parameter (semicolon).")
)

// Request rules.
var (
	ruleHTTPVersion       = rule(505, "http_version", "The HTTP version is not supported.")
	ruleMethodInvalid     = rule(400, "method_invalid", "The request method is not a valid token.")
	ruleMethodCase        = rule(400, "method_case", "The request method must be written in upper case.")
	ruleMethodDisallowed  = rule(501, "method_disallowed", "The request method is not supported.")
	ruleMethodOverride    = rule(400, "method_override", "Method override headers and parameters are not accepted.")
	rulePathOverride      = rule(400, "path_override", "Path override headers are not accepted.")
	ruleAbsoluteForm      = rule(400, "absolute_form", "The request target must be a path, not an absolute URI.")
	ruleAuthorityForm     = rule(400, "authority_form", "The request target must be a path, not an authority.")
	ruleAsteriskForm      = rule(400, "asterisk_form", "The request target must be a path.")
	ruleHostAmbiguous     = rule(400, "host_ambiguous", "The request names more than one host.")
	ruleHeaderCount       = rule(431, "header_count", "The request has too many header fields.")
	ruleHeaderValueLength = rule(431, "header_value_length", "A request header field value is too long.")
	ruleHeaderName        = rule(400, "header_name", "A request header field name is not a valid token.")
	ruleHeaderValueCtl    = rule(400, "header_value_control", "A request header field value contains a control character.")
	ruleHeaderAmbiguous   = rule(400, "header_ambiguous", "A request header field is sent under two spellings.")
	ruleConnectionHeader  = rule(400, "connection_header", "The Connection header names a field to strip.")
	ruleH2CUpgrade        = rule(400, "h2c_upgrade", "Upgrading to cleartext HTTP/2 is not accepted.")
	ruleQueryEncoding     = rule(400, "query_encoding", "The query string contains an invalid percent escape or character.")
	ruleQueryControl      = rule(400, "query_control", "The query string contains a control character.")
	ruleQueryUTF8         = rule(400, "query_utf8", "The query string is not valid UTF-8.")
	ruleQuerySemicolon    = rule(400, "query_semicolon", "The query string uses a semicolon as a separator.")
)

// Framing (smuggling) rules. They are found in the parsed request or, for
// shapes net/http hides from handlers, on the wire by Listener.
var (
	ruleCLTE       = wireRule("smuggling_cl_te", "The request has both Content-Length and Transfer-Encoding.")
	ruleCLRepeated = wireRule("smuggling_cl_repeated", "The request repeats Content-Length.")
	ruleCLInvalid  = wireRule("smuggling_cl_invalid", "The request has an invalid Content-Length.")
	ruleTEInvalid  = wireRule("smuggling_te", "The request Transfer-Encoding must be exactly one chunked.")
	ruleTEHTTP10   = wireRule("smuggling_te_http10", "An HTTP/1.0 request must not use Transfer-Encoding.")
	ruleObsFold    = wireRule("obs_fold", "The request has a folded (multi-line) header field.")
	ruleBareLF     = wireRule("bare_lf", "The request has a line that ends without a carriage return.")
	ruleBareCR     = wireRule("bare_cr", "The request has a carriage return that does not end a line.")
	ruleWireName   = wireRule("header_name_wire", "A request header field name is not a valid token.")
	ruleWireCtl    = wireRule("header_control_wire", "The request head contains a control character.")
	ruleChunked    = wireRule("chunked_malformed", "The request has malformed chunked framing.")
	ruleMalformed  = wireRule("malformed_head", "The request head is malformed.")
)
