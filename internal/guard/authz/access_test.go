package authz

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/openapi"
	"github.com/apiguard/apiguard/internal/pipeline"
)

func TestParseAccessTemplate(t *testing.T) {
	tests := []struct {
		in, wantErr string
	}{
		{"/api/v1/accounts/{body.from_account_id}", ""},
		{"/a/{body.x.y}/b/{path.id}?", ""},
		{"/a/{query.q}/{principal.sub}", ""},
		{"a/{body.x}", "must be a path"},
		{"/a/{body.x", "unclosed"},
		{"/a/{headers.x}", "placeholder"},
		{"/a/{path}", "placeholder"},
		{"/a/{path.a.b}", "takes one name"},
		{"/a/{principal.roles}", "principal has sub"},
	}
	for _, tt := range tests {
		_, err := parseAccessTemplate(tt.in)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("parseAccessTemplate(%q) error = %v, want %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestAccessExpand(t *testing.T) {
	x := pipeline.NewExchange()
	defer x.Release()
	x.Request = httptest.NewRequest("POST", "/t?q=1&r=a&r=b", nil)
	x.PathParams = []openapi.Param{{Name: "id", Value: "7"}}
	x.Principal = &pipeline.Principal{Subject: "42"}
	var body any
	_ = json.Unmarshal([]byte(`{"from":101,"nested":{"s":"../admin"},"obj":{},"f":1.5}`), &body)
	tests := []struct {
		tmpl, want string
		ok         bool
	}{
		{"/accounts/{body.from}", "/accounts/101", true},
		{"/x/{body.nested.s}", "/x/..%2Fadmin", true}, // a value cannot change the path's shape
		{"/x/{body.f}", "/x/1.5", true},
		{"/x/{path.id}/{query.q}/{principal.sub}", "/x/7/1/42", true},
		{"/x/{body.missing}", "", false},
		{"/x/{body.obj}", "", false},
		{"/x/{query.r}", "", false}, // repeated: ambiguous
		{"/x/{query.none}", "", false},
		{"/x/{path.nope}", "", false},
	}
	for _, tt := range tests {
		tmpl, err := parseAccessTemplate(tt.tmpl)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := tmpl.expand(x, body)
		if got != tt.want || ok != tt.ok {
			t.Errorf("expand(%q) = %q, %v; want %q, %v", tt.tmpl, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCheckAccess(t *testing.T) {
	tmpl, _ := parseAccessTemplate("/accounts/{body.from}")
	tests := []struct {
		name       string
		body       string
		status     int
		subErr     error
		wantAction pipeline.Action
		wantErr    bool
		wantPath   string
	}{
		{"readable", `{"from":101}`, 200, nil, pipeline.Continue, false, "/accounts/101"},
		{"forbidden", `{"from":102}`, 403, nil, pipeline.Block, false, "/accounts/102"},
		{"not found", `{"from":999}`, 404, nil, pipeline.Block, false, "/accounts/999"},
		{"unresolved", `{}`, 200, nil, pipeline.Block, false, ""},
		{"subrequest failure", `{"from":1}`, 0, errors.New("down"), pipeline.Continue, true, "/accounts/1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked string
			svc := pipeline.NewServices(pipeline.Services{})
			svc.Subrequest = func(parent *http.Request, path string) (int, error) {
				asked = path
				return tt.status, tt.subErr
			}
			x := pipeline.NewExchange()
			defer x.Release()
			x.Request = httptest.NewRequest("POST", "/transfers", strings.NewReader(tt.body))
			x.BodyLimit = 1 << 10
			v, err := checkAccess(x, []*accessTemplate{tmpl}, svc, nil)
			if (err != nil) != tt.wantErr || v.Action != tt.wantAction || asked != tt.wantPath {
				t.Errorf("checkAccess() = %v, %v (asked %q); want %v, err %v (asked %q)", v.Action, err, asked, tt.wantAction, tt.wantErr, tt.wantPath)
			}
			if v.Action == pipeline.Block && (v.Status != 403 || v.Rule != "authz.referenced_object_denied") {
				t.Errorf("refusal = %d %s, want 403 authz.referenced_object_denied", v.Status, v.Rule)
			}
		})
	}
}
