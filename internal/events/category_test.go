package events

import "testing"

func TestCategoryName(t *testing.T) {
	tests := []struct {
		id, want string
	}{
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
		{"API11", ""},
		{"api1", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			if got := CategoryName(tt.id); got != tt.want {
				t.Errorf("CategoryName(%q) = %q, want %q", tt.id, got, tt.want)
			}
		})
	}
	if len(Categories) != 10 {
		t.Errorf("len(Categories) = %d, want 10", len(Categories))
	}
}
