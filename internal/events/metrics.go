package events

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DurationBuckets are the buckets, in seconds, of the request and upstream
// duration histograms: 0.5 ms to 10 s.
var DurationBuckets = []float64{
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// MaxRequestSeries bounds the number of distinct {api, operation, status}
// label sets of the request metrics. Past it, requests are counted under
// api="_overflow", operation="_overflow", a guard against a caller passing
// unbounded values.
const MaxRequestSeries = 10000

// overflowLabel replaces api and operation past MaxRequestSeries.
const overflowLabel = "_overflow"

// statusLabels holds the label value of every status 0..999, so the hot
// path does not format numbers.
var statusLabels = func() [1000]string {
	var t [1000]string
	for i := range t {
		if i >= 100 && i <= 599 {
			t[i] = strconv.Itoa(i)
		} else {
			t[i] = "other"
		}
	}
	return t
}()

func statusLabel(code int) string {
	if code < 0 || code >= len(statusLabels) {
		return "other"
	}
	return statusLabels[code]
}

// Metrics are apiguard's Prometheus metrics, on their own registry (with
// the Go and process collectors). All methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	upstreamLatency *prometheus.HistogramVec
	verdicts        *prometheus.CounterVec
	upstreamErrors  *prometheus.CounterVec
	reloads         *prometheus.CounterVec
	eventsDropped   prometheus.Counter
	storeErrors     prometheus.Counter
	events          *prometheus.CounterVec
	inflight        prometheus.Gauge
	reloadOK        prometheus.Counter
	reloadError     prometheus.Counter

	mu        sync.RWMutex
	cache     map[reqKey]*reqSeries
	maxSeries int // MaxRequestSeries; lowered by tests
}

type reqKey struct {
	api, operation string
	status         int
}

// reqSeries are the curried series of one {api, operation, status}.
type reqSeries struct {
	count    prometheus.Counter
	duration prometheus.Observer
	upstream prometheus.Observer
}

// NewMetrics creates the metrics and their registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiguard_requests_total",
			Help: "Completed requests by API, spec operation and answered status.",
		}, []string{"api", "operation", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "apiguard_request_duration_seconds",
			Help:    "Time from receiving a request to the end of its answer.",
			Buckets: DurationBuckets,
		}, []string{"api", "operation"}),
		upstreamLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "apiguard_upstream_duration_seconds",
			Help:    "Time spent waiting for the upstream, per API.",
			Buckets: DurationBuckets,
		}, []string{"api"}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiguard_guard_verdicts_total",
			Help: "Guard decisions other than allow: block, observe (monitor mode or observe-only rules) and error (the guard failed).",
		}, []string{"guard", "rule", "category", "verdict", "mode"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiguard_upstream_errors_total",
			Help: "Failures to reach or read an upstream, by kind.",
		}, []string{"api", "upstream", "kind"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiguard_config_reloads_total",
			Help: "Configuration reloads by result (ok or error).",
		}, []string{"result"}),
		eventsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "apiguard_events_dropped_total",
			Help: "Security events not stored: store queue full or store write failed.",
		}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "apiguard_store_errors_total",
			Help: "Failed writes of event batches to the store.",
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiguard_events_total",
			Help: "Security events recorded, by kind.",
		}, []string{"kind"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "apiguard_inflight_requests",
			Help: "Requests being handled now.",
		}),
		cache:     make(map[reqKey]*reqSeries),
		maxSeries: MaxRequestSeries,
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration, m.upstreamLatency, m.verdicts, m.upstreamErrors,
		m.reloads, m.eventsDropped, m.storeErrors, m.events, m.inflight,
	)
	m.reloadOK = m.reloads.WithLabelValues("ok")
	m.reloadError = m.reloads.WithLabelValues("error")
	for _, k := range [...]Kind{KindGuard, KindProtocol, KindUpstream, KindConfig, KindSystem} {
		m.events.WithLabelValues(string(k))
	}
	return m
}

// Registry returns the registry holding the metrics, so other packages can
// register theirs next to them.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// series returns the cached series of one request label set.
func (m *Metrics) series(api, operation string, status int) *reqSeries {
	if operation == "" {
		operation = "unmatched"
	}
	k := reqKey{api, operation, status}
	m.mu.RLock()
	s := m.cache[k]
	m.mu.RUnlock()
	if s != nil {
		return s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s = m.cache[k]; s != nil {
		return s
	}
	if len(m.cache) >= m.maxSeries {
		k.api, k.operation = overflowLabel, overflowLabel
		if s = m.cache[k]; s != nil {
			return s
		}
	}
	s = &reqSeries{
		count:    m.requests.WithLabelValues(k.api, k.operation, statusLabel(status)),
		duration: m.duration.WithLabelValues(k.api, k.operation),
		upstream: m.upstreamLatency.WithLabelValues(k.api),
	}
	m.cache[k] = s
	return s
}

// request counts one completed request.
func (m *Metrics) request(a *Access) {
	s := m.series(a.API, a.Operation, a.Status)
	s.count.Inc()
	s.duration.Observe(a.Latency.Seconds())
	if a.UpstreamLatency > 0 {
		s.upstream.Observe(a.UpstreamLatency.Seconds())
	}
}

// event counts one security event.
func (m *Metrics) event(e *Event) {
	m.events.WithLabelValues(string(e.Kind)).Inc()
	if e.Guard != "" && e.Verdict != "" && e.Verdict != VerdictAllow {
		m.verdicts.WithLabelValues(e.Guard, e.Rule, e.Category, e.Verdict, e.Mode).Inc()
	}
}

// ConfigReload counts a configuration reload, successful or not.
func (m *Metrics) ConfigReload(ok bool) {
	if ok {
		m.reloadOK.Inc()
	} else {
		m.reloadError.Inc()
	}
}

// UpstreamError counts a failure to reach or read an upstream. kind is a
// short fixed word such as "dial", "timeout", "tls" or "reset".
func (m *Metrics) UpstreamError(api, upstream, kind string) {
	m.upstreamErrors.WithLabelValues(api, upstream, kind).Inc()
}

// EventsDropped counts n security events that were not stored.
func (m *Metrics) EventsDropped(n int) {
	if n > 0 {
		m.eventsDropped.Add(float64(n))
	}
}

// StoreError counts one failed write to the store that lost dropped
// events; wire it to store.WriterOptions.OnError.
func (m *Metrics) StoreError(dropped int) {
	m.storeErrors.Inc()
	m.EventsDropped(dropped)
}

// InFlight adds delta (+1 when a request starts, -1 when it ends) to the
// in-flight requests gauge.
func (m *Metrics) InFlight(delta int) {
	m.inflight.Add(float64(delta))
}
