package checks

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/apiguard/apiguard/internal/report"
	"github.com/apiguard/apiguard/internal/scan"
)

// Injection is the injection check: SQL injection (error and boolean
// oracles, a bounded time oracle), NoSQL operator injection and command
// injection (bounded time oracle) in string query parameters and string
// body members. OWASP API Security 2023 files injection under security
// misconfiguration (API8).
type Injection struct{ checkMeta }

// newInjection returns the injection check.
func newInjection() *Injection {
	return &Injection{checkMeta{
		name: "scan.injection", category: "API8", severity: report.Critical,
		title:       "SQL, NoSQL and command injection",
		description: "Input reaches a database query or a shell unescaped: an always-true condition returns rows the caller must not see, a lone quote breaks the SQL, a query operator ($ne) matches everything, or a shell sleep delays the answer.",
		remediation: "Use parameterized queries (never string concatenation), typed query builders for document stores, and no shell; validate input against the spec (apiguard: the schema guard and the waf guard).",
	}}
}

// Bounds of the injection check.
const (
	maxInjectionInputs = 12
	maxTimeProbes      = 2
	sleepSeconds       = 2
)

// injectionInput is one string input: a query parameter or a body member.
type injectionInput struct {
	op     *scan.Operation
	caller *scan.Identity
	base   *scan.Request
	query  string // query parameter name
	member string // body member name
}

func (in injectionInput) name() string {
	if in.query != "" {
		return "query parameter " + in.query
	}
	return "body member " + in.member
}

// with returns the base request with the input set to v (any JSON value
// for body members; a string for query parameters).
func (in injectionInput) with(v any) *scan.Request {
	r := in.base.Clone()
	if in.query != "" {
		r.Query.Set(in.query, fmt.Sprint(v))
		return r
	}
	if obj := r.BodyObject(); obj != nil {
		obj[in.member] = v
	}
	return r
}

// Run finds the string inputs and probes each.
func (c *Injection) Run(ctx context.Context, s *scan.Session) error {
	inputs := c.inputs(s)
	timeProbes := 0
	for _, in := range inputs {
		if err := c.sql(ctx, s, in, &timeProbes); fatal(ctx, err) {
			return err
		}
		if in.query != "" {
			if err := c.nosqlQuery(ctx, s, in); fatal(ctx, err) {
				return err
			}
		}
		if isCommandInput(in.query+in.member) && timeProbes < maxTimeProbes {
			if err := c.command(ctx, s, in, &timeProbes); fatal(ctx, err) {
				return err
			}
		}
	}
	if err := c.nosqlLogin(ctx, s); fatal(ctx, err) {
		return err
	}
	return nil
}

// inputs lists string query parameters of safe operations (search-like
// names first) and, with --allow-destructive, string members of PATCH/PUT
// bodies and of POST bodies that are not business flows, bounded.
func (c *Injection) inputs(s *scan.Session) []injectionInput {
	id := firstUser(s)
	var search, other []injectionInput
	for _, op := range s.Ops {
		if op.Deprecated || op == s.LoginOp || !mayCall(s, op) {
			continue
		}
		caller := callerFor(s, op, id)
		base, _ := s.Build(op, caller)
		if base == nil {
			continue
		}
		if op.Method == "GET" {
			for _, p := range op.QueryParams() {
				if p.Schema == nil || p.Schema.Type != "string" || len(p.Schema.Enum) > 0 || p.Schema.HasConst || (p.Schema.Format != "" && p.Schema.Format != "search") {
					continue
				}
				in := injectionInput{op: op, caller: caller, base: base, query: p.Name}
				if isSearchInput(p.Name) {
					search = append(search, in)
				} else {
					other = append(other, in)
				}
			}
		}
		if op.Unsafe() && op.Body != nil && op.Method != "DELETE" && !isBusinessFlow(op.Method, strings.ToLower(op.ID+" "+op.Path), strings.ToLower(op.Summary), op.Extensions) {
			for _, m := range stringProps(op.Body) {
				if ps := op.Body.Prop(m); ps != nil && ps.Format != "" || isURLInput(m, "") {
					continue // URLs, e-mails, dates: validated formats, and the SSRF check's
				}
				other = append(other, injectionInput{op: op, caller: caller, base: base, member: m})
				break // one member per write operation
			}
		}
	}
	all := append(search, other...)
	if len(all) > maxInjectionInputs {
		all = all[:maxInjectionInputs]
	}
	return all
}

