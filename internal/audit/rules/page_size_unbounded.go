package rules

import "github.com/apiguard/apiguard/internal/report"

var pageSizeNames = set("limit", "pageSize", "page_size", "perPage", "per_page", "size", "count", "top", "first", "last", "maxResults", "max_results", "pagesize")

func init() {
	register(&Rule{
		ID: "audit.page-size-unbounded", Title: "Page-size parameter without maximum", Category: "API4", Severity: report.Medium, Scope: ScopeItems,
		Description: "A page-size query parameter (limit, per_page, pageSize...) has no maximum: one request can ask for the whole table.",
		Remediation: "Set a maximum (and a default) on page-size parameters and enforce it server-side.",
		Fix:         "{name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 100, default: 20}}\n# enforced by guards.schema",
		Check: func(d *Doc) []Hit {
			var hits []Hit
			for _, op := range d.Ops {
				for _, p := range op.Params {
					if p.In != "query" || !nameIn(p.Name, pageSizeNames) || p.Schema == nil {
						continue
					}
					if (IsType(p.Schema, "integer") || IsType(p.Schema, "number")) && !Has(p.Schema, "maximum") && !Has(p.Schema, "exclusiveMaximum") && !bounded(p.Schema) {
						hits = append(hits, opHit(op, p.Node, p.Pointer, "query parameter "+p.Name+" has no maximum"))
					}
				}
			}
			return hits
		},
	})
}
