package authn

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"os"
	"strings"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwe"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

// JOSEConfig requires a JOSE request body (Content-Type application/jose)
// on some operations: a compact JWS that is verified, or a compact JWE
// that is decrypted; the payload or plaintext is passed on instead.
type JOSEConfig struct {
	// Operations are the operation ids this applies to. Required.
	Operations []string `yaml:"operations" json:"operations"`
	// Require is jws or jwe.
	Require string `yaml:"require" json:"require" jsonschema:"enum=jws,enum=jwe"`
	// JWKS (inline) or JWKSFile holds the verification keys (jws: public
	// keys or PEM) or the decryption keys (jwe: private JWKs with alg).
	JWKS     string `yaml:"jwks" json:"jwks,omitempty"`
	JWKSFile string `yaml:"jwks_file" json:"jwks_file,omitempty"`
	// Algorithms restricts the signature (jws) or key management (jwe)
	// algorithms. Default for jwe: RSA-OAEP-256, ECDH-ES, ECDH-ES+A128KW,
	// ECDH-ES+A256KW (RSA1_5 is never accepted).
	Algorithms []string `yaml:"algorithms" json:"algorithms,omitempty"`
	// ContentType is the Content-Type of the payload passed on. Default
	// application/json.
	ContentType string `yaml:"content_type" json:"content_type,omitempty"`
}

type decryptKey struct {
	alg jwa.KeyAlgorithm
	key any
}

type joseOp struct {
	jws         bool
	verify      *keySet
	decrypt     []decryptKey
	contentType string
}

var defaultJWEAlgs = map[string]bool{"RSA-OAEP-256": true, "ECDH-ES": true, "ECDH-ES+A128KW": true, "ECDH-ES+A256KW": true}

func newJOSE(spec *openapi.Spec, cs []JOSEConfig) (map[*openapi.Operation]*joseOp, error) {
	out := map[*openapi.Operation]*joseOp{}
	if len(cs) == 0 {
		return out, nil
	}
	if spec == nil {
		return nil, errors.New("jose: the API has no spec, so operations cannot be named")
	}
	ids := map[string]*openapi.Operation{}
	for _, op := range spec.Operations {
		ids[op.ID] = op
	}
	for i, c := range cs {
		path := fmt.Sprintf("jose[%d]", i)
		data := []byte(c.JWKS)
		if c.JWKSFile != "" {
			var err error
			if data, err = os.ReadFile(c.JWKSFile); err != nil {
				return nil, fmt.Errorf("%s.jwks_file: %w", path, err)
			}
		}
		if len(bytes.TrimSpace(data)) == 0 {
			return nil, fmt.Errorf("%s.jwks: keys are required", path)
		}
		j := &joseOp{contentType: c.ContentType}
		if j.contentType == "" {
			j.contentType = "application/json"
		}
		allowed := map[string]bool{}
		for _, a := range c.Algorithms {
			if strings.EqualFold(a, "none") || a == "RSA1_5" || symmetric[a] {
				return nil, fmt.Errorf("%s.algorithms: %q is not accepted", path, a)
			}
			allowed[a] = true
		}
		switch c.Require {
		case "jws":
			j.jws = true
			set, _, err := parseKeySet(data, allowed)
			if err != nil {
				return nil, fmt.Errorf("%s.jwks: %w", path, err)
			}
			j.verify = set
		case "jwe":
			if len(allowed) == 0 {
				allowed = defaultJWEAlgs
			}
			keys, err := decryptKeys(data, allowed)
			if err != nil {
				return nil, fmt.Errorf("%s.jwks: %w", path, err)
			}
			j.decrypt = keys
		default:
			return nil, fmt.Errorf("%s.require: must be jws or jwe", path)
		}
		if len(c.Operations) == 0 {
			return nil, fmt.Errorf("%s.operations: at least one operation id", path)
		}
		for k, id := range c.Operations {
			op, ok := ids[id]
			if !ok {
				return nil, fmt.Errorf("%s.operations[%d]: no operation %q in the spec", path, k, id)
			}
			out[op] = j
		}
	}
	return out, nil
}

