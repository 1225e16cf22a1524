package checks

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/scan"
)

// notesSpec is an API unlike demobank: opaque API keys, a "me" operation,
// notes created by their owner (none exist before the scan), one read
// without an owner check, an update with one, and an admin operation.
const notesSpec = `
openapi: 3.0.3
info: {title: notes, version: "1"}
servers: [{url: /v2}]
security: [{key: []}]
components:
  securitySchemes:
    key: {type: apiKey, in: header, name: X-Api-Key}
  schemas:
    Note:
      type: object
      properties:
        id: {type: string, readOnly: true}
        text: {type: string, maxLength: 200}
        owner: {type: string, readOnly: true}
        pinned: {type: boolean, readOnly: true}
paths:
  /whoami:
    get:
      responses: {'200': {description: me}}
  /notes:
    get:
      operationId: listNotes
      responses:
        '200':
          description: mine
          content: {application/json: {schema: {type: array, items: {$ref: '#/components/schemas/Note'}}}}
    post:
      operationId: createNote
      requestBody:
        content: {application/json: {schema: {type: object, required: [text], properties: {text: {type: string}}}}}
      responses: {'201': {description: created}}
  /notes/{noteId}:
    parameters:
      - {name: noteId, in: path, required: true, schema: {type: string}}
    get:
      operationId: readNote
      responses:
        '200':
          description: a note
          content: {application/json: {schema: {$ref: '#/components/schemas/Note'}}}
    patch:
      operationId: editNote
      requestBody:
        content: {application/json: {schema: {type: object, properties: {text: {type: string}}}}}
      responses: {'200': {description: edited}}
  /manage/stats:
    get:
      operationId: stats
      responses: {'200': {description: stats}}
`

type note struct {
	ID     string `json:"id"`
	Text   string `json:"text"`
	Owner  string `json:"owner"`
	Pinned bool   `json:"pinned"`
}

// notesAPI serves notesSpec; readNote forgets the owner check.
func notesAPI(t *testing.T) *httptest.Server {
	var mu sync.Mutex
	notes := map[string]*note{}
	keys := map[string]string{"key-ann": "ann", "key-ben": "ben", "key-root": "root"}
	mux := http.NewServeMux()
	who := func(w http.ResponseWriter, r *http.Request) string {
		u := keys[r.Header.Get("X-Api-Key")]
		if u == "" {
			w.WriteHeader(http.StatusUnauthorized)
		}
		return u
	}
	writeJSON := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /v2/whoami", func(w http.ResponseWriter, r *http.Request) {
		if u := who(w, r); u != "" {
			writeJSON(w, 200, map[string]string{"id": u})
		}
	})
	mux.HandleFunc("GET /v2/notes", func(w http.ResponseWriter, r *http.Request) {
		u := who(w, r)
		if u == "" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		out := []*note{}
		for _, n := range notes {
			if n.Owner == u {
				out = append(out, n)
			}
		}
		writeJSON(w, 200, out)
	})
	mux.HandleFunc("POST /v2/notes", func(w http.ResponseWriter, r *http.Request) {
		u := who(w, r)
		if u == "" {
			return
		}
		var in struct{ Text string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		mu.Lock()
		defer mu.Unlock()
		n := &note{ID: "n" + strconv.Itoa(len(notes)+1), Text: in.Text + " of " + u, Owner: u}
		notes[n.ID] = n
		writeJSON(w, 201, n)
	})
	mux.HandleFunc("GET /v2/notes/{id}", func(w http.ResponseWriter, r *http.Request) {
		if who(w, r) == "" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if n := notes[r.PathValue("id")]; n != nil {
			writeJSON(w, 200, n) // no owner check
			return
		}
		writeJSON(w, 404, map[string]string{"error": "no such note"})
	})
	mux.HandleFunc("PATCH /v2/notes/{id}", func(w http.ResponseWriter, r *http.Request) {
		u := who(w, r)
		if u == "" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		n := notes[r.PathValue("id")]
		if n == nil || n.Owner != u {
			writeJSON(w, 404, map[string]string{"error": "no such note"})
			return
		}
		var in map[string]any
		_ = json.NewDecoder(r.Body).Decode(&in)
		if s, ok := in["text"].(string); ok {
			n.Text = s
		}
		writeJSON(w, 200, n)
	})
	mux.HandleFunc("GET /v2/manage/stats", func(w http.ResponseWriter, r *http.Request) {
		switch who(w, r) {
		case "":
		case "root":
			writeJSON(w, 200, map[string]int{"notes": len(notes), "users": 3})
		default:
			writeJSON(w, 403, map[string]string{"error": "admins only"})
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// The authorization checks on an API they were not written for: the read
// without an owner check is found, the guarded update and the admin
// operation are not.
func TestAuthorizationChecksOnAnotherAPI(t *testing.T) {
	srv := notesAPI(t)
	spec, err := openapi.Parse([]byte(notesSpec))
	if err != nil {
		t.Fatal(err)
	}
	hdr := func(k string) http.Header { return http.Header{"X-Api-Key": {k}} }
	res, err := scan.Run(context.Background(), scan.Options{
		Spec: spec, Target: srv.URL, AllowDestructive: true, Rate: 500, NoCanary: true,
		Users:  []scan.Credential{{Name: "ann", Header: hdr("key-ann")}, {Name: "ben", Header: hdr("key-ben")}},
		Admin:  &scan.Credential{Name: "root", Header: hdr("key-root")},
		Checks: []scan.Check{newUnauthenticated(), newBOLA(), newBFLA(), newMethodSwitch(), newMassAssignment(), newDataExposure()},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range res.Report.Findings {
		got[f.Rule+" "+f.Location.Operation] = true
		t.Logf("%s %s %s: %s\n  %s", f.Severity, f.Rule, f.Location.Operation, f.Evidence, f.Reproduce)
		if strings.Contains(f.Reproduce, "key-ann") || strings.Contains(f.Reproduce, "key-ben") {
			t.Errorf("reproduction shows an API key: %s", f.Reproduce)
		}
	}
	want := map[string]bool{"scan.bola readNote": true}
	for k := range want {
		if !got[k] {
			t.Errorf("no %s finding; got %v", k, got)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("unexpected finding %s", k)
		}
	}
	for rule, err := range res.Errors {
		t.Errorf("check %s: %v", rule, err)
	}
	t.Logf("%d requests", res.Requests)
}
