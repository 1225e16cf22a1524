package demobank

import _ "embed"

// Config is examples/demobank/apiguard.yaml: the apiguard configuration
// that protects demobank, used by `apiguard serve` with no flags.
//
//go:embed apiguard.yaml
var Config []byte
