package limits

import "github.com/apiguard/apiguard/internal/pipeline"

func init() {
	// One section, two steps: "limits" early in the request order (cheap
	// refusals first) and "limits.response" first in the response order.
	pipeline.Register(pipeline.Registration{Name: "limits", Section: "limits", New: func(b pipeline.Build) (any, error) {
		g, err := newGuard(b)
		if g == nil {
			return nil, err
		}
		return g, err
	}})
	pipeline.Register(pipeline.Registration{Name: "limits.response", Section: "limits", New: func(b pipeline.Build) (any, error) {
		g, err := newGuard(b)
		if g == nil || err != nil {
			return nil, err
		}
		if g.api.respMax <= 0 && !anyRespMax(g) {
			return nil, nil
		}
		return g, nil
	}})
}

func anyRespMax(g *guard) bool {
	for _, st := range g.ops {
		if st.respMax > 0 {
			return true
		}
	}
	return false
}
