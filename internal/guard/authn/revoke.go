package authn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/apiguard/apiguard/internal/admin/auditctx"
	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/pipeline"
	"github.com/apiguard/apiguard/internal/store"
)

// Redis names of the shared revocation list.
const (
	redisRevocations = "apiguard:authn:revocations"
	redisRevChannel  = "apiguard:authn:revocations:changes"
)

// revocationKinds are what may be revoked.
var revocationKinds = map[string]bool{"jti": true, "sub": true, "key": true}

// revocations is the list of revoked token ids, subjects and API key ids,
// shared by every API and every configuration generation. It is kept in
// memory for the request path, persisted in the store, and shared between
// instances through Redis (a hash, and a channel for immediate effect).
type revocations struct {
	svc *pipeline.Services
	ks  store.KeyStore
	rdb redis.UniversalClient

	mu    sync.RWMutex
	byID  map[string]store.Revocation
	index map[string]time.Time // kind "\x00" value → latest expiry (zero: never)

	stop chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

// sharedRevocations returns the revocation list of svc, creating and
// loading it once.
func sharedRevocations(svc *pipeline.Services) (*revocations, error) {
	v, err := svc.Shared("authn/revocations", func() (any, error) {
		r := &revocations{svc: svc, rdb: svc.Redis, byID: map[string]store.Revocation{}, index: map[string]time.Time{}, stop: make(chan struct{})}
		if ks, ok := svc.Store.(store.KeyStore); ok {
			r.ks = ks
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.reload(ctx); err != nil {
			return nil, fmt.Errorf("loading revocations: %w", err)
		}
		if r.rdb != nil {
			r.wg.Add(1)
			go r.follow()
		}
		return r, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*revocations), nil
}

// Close stops following Redis.
func (r *revocations) Close() error {
	r.once.Do(func() { close(r.stop) })
	r.wg.Wait()
	return nil
}

func indexKey(kind, value string) string { return kind + "\x00" + value }

// revoked reports whether kind/value is revoked now.
func (r *revocations) revoked(kind, value string) bool {
	if value == "" {
		return false
	}
	r.mu.RLock()
	exp, ok := r.index[indexKey(kind, value)]
	empty := len(r.index) == 0
	r.mu.RUnlock()
	if empty || !ok {
		return false
	}
	return exp.IsZero() || r.svc.Now().Before(exp)
}

// apply adds or replaces revocations in memory.
func (r *revocations) apply(rs ...store.Revocation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rv := range rs {
		if old, ok := r.byID[rv.ID]; ok {
			delete(r.byID, old.ID)
			r.rebuildLocked()
		}
		r.byID[rv.ID] = rv
		k := indexKey(rv.Kind, rv.Value)
		cur, ok := r.index[k]
		if !ok || (!cur.IsZero() && (rv.Expires.IsZero() || rv.Expires.After(cur))) {
			r.index[k] = rv.Expires
		}
	}
}

// get returns the revocation of id known in memory.
func (r *revocations) get(id string) (store.Revocation, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	rv, ok := r.byID[id]
	return rv, ok
}

// forget removes a revocation from memory.
func (r *revocations) forget(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.byID[id]; !ok {
		return false
	}
	delete(r.byID, id)
	r.rebuildLocked()
	return true
}

// rebuildLocked recomputes the index and drops expired entries.
func (r *revocations) rebuildLocked() {
	now := r.svc.Now()
	clear(r.index)
	for id, rv := range r.byID {
		if !rv.Expires.IsZero() && !now.Before(rv.Expires) {
			delete(r.byID, id)
			continue
		}
		k := indexKey(rv.Kind, rv.Value)
		cur, ok := r.index[k]
		if !ok || (!cur.IsZero() && (rv.Expires.IsZero() || rv.Expires.After(cur))) {
			r.index[k] = rv.Expires
		}
	}
}

// list returns the revocations in force, oldest first.
func (r *revocations) list() []store.Revocation {
	r.mu.Lock()
	r.rebuildLocked()
	out := make([]store.Revocation, 0, len(r.byID))
	for _, rv := range r.byID {
		out = append(out, rv)
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// reload reads the store and Redis and replaces the in-memory list.
func (r *revocations) reload(ctx context.Context) error {
	var all []store.Revocation
	if r.ks != nil {
		rs, err := r.ks.Revocations(ctx, r.svc.Now())
		if err != nil {
			return err
		}
		all = append(all, rs...)
	}
	if r.rdb != nil {
		m, err := r.rdb.HGetAll(ctx, redisRevocations).Result()
		if err != nil {
			return fmt.Errorf("reading revocations from redis: %w", err)
		}
		now := r.svc.Now()
		for id, v := range m {
			var rv store.Revocation
			if json.Unmarshal([]byte(v), &rv) != nil || !revocationKinds[rv.Kind] {
				continue
			}
			if !rv.Expires.IsZero() && !now.Before(rv.Expires) {
				_ = r.rdb.HDel(ctx, redisRevocations, id).Err()
				continue
			}
			all = append(all, rv)
		}
	}
	r.mu.Lock()
	clear(r.byID)
	for _, rv := range all {
		r.byID[rv.ID] = rv
	}
	r.rebuildLocked()
	r.mu.Unlock()
	return nil
}

// follow applies changes published by other instances, and reloads every
// 30 seconds to catch up with messages missed while disconnected.
func (r *revocations) follow() {
	defer r.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub := r.rdb.Subscribe(ctx, redisRevChannel)
	defer sub.Close()
	ch := sub.Channel()
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			r.onMessage(msg.Payload)
		case <-tick.C:
			rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
			if err := r.reload(rctx); err != nil {
				systemEvent(r.svc, "", "authn.revocations_unavailable", events.VerdictError, err.Error())
			}
			rcancel()
		}
	}
}

// onMessage applies "+<json>" (added) or "-<id>" (removed).
func (r *revocations) onMessage(p string) {
	switch {
	case strings.HasPrefix(p, "+"):
		var rv store.Revocation
		if json.Unmarshal([]byte(p[1:]), &rv) == nil && revocationKinds[rv.Kind] && rv.ID != "" {
			r.apply(rv)
		}
	case strings.HasPrefix(p, "-"):
		r.forget(p[1:])
	}
}

// add makes a revocation effective: store, memory, Redis.
func (r *revocations) add(ctx context.Context, rv store.Revocation) error {
	if r.ks != nil {
		if err := r.ks.AddRevocation(ctx, rv); err != nil {
			return err
		}
	}
	r.apply(rv)
	if r.rdb != nil {
		b, _ := json.Marshal(rv)
		pipe := r.rdb.TxPipeline()
		pipe.HSet(ctx, redisRevocations, rv.ID, b)
		pipe.Publish(ctx, redisRevChannel, "+"+string(b))
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("sharing revocation through redis: %w", err)
		}
	}
	return nil
}

// remove lifts a revocation everywhere. It reports false when unknown.
func (r *revocations) remove(ctx context.Context, id string) (bool, error) {
	found := r.forget(id)
	if r.ks != nil {
		err := r.ks.DeleteRevocation(ctx, id)
		switch {
		case err == nil:
			found = true
		case !errors.Is(err, store.ErrNotFound):
			return found, err
		}
	}
	if r.rdb != nil {
		pipe := r.rdb.TxPipeline()
		n := pipe.HDel(ctx, redisRevocations, id)
		pipe.Publish(ctx, redisRevChannel, "-"+id)
		if _, err := pipe.Exec(ctx); err != nil {
			return found, fmt.Errorf("sharing revocation through redis: %w", err)
		}
		if n.Val() > 0 {
			found = true
		}
	}
	return found, nil
}

// RevocationRequest is the body of POST /api/v1/revocations.
type RevocationRequest struct {
	// Kind is jti, sub or key.
	Kind string `json:"kind"`
	// Value is the token id, subject or API key id.
	Value string `json:"value"`
	// TTL is how long the revocation lasts, as a Go duration ("1h");
	// empty means until removed. For a jti, the token's remaining lifetime
	// is enough.
	TTL string `json:"ttl,omitempty"`
	// Reason is an operator note.
	Reason string `json:"reason,omitempty"`
}

// adminRoutes registers the revocation admin API.
func adminRoutes(svc *pipeline.Services, r *revocations) {
	svc.Admin("POST /api/v1/revocations", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var in RevocationRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, req.Body, 16<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			adminError(w, http.StatusBadRequest, "the body must be a JSON object with kind, value, ttl and reason")
			return
		}
		if !revocationKinds[in.Kind] || in.Value == "" || len(in.Value) > 512 || len(in.Reason) > 512 {
			adminError(w, http.StatusBadRequest, "kind must be jti, sub or key, and value 1..512 characters")
			return
		}
		now := svc.Now().UTC()
		rv := store.Revocation{ID: newID(), Kind: in.Kind, Value: in.Value, Reason: in.Reason, Created: now}
		if in.TTL != "" {
			d, err := time.ParseDuration(in.TTL)
			if err != nil || d <= 0 {
				adminError(w, http.StatusBadRequest, "ttl must be a positive duration such as 1h")
				return
			}
			rv.Expires = now.Add(d)
		}
		if err := r.add(req.Context(), rv); err != nil {
			svc.Logger.Error("adding revocation", "error", err)
			adminError(w, http.StatusServiceUnavailable, "the revocation could not be stored")
			return
		}
		auditctx.Set(req.Context(), "revocation.add", rv.ID, nil, rv)
		svc.Emit(events.Event{Time: now, Kind: events.KindSystem, Guard: "authn", Rule: "authn.revocation_added", Category: "API2",
			Verdict: events.VerdictAllow, Principal: auditctx.Actor(req.Context()), Detail: "revoked " + rv.Kind + " (id " + rv.ID + ")"})
		writeJSON(w, http.StatusCreated, rv)
	}))
	svc.Admin("GET /api/v1/revocations", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"revocations": r.list()})
	}))
	svc.Admin("DELETE /api/v1/revocations/{id}", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		id := req.PathValue("id")
		before, known := r.get(id)
		found, err := r.remove(req.Context(), id)
		if err != nil {
			svc.Logger.Error("removing revocation", "error", err)
			adminError(w, http.StatusServiceUnavailable, "the revocation could not be removed")
			return
		}
		if !found {
			adminError(w, http.StatusNotFound, "no such revocation")
			return
		}
		var prev any
		if known {
			prev = before
		}
		auditctx.Set(req.Context(), "revocation.remove", clip(id), prev, nil)
		svc.Emit(events.Event{Time: svc.Now(), Kind: events.KindSystem, Guard: "authn", Rule: "authn.revocation_removed", Category: "API2",
			Verdict: events.VerdictAllow, Principal: auditctx.Actor(req.Context()), Detail: "revocation " + clip(id) + " removed"})
		w.WriteHeader(http.StatusNoContent)
	}))
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func adminError(w http.ResponseWriter, status int, detail string) {
	pipeline.WriteProblem(w, pipeline.Problem{Type: pipeline.ProblemTypeBase + "admin.revocations", Status: status, Title: http.StatusText(status), Detail: detail})
}
