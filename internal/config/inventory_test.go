package config

import (
	"strings"
	"testing"
	"time"
)

func TestInventoryDefaultsAndValidation(t *testing.T) {
	cfg, err := Parse([]byte(alertsBase), env(nil))
	if err != nil {
		t.Fatalf("Parse() error = %v", err)
	}
	inv := cfg.Observe.Inventory
	if !inv.On() || !inv.PersistOn() || inv.MaxEndpoints != 2000 || inv.MaxLiterals != 64 || inv.SampleFirst != 20 ||
		inv.SampleEvery != 100 || inv.SnapshotInterval.D() != time.Minute {
		t.Errorf("inventory defaults = %+v", inv)
	}
	cfg, err = Parse([]byte(alertsBase+"observe:\n  inventory: {enabled: false, persist: false, max_endpoints: 10, sample_first: 0}\n"), env(nil))
	if err != nil {
		t.Fatalf("Parse() error = %v", err)
	}
	if inv := cfg.Observe.Inventory; inv.On() || inv.PersistOn() || inv.MaxEndpoints != 10 || inv.SampleFirst != 0 || inv.SampleEvery != 100 {
		t.Errorf("inventory = %+v, want off, not persisted, 10 endpoints, no first samples, the other defaults", inv)
	}
	tests := []struct{ doc, want string }{
		{"{max_endpoints: 0}", "observe.inventory.max_endpoints: must be between 1 and 1000000"},
		{"{max_literals: 1}", "observe.inventory.max_literals: must be between 2 and 100000"},
		{"{sample_first: -1}", "observe.inventory.sample_first: must be between 0 and 1000000"},
		{"{sample_every: 0}", "observe.inventory.sample_every: must be between 1 and 1000000"},
		{"{snapshot_interval: 10ms}", "observe.inventory.snapshot_interval: must be between 1s and 24h"},
		{"{max_endpoint: 5}", "observe.inventory.max_endpoint: unknown field"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(alertsBase+"observe:\n  inventory: "+tt.doc+"\n"), env(nil))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(inventory: %s) error = %v, want %q", tt.doc, err, tt.want)
		}
	}
}
