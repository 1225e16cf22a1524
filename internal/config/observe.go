package config

// Observe configures the observers fed by every exchange off the hot path.
type Observe struct {
	// Inventory is the API inventory learned from traffic.
	Inventory Inventory `yaml:"inventory" json:"inventory"`
	// Detectors are the anomaly detectors.
	Detectors Detectors `yaml:"detectors" json:"detectors"`
}

// Inventory configures the API inventory (docs/inventory.md).
type Inventory struct{}
