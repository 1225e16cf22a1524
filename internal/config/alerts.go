package config

// Alerts configures where security events go besides the store and the
// log: SIEM exporters and alert channels (docs/alerts.md).
type Alerts struct{}
