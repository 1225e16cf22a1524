package pipeline

import (
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/store"
)

// Services are the long-lived things guards share across configuration
// generations: a hot reload builds new guards, but rate-limit counters,
// revocation lists, nonce caches and the like must survive it. They are
// created once at start-up by the command that runs the gateway.
type Services struct {
	// Redis is the shared Redis client, or nil when redis is not configured.
	Redis redis.UniversalClient
	// Store is the event store, or nil (tests, config validation).
	Store store.Store
	// Emit records a security or system event.
	Emit func(events.Event)
	// Now is the clock.
	Now func() time.Time
	// Logger is apiguard's own log.
	Logger *slog.Logger
	// Admin adds a token-protected route to the admin API (pattern as for
	// http.ServeMux). It is nil when the admin listener is off.
	Admin func(pattern string, h http.Handler)
	// Subrequest sends a GET for path through the gateway in-process, as
	// the client of parent (same credentials, same client address), and
	// returns the status the client would get: every guard applies. The
	// gateway sets it; nil until then. A subrequest cannot make another.
	Subrequest func(parent *http.Request, path string) (int, error)

	shared *sharedValues
}

// sharedValues are the values of Services.Shared.
type sharedValues struct {
	mu     sync.Mutex
	values map[string]any
}

// NewServices returns services with defaults for nil fields.
func NewServices(s Services) *Services {
	out := &Services{Redis: s.Redis, Store: s.Store, Emit: s.Emit, Now: s.Now, Logger: s.Logger, Admin: s.Admin,
		shared: &sharedValues{values: map[string]any{}}}
	if out.Emit == nil {
		out.Emit = func(events.Event) {}
	}
	if out.Now == nil {
		out.Now = time.Now
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	return out
}

// Shared returns the value stored under key, creating it with create the
// first time. Keys are namespaced by the guard: "ratelimit/<api>/<rule>".
// Values that implement Closer are closed by Close.
func (s *Services) Shared(key string, create func() (any, error)) (any, error) {
	sv := s.shared
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if v, ok := sv.values[key]; ok {
		return v, nil
	}
	v, err := create()
	if err != nil {
		return nil, err
	}
	sv.values[key] = v
	return v, nil
}

// Close closes every shared value that has a Close method.
func (s *Services) Close() error {
	sv := s.shared
	sv.mu.Lock()
	defer sv.mu.Unlock()
	var first error
	for _, v := range sv.values {
		if c, ok := v.(Closer); ok {
			if err := c.Close(); err != nil && first == nil {
				first = err
			}
		}
	}
	sv.values = map[string]any{}
	return first
}

// ServiceInit starts a guard package's long-lived part (for example the
// revocation list and its admin routes). It runs once, at start-up.
type ServiceInit func(s *Services) error

var (
	serviceMu    sync.Mutex
	serviceInits = map[string]ServiceInit{}
)

// RegisterService registers a guard package's start-up function, from its
// init function.
func RegisterService(name string, init ServiceInit) {
	serviceMu.Lock()
	defer serviceMu.Unlock()
	if _, dup := serviceInits[name]; dup {
		panic(fmt.Sprintf("pipeline: service %q registered twice", name))
	}
	serviceInits[name] = init
}

// StartServices runs every registered service start-up function, in name
// order.
func StartServices(s *Services) error {
	serviceMu.Lock()
	names := make([]string, 0, len(serviceInits))
	for n := range serviceInits {
		names = append(names, n)
	}
	serviceMu.Unlock()
	sort.Strings(names)
	for _, n := range names {
		if err := serviceInits[n](s); err != nil {
			return fmt.Errorf("starting %s: %w", n, err)
		}
	}
	return nil
}
