package waf

import "github.com/apiguard/apiguard/internal/pipeline"

func init() {
	// One section, two steps: "waf" on the request, "waf.response" on
	// the answer (CRS's outbound rules, unless inspect_responses is off).
	pipeline.Register(pipeline.Registration{Name: "waf", Section: "waf", New: New})
	pipeline.Register(pipeline.Registration{Name: "waf.response", Section: "waf", New: NewResponse})
}
