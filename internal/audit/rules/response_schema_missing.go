package rules

import (
	"sort"
	"strings"

	"github.com/apiguard/apiguard/internal/report"
)

func init() {
	register(&Rule{
		ID: "audit.response-schema-missing", Title: "Success response with content but no schema", Category: "API3", Severity: report.Low, Scope: ScopeItems,
		Description: "A 2xx response declares a media type without a schema: nobody can tell which fields the answer may carry, so excess data cannot be detected or filtered.",
		Remediation: "Give every JSON response a schema listing its properties.",
		Fix:         "content: {application/json: {schema: {$ref: '#/components/schemas/X'}}}\n# apiguard config: guards.schema.response.mode: monitor|enforce",
		Check: func(d *Doc) []Hit {
			var hits []Hit
			for _, op := range d.Ops {
				codes := make([]string, 0, len(op.Responses))
				for c := range op.Responses {
					if strings.HasPrefix(c, "2") {
						codes = append(codes, c)
					}
				}
				sort.Strings(codes)
				for _, c := range codes {
					ct := Get(op.Responses[c], "content")
					if ct == nil {
						continue
					}
					for i := 0; i+1 < len(ct.Content); i += 2 {
						mt := ct.Content[i].Value
						if strings.Contains(mt, "json") && !Has(ct.Content[i+1], "schema") {
							hits = append(hits, opHit(op, ct.Content[i+1], op.Pointer+"/responses/"+c+"/content/"+Escape(mt), c+" "+mt+" has no schema"))
						}
					}
				}
			}
			return hits
		},
	})
}
