package rules

import "github.com/apiguard/apiguard/internal/report"

var credentialNames = set("password", "passwd", "pwd", "secret", "token", "access_token", "accesstoken", "refresh_token", "id_token", "api_key", "apikey", "key", "auth", "authorization", "session", "sessionid", "session_id", "jwt", "client_secret", "credentials", "signature", "sig", "otp", "pin")

func init() {
	register(&Rule{
		ID: "audit.credentials-in-url", Title: "Credential-like parameter in the URL", Category: "API2", Severity: report.High, Scope: ScopeItems,
		Description: "A query or path parameter is named like a secret (password, token, api_key, session...): it ends up in logs, caches, browser history and Referer headers.",
		Remediation: "Move credentials to a header (Authorization) or the request body.",
		Fix:         "# apiguard config: guards.authn.<scheme> reads the header only;\n# guards.dlp masks credential query parameters in logs",
		Check: func(d *Doc) []Hit {
			var hits []Hit
			for _, op := range d.Ops {
				for _, p := range op.Params {
					if (p.In == "query" || p.In == "path") && nameIn(p.Name, credentialNames) {
						hits = append(hits, opHit(op, p.Node, p.Pointer, p.In+" parameter "+p.Name))
					}
				}
			}
			return hits
		},
	})
}
