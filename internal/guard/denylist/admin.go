package denylist

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/apiguard/apiguard/internal/admin/auditctx"
	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/pipeline"
	"github.com/apiguard/apiguard/internal/store"
)

// Actor is the name recorded as created_by when no admin token name is
// known (a handler reached without the admin server's middleware); it is
// also the name of admin.token.
const Actor = "admin"

// actor is the name of the admin token of the request.
func actor(r *http.Request) string {
	if a := auditctx.Actor(r.Context()); a != "" {
		return a
	}
	return Actor
}

// maxTTL bounds the TTL of a block or lockdown set through the admin API.
const maxTTL = 366 * 24 * time.Hour

// BlockRequest is the body of POST /api/v1/blocks.
type BlockRequest struct {
	// Kind is ip, cidr, key, principal, jti or country.
	Kind string `json:"kind"`
	// Value is the address, prefix, API key id, subject or token id.
	Value string `json:"value"`
	// Reason is an operator note.
	Reason string `json:"reason,omitempty"`
	// TTL is how long the block lasts, as a Go duration ("1h"); empty
	// means until removed.
	TTL string `json:"ttl,omitempty"`
}

// LockdownRequest is the body of PUT /api/v1/lockdown/{api}.
type LockdownRequest struct {
	// Mode is read-only, closed or off.
	Mode string `json:"mode"`
	// Reason is an operator note.
	Reason string `json:"reason,omitempty"`
	// TTL is how long the lockdown lasts ("30m"); empty means until
	// lifted.
	TTL string `json:"ttl,omitempty"`
}

// apiName is what an API name may be.
var apiName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// routes registers the denylist and lockdown admin API with add. The
// admin server audits every call; the handlers say what they did with
// auditctx.Set.
func routes(svc *pipeline.Services, s *state, add func(pattern string, h http.Handler)) {
	add("POST /api/v1/blocks", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in BlockRequest
		if !decode(w, r, &in) {
			return
		}
		v, err := canonical(in.Kind, in.Value)
		if err == nil && len(in.Reason) > maxValueLen {
			err = fmt.Errorf("reason: must be at most %d bytes", maxValueLen)
		}
		if err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		now := svc.Now().UTC()
		b := store.Block{ID: newID(), Kind: in.Kind, Value: v, Reason: in.Reason, CreatedBy: actor(r), Created: now}
		if b.Expires, err = expiry(now, in.TTL); err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		if err := s.addBlock(r.Context(), b); err != nil {
			svc.Logger.Error("denylist: adding block", "error", err)
			adminError(w, http.StatusServiceUnavailable, "the block could not be stored or shared")
			return
		}
		auditctx.Set(r.Context(), "block.add", b.ID, nil, b)
		svc.Emit(events.Event{Time: now, Kind: events.KindSystem, Guard: "denylist", Rule: "denylist.block_added",
			Verdict: events.VerdictAllow, Principal: b.CreatedBy, Detail: "blocked " + b.Kind + " (block " + b.ID + ") by " + b.CreatedBy})
		writeJSON(w, http.StatusCreated, b)
	}))
	add("GET /api/v1/blocks", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"blocks": nonNil(s.listBlocks())})
	}))
	add("DELETE /api/v1/blocks/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if id == "" || len(id) > 64 {
			adminError(w, http.StatusNotFound, "no such block")
			return
		}
		old, found, err := s.removeBlock(r.Context(), id)
		if err != nil {
			svc.Logger.Error("denylist: removing block", "error", err)
			adminError(w, http.StatusServiceUnavailable, "the block could not be removed everywhere")
			return
		}
		if !found {
			adminError(w, http.StatusNotFound, "no such block")
			return
		}
		auditctx.Set(r.Context(), "block.remove", id, old, nil)
		svc.Emit(events.Event{Time: svc.Now(), Kind: events.KindSystem, Guard: "denylist", Rule: "denylist.block_removed",
			Verdict: events.VerdictAllow, Principal: actor(r), Detail: "block " + id + " removed by " + actor(r)})
		w.WriteHeader(http.StatusNoContent)
	}))
	add("GET /api/v1/lockdown", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"lockdowns": nonNil(s.listLockdowns())})
	}))
	add("PUT /api/v1/lockdown/{api}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api := r.PathValue("api")
		if !apiName.MatchString(api) {
			adminError(w, http.StatusBadRequest, "the API name must be 1 to 64 letters, digits, '.', '_' or '-'")
			return
		}
		var in LockdownRequest
		if !decode(w, r, &in) {
			return
		}
		switch in.Mode {
		case ModeReadOnly, ModeClosed, ModeOff:
		default:
			adminError(w, http.StatusBadRequest, "mode must be read-only, closed or off")
			return
		}
		if in.Mode != ModeOff && !s.knowsAPI(api) {
			adminError(w, http.StatusNotFound, "no API of that name is configured")
			return
		}
		if len(in.Reason) > maxValueLen {
			adminError(w, http.StatusBadRequest, fmt.Sprintf("reason: must be at most %d bytes", maxValueLen))
			return
		}
		now := svc.Now().UTC()
		l := store.Lockdown{API: api, Mode: in.Mode, Reason: in.Reason, CreatedBy: actor(r), Created: now}
		var err error
		if l.Expires, err = expiry(now, in.TTL); err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		old, err := s.setLockdown(r.Context(), l)
		if err != nil {
			svc.Logger.Error("denylist: setting lockdown", "error", err)
			adminError(w, http.StatusServiceUnavailable, "the lockdown could not be stored or shared")
			return
		}
		var before, after any
		if old.API != "" {
			before = old
		}
		rule := "denylist.lockdown_set"
		if l.Mode == ModeOff {
			rule = "denylist.lockdown_lifted"
			l = store.Lockdown{API: api, Mode: ModeOff, Created: now}
		} else {
			after = l
		}
		auditctx.Set(r.Context(), "lockdown.set", api, before, after)
		svc.Emit(events.Event{Time: now, Kind: events.KindSystem, API: api, Guard: "denylist", Rule: rule,
			Verdict: events.VerdictAllow, Principal: actor(r), Detail: "lockdown of " + api + ": " + l.Mode + " by " + actor(r)})
		writeJSON(w, http.StatusOK, l)
	}))
}

// expiry returns now + ttl, or the zero time for an empty ttl.
func expiry(now time.Time, ttl string) (time.Time, error) {
	if ttl == "" {
		return time.Time{}, nil
	}
	d, err := time.ParseDuration(ttl)
	if err != nil || d <= 0 || d > maxTTL {
		return time.Time{}, errors.New("ttl: must be a positive duration such as 1h, at most 8784h")
	}
	return now.Add(d), nil
}

// decode reads a small JSON body strictly; it answers 400 and returns
// false on failure.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		adminError(w, http.StatusBadRequest, "the body must be a JSON object with the documented fields")
		return false
	}
	return true
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
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
	pipeline.WriteProblem(w, pipeline.Problem{Type: pipeline.ProblemTypeBase + "admin.denylist", Status: status, Title: http.StatusText(status), Detail: detail})
}
