package config

import (
	"encoding/json"
	"strings"
)

// secretKeys are substrings of field names whose values are never shown.
var secretKeys = []string{"secret", "token", "password", "passwd", "private", "key", "credential", "dsn"}

// isSecretKey reports whether a guard section's field name looks secret.
// Names that only locate a secret (key_file, key_header, ...) are shown.
func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	for _, suffix := range []string{"_file", "_header", "_param", "_query", "_url", "_id", "_name", "_field", "_claim"} {
		if strings.HasSuffix(k, suffix) {
			return false
		}
	}
	for _, s := range secretKeys {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// Redacted returns the configuration as JSON-ready data with every secret
// replaced by "REDACTED": typed Secret fields, and, inside guard sections,
// every value under a secret-looking name.
func (c *Config) Redacted() any {
	raw, err := json.Marshal(c) // Secret fields marshal as REDACTED
	if err != nil {
		return map[string]string{"error": "config cannot be shown"}
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return map[string]string{"error": "config cannot be shown"}
	}
	apis, _ := out["apis"].([]any)
	for i := range c.APIs {
		if i >= len(apis) {
			break
		}
		m, _ := apis[i].(map[string]any)
		if m == nil {
			continue
		}
		guards := map[string]any{}
		for name, n := range c.APIs[i].Guards {
			var v any
			if err := n.Decode(&v); err != nil {
				guards[name] = Redacted
				continue
			}
			guards[name] = redactValue(v)
		}
		m["guards"] = guards
	}
	return out
}

func redactValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			if isSecretKey(k) {
				if s, ok := val.(string); !ok || s != "" {
					t[k] = Redacted
				}
				continue
			}
			t[k] = redactValue(val)
		}
	case []any:
		for i := range t {
			t[i] = redactValue(t[i])
		}
	}
	return v
}
