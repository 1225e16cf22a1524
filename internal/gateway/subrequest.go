package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// subrequestKey marks a request made by Subrequest, so it cannot make
// another (no recursion through rules).
type subrequestKey struct{}

// errNestedSubrequest is returned for a subrequest made by a subrequest.
var errNestedSubrequest = errors.New("a subrequest cannot make another subrequest")

// subrequestHeaders are the headers of the parent request a subrequest
// carries: the caller's identity, nothing about the parent's body.
var subrequestDrop = map[string]bool{
	"Content-Length": true, "Content-Type": true, "Content-Encoding": true, "Transfer-Encoding": true,
	"Expect": true, "Connection": true, "Upgrade": true, "Te": true, "Trailer": true, "Keep-Alive": true,
	"Accept-Encoding": true, "Origin": true,
}

// Subrequest sends GET path through the gateway in-process, as the client
// of parent (its credentials and client address), and returns the status
// the client would get. Every guard applies to it, and it is logged like
// any request. It lets a guard ask "may this caller read that object?" —
// for example the account named in a transfer's body.
func (g *Gateway) Subrequest(parent *http.Request, path string) (int, error) {
	if parent.Context().Value(subrequestKey{}) != nil {
		return 0, errNestedSubrequest
	}
	if !strings.HasPrefix(path, "/") {
		return 0, errors.New("subrequest path must start with /")
	}
	ctx := context.WithValue(parent.Context(), subrequestKey{}, true)
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+parent.Host+path, nil)
	if err != nil {
		return 0, err
	}
	r.RequestURI = path
	r.Host = parent.Host
	r.RemoteAddr = parent.RemoteAddr
	r.TLS = parent.TLS
	r.Proto, r.ProtoMajor, r.ProtoMinor = parent.Proto, parent.ProtoMajor, parent.ProtoMinor
	for k, v := range parent.Header {
		if !subrequestDrop[k] {
			r.Header[k] = v
		}
	}
	w := &discardWriter{header: http.Header{}}
	g.ServeHTTP(w, r)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.status, nil
}

// discardWriter keeps a subrequest's status and drops its body.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.header }

func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *discardWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(b), nil
}
