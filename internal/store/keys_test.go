package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestKeyStore(t *testing.T) {
	forEngines(t, func(t *testing.T, e engine) { testKeyStore(t, openEngine(t, e)) })
}

func testKeyStore(t *testing.T, s DB) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0).UTC()
	k := APIKey{ID: "k1", Name: "partner", Hash: "ab12", Roles: []string{"user", "ops"}, Scopes: []string{"a:read"}, Created: now, Expires: now.Add(time.Hour)}
	if err := s.CreateKey(ctx, k); err != nil {
		t.Fatalf("CreateKey() = %v", err)
	}
	if err := s.CreateKey(ctx, k); err == nil {
		t.Errorf("CreateKey(duplicate id) = nil, want an error")
	}
	got, err := s.Key(ctx, "k1")
	if err != nil || !reflect.DeepEqual(got, k) {
		t.Errorf("Key(k1) = %+v, %v, want %+v", got, err, k)
	}
	if _, err := s.Key(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Key(nope) error = %v, want ErrNotFound", err)
	}
	if err := s.RevokeKey(ctx, "k1", now.Add(time.Minute)); err != nil {
		t.Fatalf("RevokeKey() = %v", err)
	}
	if err := s.RevokeKey(ctx, "nope", now); !errors.Is(err, ErrNotFound) {
		t.Errorf("RevokeKey(nope) = %v, want ErrNotFound", err)
	}
	all, err := s.Keys(ctx)
	if err != nil || len(all) != 1 || !all[0].Revoked.Equal(now.Add(time.Minute)) {
		t.Errorf("Keys() = %+v, %v, want k1 revoked", all, err)
	}

	rs := []Revocation{
		{ID: "r1", Kind: "jti", Value: "abc", Created: now, Expires: now.Add(time.Hour)},
		{ID: "r2", Kind: "sub", Value: "2", Created: now.Add(time.Second)},
		{ID: "r3", Kind: "key", Value: "k1", Created: now.Add(2 * time.Second), Expires: now.Add(time.Minute)},
	}
	for _, r := range rs {
		if err := s.AddRevocation(ctx, r); err != nil {
			t.Fatalf("AddRevocation(%s) = %v", r.ID, err)
		}
	}
	live, err := s.Revocations(ctx, now.Add(30*time.Minute))
	if err != nil || len(live) != 2 || live[0].ID != "r1" || live[1].ID != "r2" {
		t.Errorf("Revocations(+30m) = %+v, %v, want r1 and r2", live, err)
	}
	if err := s.DeleteRevocation(ctx, "r1"); err != nil {
		t.Errorf("DeleteRevocation(r1) = %v", err)
	}
	if err := s.DeleteRevocation(ctx, "r1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteRevocation(r1 again) = %v, want ErrNotFound", err)
	}
}