func (c *Injection) do(ctx context.Context, s *scan.Session, in injectionInput, v any) (*scan.Response, error) {
	return s.Do(ctx, in.caller, in.with(v))
}

// sql runs the error oracle, then the boolean oracle (query parameters),
// then, only when the error oracle fired without a boolean confirmation,
// the bounded time oracle.
func (c *Injection) sql(ctx context.Context, s *scan.Session, in injectionInput, timeProbes *int) error {
	seed := "apg" + randomHex(3)
	base, err := c.do(ctx, s, in, seed)
	if err != nil {
		return err
	}
	if base.Status == 429 || base.Status == 401 || base.Status == 403 {
		return nil // refused as a whole: nothing to compare
	}
	quote, err := c.do(ctx, s, in, seed+"'")
	if err != nil {
		return err
	}
	doubled, err := c.do(ctx, s, in, seed+"''")
	if err != nil {
		return err
	}
	errKind := errorOracle(shapeOf(base), shapeOf(quote), shapeOf(doubled), string(base.Body), string(quote.Body), string(doubled.Body))

	var boolProof []*scan.Response
	if in.query != "" && base.OK() {
		pairs := [][2]string{
			{seed + "' OR '1'='1'-- ", seed + "' AND '1'='2'-- "},
			{seed + "' OR 2>1-- ", seed + "' AND 2<1-- "},
		}
		confirmed := true
		for _, p := range pairs {
			t, err := c.do(ctx, s, in, p[0])
			if err != nil {
				return err
			}
			f, err := c.do(ctx, s, in, p[1])
			if err != nil {
				return err
			}
			if !rowsDiffer(shapeOf(base), shapeOf(t), shapeOf(f)) {
				confirmed = false
				break
			}
			boolProof = append(boolProof, t, f)
		}
		if confirmed && len(boolProof) == 4 {
			t, f := boolProof[0], boolProof[1]
			ev := fmt.Sprintf("%s=%q answered %s, %q %s and the benign %q %s (confirmed with %q)",
				in.name(), pairs[0][0], rowsText(shapeOf(t).items), pairs[0][1], rowsText(shapeOf(f).items), seed, rowsText(shapeOf(base).items), pairs[1][0])
			if shapeOf(t).items < 0 {
				ev = fmt.Sprintf("%s=%q answered %d bytes, %q %d bytes and the benign %q %d bytes", in.name(), pairs[0][0], len(t.Body), pairs[0][1], len(f.Body), seed, len(base.Body))
			}
			if leaks := sensitiveData(string(t.Body)); len(leaks) > 0 {
				ev += "; the answer carries " + strings.Join(leaks, ", ")
			}
			if errKind != "" {
				ev += "; a lone quote answers " + errKind
			}
			s.Report(scan.Finding{Rule: "scan.sql-injection", Severity: report.Critical, Exchange: t, Steps: []*scan.Response{base, f}, Key: in.name(),
				Title:       "SQL injection (boolean-based) in " + in.name(),
				Description: "An always-true SQL condition appended to the input returns more rows than an always-false one and than a benign value: the input is concatenated into the SQL. An attacker reads (and often writes) any table.",
				Evidence:    ev,
				Remediation: "Use parameterized queries or a query builder for every value; never concatenate input into SQL (apiguard's waf guard blocks SQL injection patterns; the schema guard enforces the spec's bounds)."})
			return nil
		}
	}
	if errKind == "" {
		return nil
	}
	// SQL error text proves the injection; a bare 5xx only suggests it
	// (another rule, medium) unless the time oracle confirms it.
	confirmed := !strings.HasPrefix(errKind, "a 5")
	with := " with " + errKind
	if !confirmed {
		with = ""
	}
	ev := fmt.Sprintf("%s=%q answers %d%s; the benign %q answers %d and the escaped %q answers %d",
		in.name(), seed+"'", quote.Status, with, seed, base.Status, seed+"''", doubled.Status)
	if m := firstMatch(string(quote.Body), errKind); m != "" {
		ev += ": " + excerpt(m, "", 160)
	}
	title := "SQL injection (error-based) in " + in.name()
	// The time oracle only where it can decide: a PostgreSQL error or a
	// bare 500 (an unknown engine); at most maxTimeProbes per run.
	if *timeProbes < maxTimeProbes && (strings.Contains(errKind, "PostgreSQL") || !confirmed) {
		ok, payload, probe, err := c.sqlTime(ctx, s, in, seed, base, timeProbes)
		if err != nil {
			return err
		}
		if ok {
			title = "SQL injection (time-based) in " + in.name()
			ev += fmt.Sprintf("; %q delays the answer to %s", payload, probe.Duration.Round(time.Millisecond))
			confirmed = true
		}
	}
	if !confirmed {
		s.Report(scan.Finding{Rule: "scan.sql-injection-suspected", Severity: report.Medium, Exchange: quote, Steps: []*scan.Response{base, doubled}, Key: in.name(),
			Title:       "Possible SQL injection in " + in.name(),
			Description: "A lone quote in the input makes the API fail with a server error while an escaped quote does not: the value probably breaks an SQL statement. The boolean and time probes did not confirm it (they may have been blocked).",
			Evidence:    ev,
			Remediation: "Use parameterized queries; answer bad input with a 400 without detail."})
		return nil
	}
	s.Report(scan.Finding{Rule: "scan.sql-injection", Severity: report.High, Exchange: quote, Steps: []*scan.Response{base, doubled}, Key: in.name(),
		Title:       title,
		Description: "A lone quote in the input breaks the SQL statement (an SQL error, or a delay from an injected sleep) while an escaped quote does not: the input is concatenated into the SQL.",
		Evidence:    ev,
		Remediation: "Use parameterized queries; answer bad input with a 400 without detail."})
	return nil
}

