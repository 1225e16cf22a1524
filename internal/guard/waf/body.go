package waf

import (
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// maxBodyValues bounds the values taken from one body.
const maxBodyValues = 10000

// body adds the request body's values to in. done is true when the body
// itself decides the request (a DTD, an unreadable body).
func (g *Guard) body(x *pipeline.Exchange, pins *opPins, in *[]input, skipped *int) (pipeline.Verdict, bool) {
	r := x.Request
	if r.Body == nil || r.ContentLength == 0 && len(r.TransferEncoding) == 0 {
		return pipeline.Verdict{}, false
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case strings.HasSuffix(ct, "json"):
		v, err := x.JSON()
		if err != nil {
			// Not JSON: inspect the raw text (the schema guard refuses it).
			b, berr := x.Body()
			if berr != nil {
				return pipeline.Verdict{}, false
			}
			*in = append(*in, input{"ARGS_POST", "body", string(b)})
			return pipeline.Verdict{}, false
		}
		var bodyPins map[string]pin
		if pins != nil {
			bodyPins = pins.body
		}
		flattenJSON(v, "json", "", bodyPins, in, skipped)
	case ct == "application/x-www-form-urlencoded":
		b, err := x.Body()
		if err != nil {
			return pipeline.Verdict{}, false
		}
		form, err := url.ParseQuery(string(b))
		if err != nil {
			*in = append(*in, input{"ARGS_POST", "body", string(b)})
			return pipeline.Verdict{}, false
		}
		for k, vs := range form {
			*in = append(*in, input{"ARGS_POST_NAMES", k, k})
			for _, v := range vs {
				*in = append(*in, input{"ARGS_POST", k, v})
			}
		}
	case strings.HasSuffix(ct, "xml"):
		b, err := x.Body()
		if err != nil {
			return pipeline.Verdict{}, false
		}
		vals, err := xmlValues(b)
		if err == errXMLDTD {
			return g.block("waf.xml_dtd", 400, "XML documents with a DTD or entity declarations are not accepted.", "xml: "+events.RedactText(err.Error(), 80)), true
		}
		if err != nil {
			*in = append(*in, input{"ARGS_POST", "body", string(b)})
		}
		for _, kv := range vals {
			*in = append(*in, input{"ARGS_POST", kv[0], kv[1]})
		}
	default:
		b, err := x.Body()
		if err == nil && len(b) > 0 {
			*in = append(*in, input{"ARGS_POST", "body", string(b)})
		}
	}
	return pipeline.Verdict{}, false
}

// flattenJSON adds every key and every string value not pinned by the
// schema, named like Coraza's JSON processor (json.a.b.0.c).
func flattenJSON(v any, name, schemaPath string, pins map[string]pin, in *[]input, skipped *int) {
	if len(*in) >= maxBodyValues {
		return
	}
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			*in = append(*in, input{"ARGS_POST_NAMES", k, k})
			flattenJSON(val, name+"."+k, join(schemaPath, k), pins, in, skipped)
		}
	case []any:
		for i, val := range t {
			flattenJSON(val, name+"."+strconv.Itoa(i), schemaPath, pins, in, skipped)
		}
	case string:
		if p, ok := pins[schemaPath]; ok && p.ok(t) {
			*skipped++
			return
		}
		*in = append(*in, input{"ARGS_POST", name, t})
		if d, ok := decodeBase64(t); ok {
			*in = append(*in, input{"ARGS_POST", name + ".base64", d})
		}
	case json.Number:
		*skipped++ // numbers cannot carry an injection
	case nil:
		// The name still counts: {"$ne": null}.
		*in = append(*in, input{"ARGS_POST", name, ""})
	case bool, float64:
		*skipped++
	}
}

// decodeBase64 decodes a JSON string that looks like standard or URL-safe
// base64 of printable text, so encoded payloads are inspected too.
func decodeBase64(s string) (string, bool) {
	if len(s) < 8 || len(s)%4 == 1 || strings.ContainsAny(s, " \t\r\n") {
		return "", false
	}
	var enc *base64.Encoding
	switch {
	case strings.ContainsAny(s, "-_"):
		enc = base64.URLEncoding
	default:
		enc = base64.StdEncoding
	}
	if !strings.HasSuffix(s, "=") && len(s)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	b, err := enc.DecodeString(s)
	if err != nil || !utf8.Valid(b) {
		return "", false
	}
	for _, r := range string(b) {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' {
			return "", false
		}
	}
	return string(b), true
}
