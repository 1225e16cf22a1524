package schema

import "github.com/apiguard/apiguard/internal/pipeline"

func init() {
	pipeline.Register(pipeline.Registration{Name: "schema.request", Section: "schema",
		New: func(b pipeline.Build) (any, error) { return newGuard(b, false) }})
	pipeline.Register(pipeline.Registration{Name: "schema.response", Section: "schema",
		New: func(b pipeline.Build) (any, error) { return newGuard(b, true) }})
}
