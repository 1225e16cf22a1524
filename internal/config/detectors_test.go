package config

import (
	"strings"
	"testing"
	"time"
)

func TestDetectorsDefaults(t *testing.T) {
	base := "apis:\n  - name: a\n    upstream: {urls: [\"http://127.0.0.1:1\"]}\n"
	cfg, err := Parse([]byte(base+`observe:
  detectors:
    enumeration: {max_ids: 50, action: block}
    credential_stuffing: {username_fields: [/user/email], failure_statuses: [401]}
`), env(nil))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	d := cfg.Observe.Detectors
	checks := []struct {
		name      string
		got, want any
	}{
		{"on", d.On(), true},
		{"max_keys", d.MaxKeys, 100_000},
		{"enumeration.max_ids (set)", d.Enumeration.MaxIDs, 50},
		{"enumeration.action (set)", d.Enumeration.Action, "block"},
		{"enumeration.block_ttl", d.Enumeration.BlockTTL.D(), 15 * time.Minute},
		{"enumeration.max_failed_ids", d.Enumeration.MaxFailedIDs, 30},
		{"enumeration.window", d.Enumeration.Window.D(), time.Minute},
		{"credential_stuffing.username_fields (set)", strings.Join(d.CredentialStuffing.UsernameFields, ","), "/user/email"},
		{"credential_stuffing.failure_statuses (set)", len(d.CredentialStuffing.FailureStatuses), 1},
		{"credential_stuffing.usernames_per_ip", d.CredentialStuffing.UsernamesPerIP, 20},
		{"token_sharing.max_networks", d.TokenSharing.MaxNetworks, 4},
		{"error_ratio.max_ratio", d.ErrorRatio.MaxRatio, 0.5},
		{"exfiltration.min_bytes", d.Exfiltration.MinBytes, ByteSize(50 << 20)},
		{"first_sight.learn", d.FirstSight.Learn.D(), 10 * time.Minute},
		{"first_sight.clients", d.FirstSight.ClientsOn(), true},
		{"first_sight.action", d.FirstSight.Action, "event"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("observe.detectors.%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestDetectorsErrorsNameTheField(t *testing.T) {
	base := "apis:\n  - name: a\n    upstream: {urls: [\"http://127.0.0.1:1\"]}\nobserve:\n  detectors:\n"
	for _, tc := range []struct {
		doc  string
		want string
	}{
		{"    max_keys: 10\n", "observe.detectors.max_keys: must be between 100"},
		{"    allowlist: {networks: [10.0.0.0/33]}\n", "observe.detectors.allowlist.networks[0]: must be an IP or CIDR"},
		{"    enumeration: {max_ids: 1}\n", "observe.detectors.enumeration.max_ids: must be between 2"},
		{"    enumeration: {sequential: 2}\n", "observe.detectors.enumeration.sequential: must be 0 (off) or between 3"},
		{"    enumeration: {window: 0s}\n", "observe.detectors.enumeration.window: must be between 1s and 24h"},
		{"    enumeration: {action: ban}\n", `observe.detectors.enumeration.action: must be event, alert or block, not "ban"`},
		{"    enumeration: {action: block, block_ttl: 0s}\n", "observe.detectors.enumeration.block_ttl: must be between 1s"},
		{"    enumeration: {colour: red}\n", "observe.detectors.enumeration.colour: unknown field"},
		{"    credential_stuffing: {spike_factor: 0.5}\n", "observe.detectors.credential_stuffing.spike_factor"},
		{"    credential_stuffing: {username_fields: [a/b]}\n", "observe.detectors.credential_stuffing.username_fields[0]: must be a member name or a JSON pointer"},
		{"    credential_stuffing: {failure_statuses: [99]}\n", "observe.detectors.credential_stuffing.failure_statuses[0]"},
		{"    credential_stuffing: {failure_statuses: []}\n", "observe.detectors.credential_stuffing.failure_statuses: must list at least one status"},
		{"    token_sharing: {max_ips: 1}\n", "observe.detectors.token_sharing.max_ips"},
		{"    error_ratio: {max_ratio: 1.5}\n", "observe.detectors.error_ratio.max_ratio: must be above 0 and at most 1"},
		{"    exfiltration: {factor: 1}\n", "observe.detectors.exfiltration.factor: must be above 1"},
		{"    first_sight: {action: block}\n", "observe.detectors.first_sight.action: must be event or alert"},
		{"    first_sight: {max_seen: 5}\n", "observe.detectors.first_sight.max_seen"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := Parse([]byte(base+tc.doc), env(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse(%q) = %v, want an error containing %q", tc.doc, err, tc.want)
			}
		})
	}
}
