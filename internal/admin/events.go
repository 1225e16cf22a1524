package admin

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/store"
)

// maxParamLen bounds every string filter.
const maxParamLen = 256

// eventsPage is the answer of GET /api/v1/events.
type eventsPage struct {
	// Events are newest first.
	Events []events.Event `json:"events"`
	// Next is the cursor of the next (older) page, to pass as before=;
	// empty when there is none.
	Next string `json:"next"`
}

// paramError is an invalid query parameter.
type paramError struct {
	name, reason string
}

func (e *paramError) Error() string { return e.name + ": " + e.reason }

// parseFilter reads the events filter from the query.
func parseFilter(q url.Values) (store.Filter, error) {
	f := store.Filter{Limit: store.DefaultLimit}
	strs := map[string]*string{
		"kind": &f.Kind, "api": &f.API, "guard": &f.Guard, "rule": &f.Rule, "category": &f.Category,
		"verdict": &f.Verdict, "principal": &f.Principal, "client_ip": &f.ClientIP, "request_id": &f.RequestID,
	}
	for name, vs := range q {
		if len(vs) != 1 {
			return f, &paramError{name, "must be given once"}
		}
		v := vs[0]
		if p, ok := strs[name]; ok {
			if v == "" || len(v) > maxParamLen {
				return f, &paramError{name, fmt.Sprintf("must be 1 to %d bytes", maxParamLen)}
			}
			*p = v
			continue
		}
		switch name {
		case "since", "until":
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return f, &paramError{name, "must be an RFC 3339 time such as 2025-06-01T12:00:00Z"}
			}
			if name == "since" {
				f.Since = t
			} else {
				f.Until = t
			}
		case "before":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				return f, &paramError{name, "must be a positive event id"}
			}
			f.Before = n
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > store.MaxLimit {
				return f, &paramError{name, fmt.Sprintf("must be an integer from 1 to %d", store.MaxLimit)}
			}
			f.Limit = n
		default:
			return f, &paramError{name, "is not a known parameter"}
		}
	}
	switch f.Kind {
	case "", string(events.KindGuard), string(events.KindProtocol), string(events.KindUpstream),
		string(events.KindConfig), string(events.KindSystem), string(events.KindDetector):
	default:
		return f, &paramError{"kind", "must be guard, protocol, upstream, config, system or detector"}
	}
	switch f.Verdict {
	case "", events.VerdictAllow, events.VerdictBlock, events.VerdictObserve, events.VerdictError:
	default:
		return f, &paramError{"verdict", "must be allow, block, observe or error"}
	}
	if f.Category != "" && events.CategoryName(f.Category) == "" {
		return f, &paramError{"category", "must be an OWASP API 2023 id, API1 to API10"}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return f, &paramError{"until", "must be after since"}
	}
	return f, nil
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r.URL.Query())
	var pe *paramError
	if errors.As(err, &pe) {
		writeProblemValue(w, problem{Type: problemBase + "invalid_parameter", Title: "Invalid query parameter",
			Status: http.StatusBadRequest, Detail: "parameter " + strconv.Quote(pe.name) + " " + pe.reason, Parameter: pe.name})
		return
	}
	if s.opts.Store == nil {
		writeProblem(w, http.StatusServiceUnavailable, "store_disabled", "Service unavailable", "the event store is not enabled")
		return
	}
	evs, err := s.opts.Store.Events(r.Context(), f)
	if err != nil {
		s.opts.Logger.Error("admin: querying events", slog.Any("error", err))
		writeProblem(w, http.StatusServiceUnavailable, "store_error", "Service unavailable", "the event store did not answer")
		return
	}
	page := eventsPage{Events: evs}
	if page.Events == nil {
		page.Events = []events.Event{}
	}
	if len(evs) == f.Limit && len(evs) > 0 {
		page.Next = strconv.FormatInt(evs[len(evs)-1].ID, 10)
	}
	writeJSON(w, http.StatusOK, page)
}
