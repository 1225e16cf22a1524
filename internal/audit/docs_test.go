package audit

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/audit/rules"
)

var printTable = flag.Bool("rules-table", false, "print the docs/audit.md rules table")

// TestDocsListEveryRule keeps docs/audit.md in step with the rules:
// `go test ./internal/audit -run DocsList -rules-table -v` prints the table.
func TestDocsListEveryRule(t *testing.T) {
	var b strings.Builder
	b.WriteString("| id | OWASP | severity | scope | title |\n|---|---|---|---|---|\n")
	for _, r := range rules.All() {
		scope := "items"
		if r.Scope == rules.ScopeDocument {
			scope = "document"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", r.ID, r.Category, r.Severity, scope, r.Title)
	}
	if *printTable {
		t.Logf("\n%s", b.String())
	}
	doc, err := os.ReadFile("../../docs/audit.md")
	if err != nil {
		t.Skipf("docs/audit.md: %v", err)
	}
	if !strings.Contains(string(doc), b.String()) {
		t.Errorf("docs/audit.md rules table is out of date; regenerate it with -rules-table")
	}
}
