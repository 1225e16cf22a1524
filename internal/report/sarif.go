package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// SARIFSchemaURI is the $schema written in SARIF reports.
const SARIFSchemaURI = "https://json.schemastore.org/sarif-2.1.0.json"

// SARIFLevel maps a severity to a SARIF result level: critical and high
// are "error", medium "warning", low and info "note".
func SARIFLevel(s Severity) string {
	switch s {
	case Critical, High:
		return "error"
	case Medium:
		return "warning"
	}
	return "note"
}

// SecuritySeverity maps a severity to the numeric "security-severity"
// property that code scanning reads (critical > 9.0, high 7.0-8.9,
// medium 4.0-6.9, low below 4.0).
func SecuritySeverity(s Severity) string {
	switch s {
	case Critical:
		return "9.5"
	case High:
		return "8.0"
	case Medium:
		return "5.5"
	case Low:
		return "3.0"
	}
	return "1.0"
}

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool       sarifTool         `json:"tool"`
	Results    []sarifResult     `json:"results"`
	Properties map[string]any    `json:"properties,omitempty"`
	Invocation []sarifInvocation `json:"invocations,omitempty"`
}

type sarifInvocation struct {
	ExecutionSuccessful bool   `json:"executionSuccessful"`
	StartTimeUTC        string `json:"startTimeUtc,omitempty"`
	EndTimeUTC          string `json:"endTimeUtc,omitempty"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name,omitempty"`
	ShortDescription     sarifText      `json:"shortDescription"`
	FullDescription      *sarifText     `json:"fullDescription,omitempty"`
	Help                 *sarifText     `json:"help,omitempty"`
	DefaultConfiguration sarifRuleConf  `json:"defaultConfiguration"`
	Properties           map[string]any `json:"properties"`
}

type sarifRuleConf struct {
	Level string `json:"level"`
}

type sarifResult struct {
	RuleID     string         `json:"ruleId"`
	RuleIndex  int            `json:"ruleIndex"`
	Level      string         `json:"level"`
	Message    sarifText      `json:"message"`
	Locations  []sarifLoc     `json:"locations"`
	Properties map[string]any `json:"properties"`
}

