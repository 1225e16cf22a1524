package ssrf

import "github.com/apiguard/apiguard/internal/pipeline"

func init() {
	pipeline.Register(pipeline.Registration{Name: Step, Section: Section, New: New})
}
