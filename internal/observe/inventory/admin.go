package inventory

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// AdminPath is the admin API route of the inventory.
const AdminPath = "/api/v1/inventory"

// Handler serves GET /api/v1/inventory on the admin API: the Report as
// JSON, filtered by the query parameters api and class. current returns
// the inventory (nil when it is disabled: 404); dropped, when set, the
// observations the hub dropped. The admin server checks the token.
func Handler(current func() *Inventory, dropped func() uint64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		for name := range q {
			if name != "api" && name != "class" {
				problem(w, http.StatusBadRequest, "bad_parameter", "unknown parameter "+strconv.Quote(name)+" (known: api, class)")
				return
			}
		}
		f := Filter{API: q.Get("api"), Class: q.Get("class")}
		if f.Class != "" && !ValidClass(f.Class) {
			problem(w, http.StatusBadRequest, "bad_parameter", "class: must be one of "+strings.Join(Classes, ", "))
			return
		}
		if len(f.API) > 256 {
			problem(w, http.StatusBadRequest, "bad_parameter", "api: too long")
			return
		}
		inv := current()
		if inv == nil {
			problem(w, http.StatusNotFound, "not_found", "the inventory is disabled (observe.inventory.enabled: false)")
			return
		}
		rep := inv.Report(f)
		if dropped != nil {
			rep.Dropped = dropped()
		}
		body, err := json.Marshal(rep)
		if err != nil {
			problem(w, http.StatusInternalServerError, "internal", "")
			return
		}
		body = append(body, '\n')
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
}

// problem answers an RFC 9457 problem, like the rest of the admin API.
func problem(w http.ResponseWriter, status int, typ, detail string) {
	body, _ := json.Marshal(map[string]any{
		"type": "https://apiguard.dev/problems/admin." + typ, "title": http.StatusText(status), "status": status, "detail": detail,
	})
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
