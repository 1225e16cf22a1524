package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	txhttp "github.com/corazawaf/coraza/v3/http"
)

// The peers a user would pick instead of apiguard: nginx with ModSecurity
// v3 and the OWASP CRS from Debian's packages, and a plain Coraza + CRS
// middleware in front of a bare ReverseProxy.

// peerPackages are the Debian packages the nginx peers need.
var peerPackages = []string{"nginx", "libnginx-mod-http-modsecurity", "modsecurity-crs"}

// Where Debian's packages put what the nginx peers use.
const (
	nginxModSecModule = "/usr/lib/nginx/modules/ngx_http_modsecurity_module.so"
	crsSetupFile      = "/etc/modsecurity/crs/crs-setup.conf"
	crsRulesGlob      = "/usr/share/modsecurity-crs/rules/*.conf"
)

// ensureNginxPeers returns the path of nginx when nginx, its ModSecurity
// module and the CRS are installed, installing the Debian packages when
// something is missing and loadbench runs as root with apt-get.
func ensureNginxPeers(ctx context.Context) (string, error) {
	if p, err := nginxPeersInstalled(); err == nil {
		return p, nil
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("nginx peers: %s not installed and not running as root: install them (Debian/Ubuntu: sudo apt-get install %s) or run with -peers=false",
			strings.Join(peerPackages, ", "), strings.Join(peerPackages, " "))
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", errors.New("nginx peers: not installed and apt-get is not available; run with -peers=false")
	}
	logf("installing %s with apt-get", strings.Join(peerPackages, " "))
	if err := aptInstall(ctx, peerPackages...); err != nil {
		return "", fmt.Errorf("nginx peers: %w", err)
	}
	return nginxPeersInstalled()
}

// nginxPeersInstalled returns the path of nginx when everything the nginx
// peers need is installed.
func nginxPeersInstalled() (string, error) {
	p, err := exec.LookPath("nginx")
	if err != nil {
		return "", fmt.Errorf("nginx peers: %w", err)
	}
	for _, f := range []string{nginxModSecModule, crsSetupFile} {
		if _, err := os.Stat(f); err != nil {
			return "", fmt.Errorf("nginx peers: %w", err)
		}
	}
	if m, _ := filepath.Glob(crsRulesGlob); len(m) == 0 {
		return "", fmt.Errorf("nginx peers: no CRS rules at %s", crsRulesGlob)
	}
	return p, nil
}

// nginxConf is what renderNginxConf needs.
type nginxConf struct {
	Dir      string // nginx's own scratch directory (logs, pid, temp files)
	Plain    string // listen address of the plain proxy
	ModSec   string // listen address of the proxy with ModSecurity
	Upstream string // host:port of the upstream
	Root     bool   // nginx runs as root: keep the workers root so they can use Dir
}

// renderNginxConf returns a self-contained nginx.conf: two servers on
// loopback proxying to the same upstream with keep-alive connections, one
// plain and one with ModSecurity; nothing from /etc/nginx.
func renderNginxConf(c nginxConf) string {
	user := ""
	if c.Root {
		user = "user root root;\n"
	}
	const location = `    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
`
	return fmt.Sprintf(`# written by loadbench
load_module %[1]s;
%[2]sworker_processes 2;
pid %[3]s/nginx.pid;
error_log %[3]s/error.log warn;
events {
  worker_connections 1024;
}
http {
  access_log %[3]s/access.log;
  client_body_temp_path %[3]s/client_body;
  proxy_temp_path %[3]s/proxy;
  fastcgi_temp_path %[3]s/fastcgi;
  uwsgi_temp_path %[3]s/uwsgi;
  scgi_temp_path %[3]s/scgi;
  upstream bench_upstream {
    server %[4]s;
    keepalive 64;
  }
  server {
    listen %[5]s;
%[7]s  }
  server {
    listen %[6]s;
    modsecurity on;
    modsecurity_rules_file %[3]s/modsecurity.conf;
%[7]s  }
}
`, nginxModSecModule, user, c.Dir, c.Upstream, c.Plain, c.ModSec, location)
}

