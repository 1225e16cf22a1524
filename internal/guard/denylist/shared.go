package denylist

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/pipeline"
	"github.com/apiguard/apiguard/internal/store"
)

// Redis names of the shared denylist.
const (
	redisBlocks    = "apiguard:denylist:blocks"    // hash: block id → JSON
	redisLockdowns = "apiguard:denylist:lockdowns" // hash: API name → JSON
	redisVersion   = "apiguard:denylist:version"   // counter bumped on every change
)

// pollInterval is how often an instance checks the shared version: a
// change made on one instance is enforced by all within about this long.
const pollInterval = 250 * time.Millisecond

// Lockdown modes.
const (
	ModeReadOnly = "read-only"
	ModeClosed   = "closed"
	ModeOff      = "off"
)

// state is the denylist shared by every API and configuration generation:
// the blocks and lockdowns added at run time (admin API), kept in memory
// as a compiled table for the request path, persisted in the store and
// shared between instances through Redis.
type state struct {
	svc *pipeline.Services
	is  store.IncidentStore
	rdb redis.UniversalClient

	mu     sync.Mutex // guards blocks, locks and writes to cur
	blocks map[string]store.Block
	locks  map[string]store.Lockdown
	cur    atomic.Pointer[table]

	apis map[string]bool // names of the APIs a guard was built for

	seen    string // last Redis version applied
	failing bool   // Redis polling is failing (logged once)

	stop chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

// sharedState returns the denylist state of svc, creating and loading it
// once.
func sharedState(svc *pipeline.Services) (*state, error) {
	v, err := svc.Shared("denylist/state", func() (any, error) {
		s := &state{svc: svc, rdb: svc.Redis, blocks: map[string]store.Block{}, locks: map[string]store.Lockdown{},
			apis: map[string]bool{}, stop: make(chan struct{})}
		if is, ok := svc.Store.(store.IncidentStore); ok {
			s.is = is
		}
		s.cur.Store(emptyTable)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.load(ctx); err != nil {
			return nil, fmt.Errorf("loading denylist: %w", err)
		}
		if s.rdb != nil {
			s.wg.Add(1)
			go s.follow()
		}
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*state), nil
}

// addAPI records that a guard protects api.
func (s *state) addAPI(api string) {
	s.mu.Lock()
	s.apis[api] = true
	s.mu.Unlock()
}

// knowsAPI reports whether api is protected by this instance; before any
// guard is built (no APIs known yet) every name is accepted.
func (s *state) knowsAPI(api string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.apis) == 0 || s.apis[api]
}

// current returns the table in force.
func (s *state) current() *table { return s.cur.Load() }

// Close stops following Redis.
func (s *state) Close() error {
	s.once.Do(func() { close(s.stop) })
	s.wg.Wait()
	return nil
}

// rebuildLocked drops expired entries and publishes a new table.
func (s *state) rebuildLocked() {
	now := s.svc.Now()
	for id, b := range s.blocks {
		if !b.Expires.IsZero() && !now.Before(b.Expires) {
			delete(s.blocks, id)
		}
	}
	for api, l := range s.locks {
		if !l.Expires.IsZero() && !now.Before(l.Expires) {
			delete(s.locks, api)
		}
	}
	t, _ := compile(slices.Collect(maps.Values(s.blocks)), slices.Collect(maps.Values(s.locks)))
	s.cur.Store(t)
}

// load reads the store and Redis at start-up; blocks only in the store
// are copied to Redis so that instances started later see them.
func (s *state) load(ctx context.Context) error {
	now := s.svc.Now()
	var (
		bs []store.Block
		ls []store.Lockdown
	)
	if s.is != nil {
		var err error
		if bs, err = s.is.Blocks(ctx, now); err != nil {
			return err
		}
		if ls, err = s.is.Lockdowns(ctx, now); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range bs {
		s.blocks[b.ID] = b
	}
	for _, l := range ls {
		s.locks[l.API] = l
	}
	if s.rdb != nil {
		if len(bs)+len(ls) > 0 {
			pipe := s.rdb.Pipeline()
			for _, b := range bs {
				j, _ := json.Marshal(b)
				pipe.HSetNX(ctx, redisBlocks, b.ID, j)
			}
			for _, l := range ls {
				j, _ := json.Marshal(l)
				pipe.HSetNX(ctx, redisLockdowns, l.API, j)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				return fmt.Errorf("sharing denylist through redis: %w", err)
			}
		}
		if err := s.readRedisLocked(ctx); err != nil {
			return err
		}
	}
	s.rebuildLocked()
	return nil
}

// readRedisLocked replaces the blocks and lockdowns in memory with the
// Redis hashes, dropping expired ones, and records the version read.
func (s *state) readRedisLocked(ctx context.Context) error {
	ver, err := s.rdb.Get(ctx, redisVersion).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("reading denylist from redis: %w", err)
	}
	bm, err := s.rdb.HGetAll(ctx, redisBlocks).Result()
	if err != nil {
		return fmt.Errorf("reading denylist from redis: %w", err)
	}
	lm, err := s.rdb.HGetAll(ctx, redisLockdowns).Result()
	if err != nil {
		return fmt.Errorf("reading denylist from redis: %w", err)
	}
	now := s.svc.Now()
	blocks := make(map[string]store.Block, len(bm))
	for id, v := range bm {
		var b store.Block
		if json.Unmarshal([]byte(v), &b) != nil || b.ID != id {
			continue
		}
		if !b.Expires.IsZero() && !now.Before(b.Expires) {
			_ = s.rdb.HDel(ctx, redisBlocks, id).Err()
			continue
		}
		blocks[id] = b
	}
	locks := make(map[string]store.Lockdown, len(lm))
	for api, v := range lm {
		var l store.Lockdown
		if json.Unmarshal([]byte(v), &l) != nil || l.API != api {
			continue
		}
		if !l.Expires.IsZero() && !now.Before(l.Expires) {
			_ = s.rdb.HDel(ctx, redisLockdowns, api).Err()
			continue
		}
		locks[api] = l
	}
	s.blocks, s.locks, s.seen = blocks, locks, ver
	return nil
}

// follow polls the shared version and reloads from Redis when another
// instance changed the denylist. While Redis is down the last list stays
// in force.
func (s *state) follow() {
	defer s.wg.Done()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			s.poll()
		}
	}
}

