package ratelimit

import "github.com/apiguard/apiguard/internal/pipeline"

func init() {
	pipeline.Register(pipeline.Registration{Name: "ratelimit.ip", Section: "ratelimit", New: func(b pipeline.Build) (any, error) {
		return newGuard(b, StagePreAuth)
	}})
	pipeline.Register(pipeline.Registration{Name: "ratelimit.principal", Section: "ratelimit", New: func(b pipeline.Build) (any, error) {
		return newGuard(b, StagePostAuth)
	}})
}
