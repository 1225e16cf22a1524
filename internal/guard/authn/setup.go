package authn

import "github.com/apiguard/apiguard/internal/pipeline"

func init() {
	pipeline.Register(pipeline.Registration{Name: "authn", Section: "authn", New: New})
	pipeline.RegisterService("authn", startService)
}

// startService loads the revocation list (store, Redis) and adds the
// revocation admin API when the admin listener is on.
func startService(svc *pipeline.Services) error {
	r, err := sharedRevocations(svc)
	if err != nil {
		return err
	}
	if svc.Admin != nil {
		adminRoutes(svc, r)
	}
	return nil
}
