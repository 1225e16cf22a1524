package rules

import (
	"net/url"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/apiguard/apiguard/internal/report"
)

var envWords = set("internal", "debug", "test", "testing", "staging", "stage", "dev", "development", "sandbox", "qa", "uat", "private", "actuator", "_debug", "__debug__", "backdoor")

// envMarker returns the first path segment or host label that names an
// internal or non-production environment.
func envMarker(s string, host bool) string {
	sep := "/"
	if host {
		sep = "."
	}
	for _, part := range strings.Split(strings.ToLower(s), sep) {
		for _, w := range strings.FieldsFunc(part, func(r rune) bool { return r == '-' || r == '_' }) {
			if envWords[w] {
				return part
			}
		}
		if envWords[part] {
			return part
		}
	}
	return ""
}

func init() {
	register(&Rule{
		ID: "audit.internal-exposure", Title: "Internal, debug or non-production marker", Category: "API9", Severity: report.Medium, Scope: ScopeItems,
		Description: "A path or server names an internal, debug, test or staging environment: such endpoints are usually less protected and should not be published with the production API.",
		Remediation: "Remove internal and debug endpoints and non-production servers from the public description, or publish them separately with their own protection.",
		Fix:         "deprecated: true + x-apiguard-roles: [admin]   # or drop the path; apiguard refuses undocumented paths (guards.schema / route)",
		Check: func(d *Doc) []Hit {
			var hits []Hit
			hits = append(hits, serverHits(d, func(u string, _ *yaml.Node) string {
				pu, err := url.Parse(u)
				if err != nil {
					return ""
				}
				if m := envMarker(pu.Hostname(), true); m != "" && pu.Hostname() != "localhost" {
					return "server " + u + " (" + m + ")"
				}
				if m := envMarker(pu.Path, false); m != "" {
					return "server " + u + " (" + m + ")"
				}
				return ""
			})...)
			seen := map[string]bool{}
			for _, op := range d.Ops {
				if m := pathMarker(op.Template); m != "" && !seen[op.Template] {
					seen[op.Template] = true
					hits = append(hits, opHit(op, nil, "/paths/"+Escape(op.Template), "path "+op.Template+" ("+m+")"))
				}
			}
			return hits
		},
	})
}

// pathMarker is envMarker for path templates, except for a last segment
// that is an action on an object (/webhooks/{id}/test).
func pathMarker(tmpl string) string {
	segs := strings.Split(strings.Trim(tmpl, "/"), "/")
	for i, seg := range segs {
		if i > 0 && i == len(segs)-1 && strings.HasPrefix(segs[i-1], "{") {
			continue
		}
		if m := envMarker(seg, false); m != "" {
			return m
		}
	}
	return ""
}
