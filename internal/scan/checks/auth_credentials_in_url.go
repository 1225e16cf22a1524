package checks

import (
	"context"
	"fmt"
	"strings"

	"github.com/apiguard/apiguard/internal/report"
	"github.com/apiguard/apiguard/internal/scan"
)

// credentialsInURL sends an identity's token in common query parameters
// instead of its header.
type credentialsInURL struct{ checkMeta }

func newCredentialsInURL() scan.Check {
	return credentialsInURL{checkMeta{
		name: "scan.auth.credentials_in_url", category: "API2", severity: report.Medium,
		title:       "Credentials are accepted in the URL query",
		description: "The API accepts the access token as a query parameter. URLs end up in access logs, browser history, proxies and Referer headers, where tokens leak.",
		remediation: "Accept credentials only in the Authorization header (apiguard: authn takes tokens from the header only and the schema guard refuses undocumented query parameters).",
	}}
}

// tokenQueryParams are the parameter names tried, in order.
var tokenQueryParams = []string{"access_token", "token", "jwt", "api_key", "apikey", "auth"}

func (c credentialsInURL) Run(ctx context.Context, s *scan.Session) error {
	p := findAuthProbe(ctx, s)
	if p == nil {
		return nil
	}
	documented := map[string]bool{}
	for _, sc := range s.Schemes {
		if strings.EqualFold(sc.In, "query") {
			documented[sc.ParamName] = true
		}
	}
	for _, name := range tokenQueryParams {
		if documented[name] || p.Req.Op != nil && p.Req.Op.Param("query", name) != nil {
			continue
		}
		req := p.Req.Clone()
		req.NoAuth = true
		req.Query.Set(name, p.ID.Token)
		r, err := s.Do(ctx, s.Anonymous(), req)
		if err != nil {
			return err
		}
		if p.accepted(r) {
			s.Report(scan.Finding{
				Title:    "The access token is accepted in the " + name + " query parameter",
				Evidence: fmt.Sprintf("no Authorization header, %s's token in ?%s=: %d, the same answer as with the header", p.ID.Name, name, r.Status),
				Exchange: r,
			})
			return nil
		}
		if r.Status == 429 {
			return nil
		}
	}
	return nil
}
