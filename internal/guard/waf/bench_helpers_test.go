package waf

import (
	"io"
	"net/http"
	"strings"
)

type httpRequest = http.Request

func ioNopCloser(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }
