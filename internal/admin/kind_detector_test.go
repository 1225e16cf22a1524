package admin

import (
	"net/url"
	"testing"
)

// TestEventsKindDetector: the anomaly detectors' events are queried by
// their kind.
func TestEventsKindDetector(t *testing.T) {
	f, err := parseFilter(url.Values{"kind": {"detector"}})
	if err != nil || f.Kind != "detector" {
		t.Errorf("parseFilter(kind=detector) = %+v, %v, want the detector kind", f, err)
	}
}