// renderModSecConf returns the ModSecurity rules file of the nginx peer:
// engine on, request body inspection with the JSON body processor, no
// response body inspection, no audit log, CRS at paranoia level 1.
func renderModSecConf(dir string) string {
	return fmt.Sprintf(`# written by loadbench
SecRuleEngine On
SecRequestBodyAccess On
SecRequestBodyLimit 13107200
SecRequestBodyNoFilesLimit 131072
SecRequestBodyLimitAction Reject
SecRule REQUEST_HEADERS:Content-Type "^(?:application(?:/soap\+|/)|text/)xml" "id:'200000',phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "^application/json" "id:'200001',phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQBODY_ERROR "!@eq 0" "id:'200002',phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body.',severity:2"
SecResponseBodyAccess Off
SecAuditEngine Off
SecTmpDir %[1]s
SecDataDir %[1]s
SecAction "id:900000,phase:1,nolog,pass,t:none,setvar:tx.paranoia_level=1"
Include %[2]s
Include %[3]s
`, dir, crsSetupFile, crsRulesGlob)
}

// startNginx writes nginx's config into the scratch directory, starts
// nginx in the foreground and waits for both servers.
func (e *env) startNginx(ctx context.Context, nginx, upstream string) (plain, modsec string, err error) {
	if plain, err = freeAddr(); err != nil {
		return "", "", err
	}
	if modsec, err = freeAddr(); err != nil {
		return "", "", err
	}
	dir := filepath.Join(e.tmp, "nginx")
	for _, d := range []string{dir, filepath.Join(dir, "modsec")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", "", fmt.Errorf("nginx: %w", err)
		}
	}
	conf := filepath.Join(dir, "nginx.conf")
	files := map[string]string{
		conf:                                   renderNginxConf(nginxConf{Dir: dir, Plain: plain, ModSec: modsec, Upstream: upstream, Root: os.Geteuid() == 0}),
		filepath.Join(dir, "modsecurity.conf"): renderModSecConf(filepath.Join(dir, "modsec")),
	}
	for p, s := range files {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			return "", "", fmt.Errorf("nginx: %w", err)
		}
	}
	// -e: the error log used before the config is read, so nothing is
	// written under /var/log/nginx.
	argv := []string{nginx, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;"}
	c, err := e.procs.start("nginx", filepath.Join(e.tmp, "nginx.log"), nil, argv...)
	if err != nil {
		return "", "", err
	}
	for _, a := range []string{plain, modsec} {
		if err := c.waitReady(ctx, "http://"+a+"/"); err != nil {
			return "", "", fmt.Errorf("%w\nnginx error log:\n%s", err, tail(filepath.Join(dir, "error.log")))
		}
	}
	return plain, modsec, nil
}

// modSecMatches counts ModSecurity's rule matches in nginx's error log.
func modSecMatches(errorLog string) int {
	b, _ := os.ReadFile(errorLog)
	return strings.Count(string(b), "ModSecurity: ")
}

// tail returns the last lines of a file, for error messages.
func tail(path string) string {
	return (&child{logPath: path}).logTail()
}

// corazaDirectives is the plain Coraza middleware's configuration, as the
// coraza-coreruleset README sets it up: the recommended settings with the
// engine on, the CRS setup example, paranoia level 1, every CRS rule file.
// Request bodies are inspected (Coraza's JSON body processor for
// application/json, from the recommended settings); answers are not, and
// there is no audit log, as for the nginx peer.
const corazaDirectives = `Include @coraza.conf-recommended
SecRuleEngine On
SecRequestBodyAccess On
SecResponseBodyAccess Off
SecAuditEngine Off
Include @crs-setup.conf.example
SecAction "id:900000,phase:1,pass,nolog,setvar:tx.blocking_paranoia_level=1"
Include @owasp_crs/*.conf
`

// newCorazaMiddleware returns Coraza + CRS (github.com/corazawaf/coraza/v3/http's
// WrapHandler) around a bare ReverseProxy to upstream.
func newCorazaMiddleware(upstream string) (http.Handler, error) {
	proxy, err := newBareProxy(upstream)
	if err != nil {
		return nil, err
	}
	waf, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(corazaDirectives))
	if err != nil {
		return nil, fmt.Errorf("coraza: loading the CRS: %w", err)
	}
	return txhttp.WrapHandler(waf, proxy), nil
}
