package denylist

import "github.com/apiguard/apiguard/internal/pipeline"

func init() {
	pipeline.Register(pipeline.Registration{Name: "denylist", Section: "denylist", New: New})
	pipeline.RegisterService("denylist", startService)
}

// startService loads the shared denylist (store, Redis) and adds the
// blocks, lockdown and audit admin API when the admin listener is on.
func startService(svc *pipeline.Services) error {
	s, err := sharedState(svc)
	if err != nil {
		return err
	}
	if svc.Admin != nil {
		routes(svc, s, svc.Admin)
	}
	return nil
}
