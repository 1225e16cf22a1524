package schema

import (
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/apiguard/apiguard/internal/openapi"
)

// AnswerValidator validates answers of third-party APIs against their
// OpenAPI descriptions with the schema guard's engine, for the egress
// proxy (it implements egress.Validator). Each spec is compiled once, on
// first use. It is safe for concurrent use.
type AnswerValidator struct {
	mu    sync.Mutex
	specs map[*openapi.Spec]*compiled
}

type compiled struct {
	once sync.Once
	v    *Validator
	err  error
}

// NewAnswerValidator returns an empty AnswerValidator.
func NewAnswerValidator() *AnswerValidator {
	return &AnswerValidator{specs: map[*openapi.Spec]*compiled{}}
}

// ValidateResponse checks a JSON answer (body decoded with numbers as
// json.Number; nil when the answer is not JSON) of operation op against
// the schema documented for status. A status or media type the spec does
// not document is the egress proxy's own check; here an answer without a
// documented JSON schema passes.
func (a *AnswerValidator) ValidateResponse(spec *openapi.Spec, op *openapi.Operation, status int, contentType string, body any) error {
	if spec == nil || op == nil {
		return nil
	}
	a.mu.Lock()
	c := a.specs[spec]
	if c == nil {
		c = &compiled{}
		a.specs[spec] = c
	}
	a.mu.Unlock()
	c.once.Do(func() { c.v, c.err = New(spec, false, Limits{}) })
	if c.err != nil {
		return fmt.Errorf("compiling the destination's spec: %w", c.err)
	}
	o := c.v.ops[op]
	if o == nil {
		return nil
	}
	code := strconv.Itoa(status)
	s, ok := o.responses[code]
	if !ok {
		s, ok = o.responses[code[:1]+"XX"]
	}
	if !ok {
		s = o.responses["DEFAULT"]
	}
	if s == nil || kindOf(contentType) != kindJSON {
		return nil
	}
	if body == nil {
		return errors.New("answer has no JSON body")
	}
	if verr := s.Validate(body); verr != nil {
		return errors.New(problemDetail(schemaErrors(verr, nil)))
	}
	return nil
}