type sarifLoc struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
	Message          *sarifText     `json:"message,omitempty"`
	Properties       map[string]any `json:"properties,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifactLocation `json:"artifactLocation"`
	Region           *sarifRegion          `json:"region,omitempty"`
}

type sarifArtifactLocation struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifLogical struct {
	Name               string `json:"name,omitempty"`
	FullyQualifiedName string `json:"fullyQualifiedName,omitempty"`
	Kind               string `json:"kind,omitempty"`
}

// ruleName turns "audit.no-security" into "NoSecurity" for SARIF's name.
func ruleName(id string) string {
	if i := strings.LastIndexByte(id, '.'); i >= 0 {
		id = id[i+1:]
	}
	var b strings.Builder
	up := true
	for _, r := range id {
		if r == '-' || r == '_' || r == '.' {
			up = true
			continue
		}
		if up && r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		up = false
		b.WriteRune(r)
	}
	return b.String()
}

// artifactURI makes a spec file name a relative URI reference with
// forward slashes.
func artifactURI(file string) string {
	return strings.ReplaceAll(strings.ReplaceAll(file, "\\", "/"), " ", "%20")
}

// WriteSARIF writes r as a SARIF 2.1.0 log with one run. Rules come from
// r.Checks (plus any finding rule missing there); audit findings have a
// physical location (file and line), scan findings a logical location
// (method and URL).
func WriteSARIF(w io.Writer, r *Report) error {
	checks := r.checks()
	index := map[string]int{}
	rules := make([]sarifRule, 0, len(checks))
	for i, c := range checks {
		index[c.Rule] = i
		sr := sarifRule{
			ID:                   c.Rule,
			Name:                 ruleName(c.Rule),
			ShortDescription:     sarifText{Text: firstNonEmpty(c.Title, c.Rule)},
			DefaultConfiguration: sarifRuleConf{Level: SARIFLevel(c.Severity)},
			Properties: map[string]any{
				"tags":              ruleTags(c.Category),
				"security-severity": SecuritySeverity(c.Severity),
				"precision":         "high",
			},
		}
		if c.Category != "" {
			sr.Properties["owasp"] = c.Category
		}
		if c.Description != "" {
			sr.FullDescription = &sarifText{Text: c.Description}
		}
		if c.Remediation != "" {
			sr.Help = &sarifText{Text: c.Remediation}
		}
		rules = append(rules, sr)
	}
	results := make([]sarifResult, 0, len(r.Findings))
	for _, f := range r.Findings {
		msg := f.Title
		if f.Evidence != "" {
			msg += ": " + f.Evidence
		}
		res := sarifResult{
			RuleID:    f.Rule,
			RuleIndex: index[f.Rule],
			Level:     SARIFLevel(f.Severity),
			Message:   sarifText{Text: msg},
			Properties: map[string]any{
				"owasp":             f.Category,
				"severity":          string(f.Severity),
				"security-severity": SecuritySeverity(f.Severity),
			},
		}
		if f.Remediation != "" {
			res.Properties["remediation"] = f.Remediation
		}
		if f.Reproduce != "" {
			res.Properties["reproduce"] = f.Reproduce
		}
		if f.Gateway != "" {
			res.Properties["apiguard"] = f.Gateway
		}
		loc := sarifLoc{}
		l := f.Location
		if l.File != "" {
			p := &sarifPhysical{ArtifactLocation: sarifArtifactLocation{URI: artifactURI(l.File)}}
			if l.Line > 0 {
				p.Region = &sarifRegion{StartLine: l.Line}
			}
			loc.PhysicalLocation = p
		}
		if l.Pointer != "" {
			loc.LogicalLocations = append(loc.LogicalLocations, sarifLogical{FullyQualifiedName: l.Pointer, Kind: "object"})
		}
		if l.URL != "" || l.Method != "" {
			loc.LogicalLocations = append(loc.LogicalLocations, sarifLogical{Name: l.Operation, FullyQualifiedName: strings.TrimSpace(l.Method + " " + l.URL), Kind: "resource"})
		} else if l.Operation != "" {
			loc.LogicalLocations = append(loc.LogicalLocations, sarifLogical{Name: l.Operation, Kind: "function"})
		}
		if loc.PhysicalLocation == nil && len(loc.LogicalLocations) == 0 {
			res.Locations = []sarifLoc{}
		} else {
			res.Locations = []sarifLoc{loc}
		}
		results = append(results, res)
	}
	run := sarifRun{
		Tool: sarifTool{Driver: sarifDriver{
			Name:           "apiguard",
			Version:        r.Version,
			InformationURI: "https://github.com/apiguard/apiguard",
			Rules:          rules,
		}},
		Results: results,
	}
	run.Properties = map[string]any{"tool": r.Tool, "target": r.Target}
	if r.Gateway != "" {
		run.Properties["gateway"] = r.Gateway
	}
	if r.Score != nil {
		run.Properties["score"] = *r.Score
	}
	if !r.Started.IsZero() {
		inv := sarifInvocation{ExecutionSuccessful: true, StartTimeUTC: r.Started.UTC().Format("2006-01-02T15:04:05Z")}
		if !r.Finished.IsZero() {
			inv.EndTimeUTC = r.Finished.UTC().Format("2006-01-02T15:04:05Z")
		}
		run.Invocation = []sarifInvocation{inv}
	}
	log := sarifLog{Schema: SARIFSchemaURI, Version: "2.1.0", Runs: []sarifRun{run}}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&log); err != nil {
		return fmt.Errorf("writing sarif report: %w", err)
	}
	return nil
}

func ruleTags(category string) []string {
	tags := []string{"security"}
	if category != "" {
		tags = append(tags, "OWASP-"+category+":2023")
	}
	return tags
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