// decryptKeys reads private JWKs; each needs an allowed alg.
func decryptKeys(data []byte, allowed map[string]bool) ([]decryptKey, error) {
	set, err := jwk.Parse(data)
	if err != nil {
		return nil, err
	}
	var out []decryptKey
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		a, ok := k.Algorithm()
		if !ok {
			return nil, fmt.Errorf("key %d: alg is required", i)
		}
		ka, ok := jwa.LookupKeyEncryptionAlgorithm(a.String())
		if !ok || !allowed[ka.String()] {
			return nil, fmt.Errorf("key %d: alg %q is not allowed", i, a.String())
		}
		var raw any
		if err := jwk.Export(k, &raw); err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		out = append(out, decryptKey{alg: ka, key: raw})
	}
	if len(out) == 0 {
		return nil, errors.New("no key")
	}
	return out, nil
}

// joseRefuse is the verdict for a bad JOSE body.
func joseRefuse(status int, rule, title, detail string) pipeline.Verdict {
	return pipeline.Verdict{Action: pipeline.Block, Status: status, Rule: rule, Category: "API2", Title: title, Detail: detail}
}

// apply checks the body and passes its payload on.
func (j *joseOp) apply(x *pipeline.Exchange) pipeline.Verdict {
	mt, _, _ := mime.ParseMediaType(x.Request.Header.Get("Content-Type"))
	if mt != "application/jose" {
		return joseRefuse(http.StatusUnsupportedMediaType, "authn.jose_required", "This operation needs an application/jose body.", "content type "+clip(mt))
	}
	body, err := x.Body()
	if err != nil {
		return joseRefuse(http.StatusBadRequest, "authn.jose_invalid", "The JOSE body is not valid.", "body cannot be read")
	}
	body = bytes.TrimSpace(body)
	var out []byte
	if j.jws {
		out, err = j.verifyJWS(body)
	} else {
		out, err = j.decryptJWE(body)
	}
	if err != nil {
		return joseRefuse(http.StatusBadRequest, "authn.jose_invalid", "The JOSE body is not valid.", err.Error())
	}
	x.ReplaceBody(out)
	x.Request.Header.Set("Content-Type", j.contentType)
	return pipeline.Verdict{}
}

func (j *joseOp) verifyJWS(body []byte) ([]byte, error) {
	if bytes.Count(body, []byte(".")) != 2 {
		return nil, errors.New("not a compact JWS")
	}
	h, _, _ := bytes.Cut(body, []byte("."))
	hb, err := b64.DecodeString(string(h))
	if err != nil {
		return nil, errors.New("JWS header is not base64url")
	}
	var hdr struct {
		Alg  string          `json:"alg"`
		Kid  string          `json:"kid"`
		Crit json.RawMessage `json:"crit"`
	}
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return nil, errors.New("JWS header is not JSON")
	}
	if hdr.Crit != nil {
		return nil, errors.New("JWS has critical headers")
	}
	a, ok := j.verify.algs[hdr.Alg]
	if !ok {
		return nil, errors.New("JWS algorithm not accepted")
	}
	for _, k := range j.verify.candidates(hdr.Kid, a) {
		if payload, err := jws.VerifyCompactFast(k.key, body, a); err == nil {
			return payload, nil
		}
	}
	return nil, errors.New("JWS signature does not verify")
}

func (j *joseOp) decryptJWE(body []byte) ([]byte, error) {
	if bytes.Count(body, []byte(".")) != 4 {
		return nil, errors.New("not a compact JWE")
	}
	for _, k := range j.decrypt {
		out, err := jwe.Decrypt(body, jwe.WithKey(k.alg, k.key), jwe.WithMaxDecompressBufferSize(1<<20), jwe.WithMaxRecipients(1))
		if err == nil {
			return out, nil
		}
	}
	return nil, errors.New("JWE cannot be decrypted with the configured keys")
}
