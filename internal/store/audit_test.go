package store

import (
	"context"
	"reflect"
	"testing"
	"time"
)

// TestAuditRequestFields checks that the request, status and source of an
// admin call round-trip through both engines (migration 0005).
func TestAuditRequestFields(t *testing.T) {
	forEngines(t, func(t *testing.T, e engine) {
		s := openEngine(t, e)
		ctx := context.Background()
		now := time.Unix(1_700_000_000, 0).UTC()
		entries := []AuditEntry{
			{Time: now, Actor: "ops-alice", Action: "block.add", Target: "b1", After: `{"id":"b1"}`, Request: "POST /api/v1/blocks", Status: 201, Source: "127.0.0.1"},
			{Time: now.Add(time.Second), Actor: "unauthenticated", Action: "auth.refused", Target: "/api/v1/blocks", Request: "DELETE /api/v1/blocks/b1", Status: 401, Source: "192.0.2.9"},
		}
		for _, en := range entries {
			if err := s.AppendAudit(ctx, en); err != nil {
				t.Fatalf("AppendAudit(%+v) = %v", en, err)
			}
		}
		got, err := s.Audit(ctx, 0, 10)
		if err != nil || len(got) != 2 {
			t.Fatalf("Audit() = %+v, %v, want 2 entries", got, err)
		}
		for i, want := range []AuditEntry{entries[1], entries[0]} {
			want.ID = got[i].ID
			if !reflect.DeepEqual(got[i], want) {
				t.Errorf("Audit()[%d] = %+v, want %+v", i, got[i], want)
			}
		}
	})
}
