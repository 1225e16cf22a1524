package schema

import "github.com/apiguard/apiguard/internal/jsonwalk"

// Limits bound the shape of a JSON body before it is validated against
// the spec (the `json` setting). Zero fields take the defaults of
// DefaultLimits.
type Limits = jsonwalk.Limits

// WalkError is a JSON body refused by the walker: where, and which rule.
type WalkError = jsonwalk.WalkError

// DefaultLimits are the limits used for fields left at zero.
var DefaultLimits = jsonwalk.DefaultLimits

// Walk parses b as one JSON value under lim (see jsonwalk.Walk).
func Walk(b []byte, lim Limits) (any, error) { return jsonwalk.Walk(b, lim) }
