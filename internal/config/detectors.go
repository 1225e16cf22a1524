package config

// Detectors configures the anomaly detectors (docs/detectors.md).
type Detectors struct{}