// sqlTime is the bounded time oracle: one PostgreSQL-style sleep probe,
// confirmed by a second one; each probe is at most sleepSeconds+1 s.
func (c *Injection) sqlTime(ctx context.Context, s *scan.Session, in injectionInput, seed string, base *scan.Response, used *int) (bool, string, *scan.Response, error) {
	payload := fmt.Sprintf("%s'||(SELECT 1 FROM pg_sleep(%d))||'", seed, sleepSeconds)
	var durations []time.Duration
	var last *scan.Response
	for i := 0; i < 2 && *used < maxTimeProbes; i++ {
		*used++
		pctx, cancel := context.WithTimeout(ctx, time.Duration(sleepSeconds+1)*time.Second)
		r, err := c.do(pctx, s, in, payload)
		cancel()
		if err != nil {
			if fatal(ctx, err) {
				return false, "", nil, err
			}
			return false, "", nil, nil
		}
		durations = append(durations, r.Duration)
		last = r
		if !timeOracle([]time.Duration{base.Duration}, durations, sleepSeconds*time.Second) {
			return false, "", nil, nil
		}
	}
	return len(durations) == 2, payload, last, nil
}

// nosqlQuery sends name[$ne]=<random> and name[$eq]=<random>: an API
// that ignores the bracketed names answers both alike; one that passes
// the operator to a document store answers everything to $ne and nothing
// to $eq.
func (c *Injection) nosqlQuery(ctx context.Context, s *scan.Session, in injectionInput) error {
	seed := "apg" + randomHex(3)
	op := func(name string) (*scan.Response, error) {
		r := in.base.Clone()
		r.Query.Del(in.query)
		r.Query.Set(in.query+"["+name+"]", seed)
		return s.Do(ctx, in.caller, r)
	}
	ne, err := op("$ne")
	if err != nil || !ne.OK() {
		return err
	}
	eq, err := op("$eq")
	if err != nil {
		return err
	}
	n, e := shapeOf(ne), shapeOf(eq)
	if !e.ok() || n.items <= 0 || n.items <= e.items {
		return nil
	}
	s.Report(scan.Finding{Rule: "scan.nosql-injection", Severity: report.High, Exchange: ne, Steps: []*scan.Response{eq}, Key: in.name(),
		Title:       "NoSQL operator injection in " + in.name(),
		Description: "Query operators in the parameter name ([$ne], [$eq]) are passed to the database: $ne with a random value matches everything, $eq with the same value nothing.",
		Evidence:    fmt.Sprintf("%s[$ne]=%s answered %s; %s[$eq]=%s answered %s", in.query, seed, rowsText(n.items), in.query, seed, rowsText(e.items)),
		Remediation: "Accept only scalar values for query parameters (reject objects and operators) and build queries with typed filters."})
	return nil
}

