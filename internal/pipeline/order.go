package pipeline

// RequestOrder is the one ordered list of request guards. Every guard sees
// the effects of the guards above it: cheap, identity-free checks first,
// then identity, then checks that need the operation and the principal.
//
// Before the first guard the gateway has already normalized the request
// (canonical path, smuggling and ambiguity checks, body limit), chosen the
// API and matched the spec operation; a new guard is one package that calls
// Register and one line here.
var RequestOrder = []string{
	"denylist",            // blocked IPs, keys, principals, tokens (incident response)
	"cors",                // CORS preflights answered from config, 405 with Allow (API8)
	"ratelimit.ip",        // pre-authentication rate limit per client IP
	"limits",              // in-flight caps, upstream timeout, pagination caps (API4): cheap refusals first
	"waf",                 // injection and protocol attacks (API8, injection)
	"authn",               // who is calling (API2)
	"authz.function",      // may this principal call this operation (API5)
	"schema.request",      // the request matches the spec (API3, API4, API8)
	"ssrf",                // URLs in the request point only where allowed (API7)
	"authz.object",        // may this principal touch this object (API1)
	"flows",               // business flow quotas and automation (API6)
	"ratelimit.principal", // quotas per principal (API4)
}

// ResponseOrder is the one ordered list of response guards, applied to the
// upstream's answer before it reaches the client.
var ResponseOrder = []string{
	"limits.response", // answer size cap (API4), before anything reads the body
	"errors",          // scrub upstream error bodies (API8)
	// CRS outbound rules (API8: SQL/stack/source leaks, web shells) on
	// the answer the client would get once errors has replaced 5xx bodies,
	// and before the property filter and dlp rewrite it (masking could
	// hide a signature; a withheld answer is not parsed for nothing).
	"waf.response",
	"schema.response", // the answer matches the spec (API3, API10)
	"authz.property",  // remove properties the principal may not read (API3)
	"dlp",             // mask sensitive data (API3)
	"headers",         // security headers, CORS (API8)
}
