// Package guard links every guard package into the binary. Each guard
// lives in its own package under internal/guard/<name>, registers its
// pipeline steps from its init function, and is listed here once; the
// order guards run in is internal/pipeline/order.go, not this list.
package guard

import (
	// Guards register themselves with the pipeline.
	_ "github.com/apiguard/apiguard/internal/guard/authn"
	_ "github.com/apiguard/apiguard/internal/guard/authz"
	_ "github.com/apiguard/apiguard/internal/guard/denylist"
	_ "github.com/apiguard/apiguard/internal/guard/dlp"
	_ "github.com/apiguard/apiguard/internal/guard/errors"
	_ "github.com/apiguard/apiguard/internal/guard/flows"
	_ "github.com/apiguard/apiguard/internal/guard/headers"
	_ "github.com/apiguard/apiguard/internal/guard/limits"
	_ "github.com/apiguard/apiguard/internal/guard/ratelimit"
	_ "github.com/apiguard/apiguard/internal/guard/schema"
	_ "github.com/apiguard/apiguard/internal/guard/ssrf"
	_ "github.com/apiguard/apiguard/internal/guard/waf"
)