// nosqlLogin sends the login operation {"<user>":{"$ne":null},
// "<password>":{"$ne":null}}: a token in the answer is an authentication
// bypass. A control with random strings must be refused.
func (c *Injection) nosqlLogin(ctx context.Context, s *scan.Session) error {
	if s.LoginOp == nil || s.LoginUserField == "" || s.LoginPassField == "" {
		return nil
	}
	control := s.LoginRequest("apg-"+randomHex(4), "apg-"+randomHex(8), nil)
	cr, err := s.Do(ctx, s.Anonymous(), control)
	if err != nil || cr.OK() || cr.Status == 429 {
		return err
	}
	probe := s.LoginRequest("x", "x", nil)
	obj := probe.BodyObject()
	if obj == nil {
		return nil
	}
	obj[s.LoginUserField] = map[string]any{"$ne": nil}
	obj[s.LoginPassField] = map[string]any{"$ne": nil}
	pr, err := s.Do(ctx, s.Anonymous(), probe)
	if err != nil {
		return err
	}
	if !pr.OK() || s.TokenFrom(pr) == "" {
		return nil
	}
	s.Report(scan.Finding{Rule: "scan.nosql-injection", Severity: report.Critical, Exchange: pr, Steps: []*scan.Response{cr}, Key: "login",
		Title:       "Authentication bypass by NoSQL operator injection",
		Description: "The login operation accepts query operators as credentials: {\"$ne\": null} matches any user and the API issues a token without a password.",
		Evidence:    fmt.Sprintf("%s with {\"$ne\":null} credentials answered %d with a token; random credentials answered %d", s.LoginOp.ID, pr.Status, cr.Status),
		Remediation: "Accept only strings as credentials (validate the body against its schema) and compare them with typed queries."})
	return nil
}

// command is the bounded time oracle for shell injection: two probes with
// different separators must both be delayed by the sleep.
func (c *Injection) command(ctx context.Context, s *scan.Session, in injectionInput, used *int) error {
	seed := "apg" + randomHex(3)
	base, err := c.do(ctx, s, in, seed)
	if err != nil || base.Status == 429 || base.Status == 401 || base.Status == 403 {
		return err
	}
	payloads := []string{fmt.Sprintf("%s;sleep %d;#", seed, sleepSeconds), fmt.Sprintf("%s|sleep %d", seed, sleepSeconds)}
	var durations []time.Duration
	var last *scan.Response
	for _, p := range payloads {
		if *used >= maxTimeProbes {
			return nil
		}
		*used++
		pctx, cancel := context.WithTimeout(ctx, time.Duration(sleepSeconds+1)*time.Second)
		r, err := c.do(pctx, s, in, p)
		cancel()
		if err != nil {
			if fatal(ctx, err) {
				return err
			}
			return nil
		}
		durations = append(durations, r.Duration)
		last = r
		if !timeOracle([]time.Duration{base.Duration}, durations, sleepSeconds*time.Second) {
			return nil
		}
	}
	if len(durations) < 2 {
		return nil
	}
	s.Report(scan.Finding{Rule: "scan.command-injection", Severity: report.Critical, Exchange: last, Steps: []*scan.Response{base}, Key: in.name(),
		Title:       "Command injection in " + in.name(),
		Description: "A shell command separator followed by sleep delays the answer by the sleep's duration: the input reaches a shell.",
		Evidence:    fmt.Sprintf("%s with %q and %q answered after %s and %s; the benign value after %s", in.name(), payloads[0], payloads[1], durations[0].Round(time.Millisecond), durations[1].Round(time.Millisecond), base.Duration.Round(time.Millisecond)),
		Remediation: "Never pass input to a shell; call programs with an argument vector and validate values against an allow-list."})
	return nil
}

// rowsText renders a row count for evidence.
func rowsText(n int) string {
	switch {
	case n == truncatedItems:
		return "more rows than fit in 1 MiB"
	case n < 0:
		return "no list"
	case n == 1:
		return "1 row"
	}
	return fmt.Sprintf("%d rows", n)
}
