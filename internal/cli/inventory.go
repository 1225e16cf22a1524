package cli

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/observe"
	"github.com/apiguard/apiguard/internal/observe/inventory"
	"github.com/apiguard/apiguard/internal/store"
)

// serveInventory owns serve's API inventory (docs/inventory.md): built
// from observe.inventory, fed by the hub under the name "inventory",
// saved to the store every snapshot_interval and at shutdown, and
// following config reloads.
type serveInventory struct {
	logger *slog.Logger
	st     inventory.Store // nil: the store cannot keep inventories
	hub    *observe.Hub

	mu   sync.Mutex
	inv  *inventory.Inventory // nil while disabled
	stop context.CancelFunc   // stops the snapshot loop
	done chan struct{}
}

// newServeInventory builds the inventory of cfg and loads its last
// snapshot.
func newServeInventory(cfg *config.Loaded, db store.DB, logger *slog.Logger) *serveInventory {
	s := &serveInventory{logger: logger}
	if st, ok := db.(inventory.Store); ok {
		s.st = st
	}
	s.apply(cfg)
	return s
}

// options are the inventory options of a config.
func inventoryOptions(c config.Inventory, logger *slog.Logger) inventory.Options {
	o := inventory.Options{MaxEndpoints: c.MaxEndpoints, MaxLiterals: c.MaxLiterals, SampleFirst: c.SampleFirst,
		SampleEvery: c.SampleEvery, Logger: logger}
	if o.SampleFirst == 0 {
		o.SampleFirst = -1 // none
	}
	return o
}

// Current returns the inventory, nil when disabled.
func (s *serveInventory) Current() *inventory.Inventory {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inv
}

// Attach registers the inventory on the hub.
func (s *serveInventory) Attach(hub *observe.Hub) {
	s.mu.Lock()
	s.hub = hub
	inv := s.inv
	s.mu.Unlock()
	if inv != nil {
		hub.AddObserver("inventory", inv)
	}
}

// Apply follows a config reload: limits change in place; enabling builds
// the inventory (from its last snapshot), disabling saves and drops it.
func (s *serveInventory) Apply(cfg *config.Loaded) {
	s.apply(cfg)
	s.mu.Lock()
	hub, inv := s.hub, s.inv
	s.mu.Unlock()
	if hub == nil {
		return
	}
	if inv != nil {
		hub.AddObserver("inventory", inv)
	} else {
		hub.AddObserver("inventory", nil)
	}
}

func (s *serveInventory) apply(cfg *config.Loaded) {
	c := cfg.Observe.Inventory
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.On() {
		if s.inv != nil {
			if s.hub != nil {
				s.hub.AddObserver("inventory", nil)
			}
			s.stopLoop()
			s.inv = nil
		}
		return
	}
	if s.inv == nil {
		s.inv = inventory.New(inventoryOptions(c, s.logger))
		if c.PersistOn() && s.st != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := s.inv.Restore(ctx, s.st); err != nil {
				s.logger.Warn("inventory: the saved inventory could not be loaded (fully or in part); starting from what was read", "error", err)
			}
			cancel()
		}
	} else {
		s.inv.SetOptions(inventoryOptions(c, s.logger))
	}
	for _, a := range cfg.APIs {
		if a.Spec == "" {
			s.inv.SetSpec(a.Name, nil)
			continue
		}
		spec, err := specLoader(cfg)(a.Spec, cfg.Dir)
		if err == nil {
			s.inv.SetSpec(a.Name, spec)
		}
	}
	// The snapshot loop restarts with the new interval.
	s.stopLoop()
	if c.PersistOn() && s.st != nil {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		s.stop, s.done = cancel, done
		inv, st, every := s.inv, s.st, c.SnapshotInterval.D()
		go func() {
			defer close(done)
			inv.Run(ctx, st, every)
		}()
	}
}

// stopLoop stops the snapshot loop (which saves once more); s.mu is held.
func (s *serveInventory) stopLoop() {
	if s.stop == nil {
		return
	}
	s.stop()
	<-s.done
	s.stop, s.done = nil, nil
}

// Close saves the inventory a last time. Call it after the hub closed,
// so that the last observations are in.
func (s *serveInventory) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLoop()
}
