package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestIncidentStore(t *testing.T) {
	forEngines(t, func(t *testing.T, e engine) { testIncidentStore(t, openEngine(t, e)) })
}

func testIncidentStore(t *testing.T, s DB) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0).UTC()
	bs := []Block{
		{ID: "b1", Kind: "ip", Value: "192.0.2.7", Reason: "scanner", CreatedBy: "admin", Created: now, Expires: now.Add(time.Hour)},
		{ID: "b2", Kind: "cidr", Value: "198.51.100.0/24", Created: now.Add(time.Second)},
		{ID: "b3", Kind: "jti", Value: "t-1", Created: now.Add(2 * time.Second), Expires: now.Add(time.Minute)},
	}
	for _, b := range bs {
		if err := s.PutBlock(ctx, b); err != nil {
			t.Fatalf("PutBlock(%s) = %v", b.ID, err)
		}
	}
	if err := s.PutBlock(ctx, Block{ID: "x"}); err == nil {
		t.Errorf("PutBlock(no kind) = nil, want an error")
	}
	got, err := s.Blocks(ctx, now.Add(30*time.Minute))
	if err != nil || !reflect.DeepEqual(got, bs[:2]) {
		t.Errorf("Blocks(+30m) = %+v, %v, want %+v", got, err, bs[:2])
	}
	replaced := bs[0]
	replaced.Reason = "credential stuffing"
	if err := s.PutBlock(ctx, replaced); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Blocks(ctx, now)
	if len(got) != 3 || got[0].Reason != "credential stuffing" {
		t.Errorf("Blocks() after replace = %+v, want b1 replaced", got)
	}
	if err := s.DeleteBlock(ctx, "b2"); err != nil {
		t.Errorf("DeleteBlock(b2) = %v", err)
	}
	if err := s.DeleteBlock(ctx, "b2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteBlock(b2 again) = %v, want ErrNotFound", err)
	}

	ls := []Lockdown{
		{API: "bank", Mode: "read-only", Reason: "incident 42", CreatedBy: "admin", Created: now},
		{API: "shop", Mode: "closed", Created: now, Expires: now.Add(time.Minute)},
	}
	for _, l := range ls {
		if err := s.PutLockdown(ctx, l); err != nil {
			t.Fatalf("PutLockdown(%s) = %v", l.API, err)
		}
	}
	gotL, err := s.Lockdowns(ctx, now)
	if err != nil || !reflect.DeepEqual(gotL, ls) {
		t.Errorf("Lockdowns(now) = %+v, %v, want %+v", gotL, err, ls)
	}
	gotL, _ = s.Lockdowns(ctx, now.Add(time.Hour))
	if len(gotL) != 1 || gotL[0].API != "bank" {
		t.Errorf("Lockdowns(+1h) = %+v, want bank only", gotL)
	}
	ls[0].Mode = "closed"
	if err := s.PutLockdown(ctx, ls[0]); err != nil {
		t.Fatal(err)
	}
	if gotL, _ = s.Lockdowns(ctx, now); gotL[0].Mode != "closed" {
		t.Errorf("Lockdowns() after replace = %+v, want bank closed", gotL)
	}
	if err := s.DeleteLockdown(ctx, "bank"); err != nil {
		t.Errorf("DeleteLockdown(bank) = %v", err)
	}
	if err := s.DeleteLockdown(ctx, "bank"); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteLockdown(bank again) = %v, want ErrNotFound", err)
	}

	for i := range 5 {
		e := AuditEntry{Time: now.Add(time.Duration(i) * time.Second), Actor: "admin", Action: "block.add", Target: "b" + string(rune('0'+i)), After: `{"id":"x"}`}
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatalf("AppendAudit() = %v", err)
		}
	}
	if err := s.AppendAudit(ctx, AuditEntry{Action: "x"}); err == nil {
		t.Errorf("AppendAudit(no actor) = nil, want an error")
	}
	page, err := s.Audit(ctx, 0, 2)
	if err != nil || len(page) != 2 || page[0].ID != 5 || page[1].ID != 4 {
		t.Fatalf("Audit(0, 2) = %+v, %v, want ids 5, 4", page, err)
	}
	want := AuditEntry{ID: 5, Time: now.Add(4 * time.Second), Actor: "admin", Action: "block.add", Target: "b4", After: `{"id":"x"}`}
	if !reflect.DeepEqual(page[0], want) {
		t.Errorf("Audit()[0] = %+v, want %+v", page[0], want)
	}
	page, err = s.Audit(ctx, 4, 0)
	if err != nil || len(page) != 3 || page[0].ID != 3 {
		t.Errorf("Audit(before 4) = %+v, %v, want ids 3, 2, 1", page, err)
	}
}