// poll reloads from Redis when the version changed.
func (s *state) poll() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ver, err := s.rdb.Get(ctx, redisVersion).Result()
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && ver != s.seen {
		err = s.readRedisLocked(ctx)
		if err == nil {
			s.rebuildLocked()
		}
	}
	switch {
	case err != nil && !s.failing:
		s.failing = true
		s.svc.Logger.Warn("denylist: redis unavailable; the last list stays in force", "error", err)
		s.svc.Emit(events.Event{Time: s.svc.Now(), Kind: events.KindSystem, Guard: "denylist", Rule: "denylist.redis_unavailable",
			Verdict: events.VerdictError, Detail: events.RedactText(err.Error(), 256)})
	case err == nil && s.failing:
		s.failing = false
		s.svc.Logger.Info("denylist: redis is back")
	}
}

// publishLocked writes a change to Redis and bumps the version.
func (s *state) publishLocked(ctx context.Context, f func(p redis.Pipeliner)) error {
	if s.rdb == nil {
		return nil
	}
	pipe := s.rdb.TxPipeline()
	f(pipe)
	pipe.Incr(ctx, redisVersion)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("sharing denylist through redis: %w", err)
	}
	return nil
}

// addBlock makes a block effective: store, memory, Redis.
func (s *state) addBlock(ctx context.Context, b store.Block) error {
	if s.is != nil {
		if err := s.is.PutBlock(ctx, b); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocks[b.ID] = b
	s.rebuildLocked()
	j, _ := json.Marshal(b)
	return s.publishLocked(ctx, func(p redis.Pipeliner) { p.HSet(ctx, redisBlocks, b.ID, j) })
}

// removeBlock lifts a block everywhere and returns it; ok is false when
// it is unknown.
func (s *state) removeBlock(ctx context.Context, id string) (store.Block, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.blocks[id]
	if s.is != nil {
		switch err := s.is.DeleteBlock(ctx, id); {
		case err == nil:
			if !ok {
				old, ok = store.Block{ID: id}, true
			}
		case !errors.Is(err, store.ErrNotFound):
			return old, ok, err
		}
	}
	delete(s.blocks, id)
	s.rebuildLocked()
	if !ok {
		return old, false, nil
	}
	return old, true, s.publishLocked(ctx, func(p redis.Pipeliner) { p.HDel(ctx, redisBlocks, id) })
}

// setLockdown sets (or, with mode off, lifts) the lockdown of an API and
// returns the previous one (zero Lockdown: none).
func (s *state) setLockdown(ctx context.Context, l store.Lockdown) (store.Lockdown, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.locks[l.API]
	if l.Mode == ModeOff {
		if s.is != nil {
			if err := s.is.DeleteLockdown(ctx, l.API); err != nil && !errors.Is(err, store.ErrNotFound) {
				return old, err
			}
		}
		delete(s.locks, l.API)
		s.rebuildLocked()
		return old, s.publishLocked(ctx, func(p redis.Pipeliner) { p.HDel(ctx, redisLockdowns, l.API) })
	}
	if s.is != nil {
		if err := s.is.PutLockdown(ctx, l); err != nil {
			return old, err
		}
	}
	s.locks[l.API] = l
	s.rebuildLocked()
	j, _ := json.Marshal(l)
	return old, s.publishLocked(ctx, func(p redis.Pipeliner) { p.HSet(ctx, redisLockdowns, l.API, j) })
}

// listBlocks returns the blocks in force, oldest first.
func (s *state) listBlocks() []store.Block {
	s.mu.Lock()
	s.rebuildLocked()
	out := slices.Collect(maps.Values(s.blocks))
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b store.Block) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// listLockdowns returns the lockdowns in force, by API name.
func (s *state) listLockdowns() []store.Lockdown {
	s.mu.Lock()
	s.rebuildLocked()
	out := slices.Collect(maps.Values(s.locks))
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b store.Lockdown) int { return strings.Compare(a.API, b.API) })
	return out
}
