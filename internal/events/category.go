package events

// Category is one risk of the OWASP API Security Top 10 (2023).
type Category struct {
	// ID is the short id used in events and metrics, such as "API1".
	ID string
	// Name is the official OWASP name of the risk.
	Name string
}

// Categories is the OWASP API Security Top 10 (2023), in order.
var Categories = [...]Category{
	{"API1", "Broken Object Level Authorization"},
	{"API2", "Broken Authentication"},
	{"API3", "Broken Object Property Level Authorization"},
	{"API4", "Unrestricted Resource Consumption"},
	{"API5", "Broken Function Level Authorization"},
	{"API6", "Unrestricted Access to Sensitive Business Flows"},
	{"API7", "Server Side Request Forgery"},
	{"API8", "Security Misconfiguration"},
	{"API9", "Improper Inventory Management"},
	{"API10", "Unsafe Consumption of APIs"},
}

// CategoryName returns the official name of the OWASP API 2023 risk id
// (such as "API1"), or "" when id is not one of them.
func CategoryName(id string) string {
	for _, c := range Categories {
		if c.ID == id {
			return c.Name
		}
	}
	return ""
}
