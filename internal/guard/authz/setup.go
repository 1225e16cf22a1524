package authz

import "github.com/apiguard/apiguard/internal/pipeline"

func init() {
	pipeline.Register(pipeline.Registration{Name: "authz.function", Section: Section, New: NewFunction})
	pipeline.Register(pipeline.Registration{Name: "authz.object", Section: Section, New: NewObject})
	pipeline.Register(pipeline.Registration{Name: "authz.property", Section: Section, New: NewProperty})
}
