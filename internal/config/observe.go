package config

import "time"

// Observe configures the observers fed by every exchange off the hot path.
type Observe struct {
	// Inventory is the API inventory learned from traffic.
	Inventory Inventory `yaml:"inventory" json:"inventory"`
	// Detectors are the anomaly detectors.
	Detectors Detectors `yaml:"detectors" json:"detectors"`
}

// Inventory configures the API inventory learned from traffic
// (docs/inventory.md): every exchange feeds it off the request path; it
// classifies endpoints against the spec (documented, shadow, zombie,
// unused, unauthenticated, sensitive), is served at GET
// /api/v1/inventory and read by apiguard discover. It is on by default.
type Inventory struct {
	// Enabled turns the inventory off when false. Default true.
	Enabled *bool `yaml:"enabled" json:"enabled"`
	// MaxEndpoints bounds the endpoints kept per API; exchanges of new
	// endpoints beyond it are counted in the API's "other" bucket.
	// Default 2000.
	MaxEndpoints int `yaml:"max_endpoints" json:"max_endpoints"`
	// MaxLiterals is how many distinct literal path segments one prefix
	// of undocumented traffic may have before they are templated as a
	// parameter (slugs, user names). Default 64.
	MaxLiterals int `yaml:"max_literals" json:"max_literals"`
	// SampleFirst and SampleEvery: the bodies of the first sample_first
	// exchanges of an endpoint are examined for their schema, then one in
	// sample_every. Bodies are only seen when a guard buffered them
	// (schema, dlp, waf, authz). Defaults 20 and 100.
	SampleFirst int `yaml:"sample_first" json:"sample_first"`
	SampleEvery int `yaml:"sample_every" json:"sample_every"`
	// Persist saves the inventory in the store (SQLite or PostgreSQL)
	// every snapshot_interval and at shutdown, and loads it at start, so
	// it survives restarts. Default true.
	Persist *bool `yaml:"persist" json:"persist"`
	// SnapshotInterval is how often the inventory is saved. Default 1m.
	SnapshotInterval Duration `yaml:"snapshot_interval" json:"snapshot_interval"`
}

// DefaultInventory is the inventory's defaults.
func DefaultInventory() Inventory {
	return Inventory{MaxEndpoints: 2000, MaxLiterals: 64, SampleFirst: 20, SampleEvery: 100, SnapshotInterval: Duration(time.Minute)}
}

// On reports whether the inventory is enabled.
func (i *Inventory) On() bool { return i.Enabled == nil || *i.Enabled }

// PersistOn reports whether the inventory is saved in the store.
func (i *Inventory) PersistOn() bool { return i.Persist == nil || *i.Persist }

// validate checks the inventory section.
func (i *Inventory) validate(add func(path, format string, args ...any)) {
	const p = "observe.inventory"
	if i.MaxEndpoints < 1 || i.MaxEndpoints > 1_000_000 {
		add(p+".max_endpoints", "must be between 1 and 1000000")
	}
	if i.MaxLiterals < 2 || i.MaxLiterals > 100_000 {
		add(p+".max_literals", "must be between 2 and 100000")
	}
	if i.SampleFirst < 0 || i.SampleFirst > 1_000_000 {
		add(p+".sample_first", "must be between 0 and 1000000")
	}
	if i.SampleEvery < 1 || i.SampleEvery > 1_000_000 {
		add(p+".sample_every", "must be between 1 and 1000000")
	}
	if i.SnapshotInterval < Duration(time.Second) || i.SnapshotInterval > Duration(24*time.Hour) {
		add(p+".snapshot_interval", "must be between 1s and 24h")
	}
}
