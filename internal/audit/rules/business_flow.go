package rules

import (
	"strings"

	"github.com/apiguard/apiguard/internal/report"
)

var flowWords = []string{"transfer", "payment", "pay", "checkout", "order", "purchase", "booking", "reserve", "reservation", "signup", "register", "invite", "vote", "coupon", "redeem", "withdraw", "refund", "comment", "review", "ticket"}

func init() {
	register(&Rule{
		ID: "audit.business-flow-unlimited", Title: "Sensitive business flow without a quota", Category: "API6", Severity: report.Medium, Scope: ScopeItems,
		Description: "A write operation looks like a business flow (transfer, order, signup, redeem...) and states neither a flow quota nor a 429: bots can automate it at scale.",
		Remediation: "Limit the flow per user and per device (quotas, CAPTCHA, step-up) and document the 429.",
		Fix:         "x-apiguard-flow: transfers   # guards.flows quota, e.g. flows.transfers.quotas: [5/1m, 50/1d]",
		Check: func(d *Doc) []Hit {
			var hits []Hit
			for _, op := range d.Ops {
				if op.Method != "POST" && op.Method != "PUT" || op.Extensions["x-apiguard-flow"] != nil || op.Extensions["x-apiguard-ratelimit"] != nil || op.hasCode(false, "429") {
					continue
				}
				s := strings.ToLower(op.Template + " " + op.ID)
				for _, w := range flowWords {
					if strings.Contains(s, w) {
						hits = append(hits, opHit(op, nil, "", op.Method+" "+op.Template+" looks like a "+w+" flow"))
						break
					}
				}
			}
			return hits
		},
	})
}
