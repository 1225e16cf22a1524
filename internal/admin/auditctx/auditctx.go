// Package auditctx carries the audit record of an admin API request from
// the admin server's middleware to the handlers: who is calling (the name
// of the admin token) and what the handler did (action, target, state
// before and after). The middleware writes the audit log entry once the
// handler returns, so no handler can forget it; handlers only add what
// they know. It is a leaf package so that guard packages adding admin
// routes can use it without importing the admin server.
package auditctx

import (
	"context"
	"sync"
)

// Record is the audit state of one admin request.
type Record struct {
	// Actor is the name of the admin token that authenticated the call.
	Actor string
	// Role is the token's role: admin or read-only.
	Role string

	mu            sync.Mutex
	action        string
	target        string
	before, after any
	set           bool
}

type key struct{}

// With returns ctx carrying a new record for actor.
func With(ctx context.Context, actor, role string) (context.Context, *Record) {
	r := &Record{Actor: actor, Role: role}
	return context.WithValue(ctx, key{}, r), r
}

// From returns the record of ctx, or nil outside the admin API.
func From(ctx context.Context) *Record {
	r, _ := ctx.Value(key{}).(*Record)
	return r
}

// Actor returns the name of the admin token of ctx's request, or "" when
// ctx is not an admin API request.
func Actor(ctx context.Context) string {
	if r := From(ctx); r != nil {
		return r.Actor
	}
	return ""
}

// Set describes what the handler did: action is a stable verb such as
// "block.add", target what it was done to (an id, an API name), and
// before and after the target's state around the action (nil when it did
// not exist); they are stored as JSON. A later call replaces an earlier
// one. Outside the admin API it does nothing.
func Set(ctx context.Context, action, target string, before, after any) {
	r := From(ctx)
	if r == nil {
		return
	}
	r.mu.Lock()
	r.action, r.target, r.before, r.after, r.set = action, target, before, after, true
	r.mu.Unlock()
}

// Details returns what Set recorded; ok is false when Set was not called.
func (r *Record) Details() (action, target string, before, after any, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.action, r.target, r.before, r.after, r.set
}
