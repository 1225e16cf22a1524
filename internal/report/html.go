package report

import (
	"fmt"
	"html/template"
	"io"
	"strings"
)

var htmlPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"where": func(l Location) string { return l.where() },
	"upper": func(s Severity) string { return strings.ToUpper(string(s)) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{{.R.Tool}} report: {{.R.Target}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#1d1d1f;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}
.meta{color:#555}
.score{font-size:2em;font-weight:700}
table{border-collapse:collapse;width:100%;margin:1em 0}
th,td{border-bottom:1px solid #ddd;padding:.4em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f6}
.sev{font-weight:700;border-radius:3px;padding:.1em .4em;color:#fff;font-size:.85em}
.critical{background:#7b0000}.high{background:#c62828}.medium{background:#ef6c00}.low{background:#1565c0}.info{background:#607d8b}
details{margin:.4em 0}
pre{background:#f6f8fa;padding:.6em;overflow:auto;white-space:pre-wrap}
code{font-family:ui-monospace,Menlo,Consolas,monospace}
</style>
</head>
<body>
<h1>{{.R.Tool}} report</h1>
<p class="meta">target <code>{{.R.Target}}</code>{{with .R.Gateway}} · compared through apiguard at <code>{{.}}</code>{{end}} · apiguard {{.R.Version}}{{if not .R.Started.IsZero}} · {{.R.Started.UTC.Format "2006-01-02 15:04:05 UTC"}}{{end}}</p>
{{if .R.Score}}<p>score <span class="score">{{.R.Score}}</span>/100</p>{{end}}
<table>
<tr><th>severity</th><th>findings</th></tr>
{{range .Sev}}<tr><td><span class="sev {{.S}}">{{upper .S}}</span></td><td>{{.N}}</td></tr>
{{end}}</table>
<h2>Findings ({{len .R.Findings}})</h2>
{{range .R.Findings}}<details>
<summary><span class="sev {{.Severity}}">{{upper .Severity}}</span> {{.Category}} <code>{{.Rule}}</code> {{.Title}}</summary>
<table>
{{with where .Location}}<tr><th>location</th><td><code>{{.}}</code></td></tr>{{end}}
{{with .Gateway}}<tr><th>through apiguard</th><td>{{.}}</td></tr>{{end}}
{{with .Description}}<tr><th>description</th><td>{{.}}</td></tr>{{end}}
{{with .Evidence}}<tr><th>evidence</th><td><pre>{{.}}</pre></td></tr>{{end}}
{{with .Reproduce}}<tr><th>reproduce</th><td><pre>{{.}}</pre></td></tr>{{end}}
{{with .Remediation}}<tr><th>remediation</th><td>{{.}}</td></tr>{{end}}
{{with .Fix}}<tr><th>fix with apiguard</th><td><pre>{{.}}</pre></td></tr>{{end}}
</table>
</details>
{{end}}
{{if .R.Checks}}<h2>Checks ({{len .R.Checks}})</h2>
<table>
<tr><th>rule</th><th>category</th><th>severity</th><th>title</th></tr>
{{range .R.Checks}}<tr><td><code>{{.Rule}}</code></td><td>{{.Category}}</td><td>{{.Severity}}</td><td>{{.Title}}</td></tr>
{{end}}</table>{{end}}
</body>
</html>
`))

type sevCount struct {
	S Severity
	N int
}

// WriteHTML writes r as one self-contained HTML page: inline CSS, no
// scripts, no external resources, every value escaped.
func WriteHTML(w io.Writer, r *Report) error {
	counts := r.Counts()
	var sev []sevCount
	for _, s := range severitiesDesc {
		sev = append(sev, sevCount{S: s, N: counts[s]})
	}
	if err := htmlPage.Execute(w, struct {
		R   *Report
		Sev []sevCount
	}{r, sev}); err != nil {
		return fmt.Errorf("writing html report: %w", err)
	}
	return nil
}
