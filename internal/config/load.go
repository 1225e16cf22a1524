package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FieldError is one problem in a config, at a field path such as
// apis[0].upstream.urls[1].
type FieldError struct {
	Path string
	Line int
	Msg  string
}

func (e FieldError) Error() string {
	loc := e.Path
	if loc == "" {
		loc = "(top level)"
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s: %s (line %d)", loc, e.Msg, e.Line)
	}
	return loc + ": " + e.Msg
}

// Errors is every problem found in a config.
type Errors []FieldError

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// LookupEnv finds environment variables; os.LookupEnv by default.
type LookupEnv func(name string) (string, bool)

// Loaded is a parsed, defaulted and validated configuration with where it
// came from.
type Loaded struct {
	*Config
	// File is the config file, or "" for an embedded or generated config.
	File string
	// Dir is the directory relative paths resolve against.
	Dir string
}

// Resolve makes a path from the config absolute: relative paths are
// relative to the config file's directory (the working directory for a
// config that did not come from a file).
func (l *Loaded) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || l.Dir == "" {
		return p
	}
	return filepath.Join(l.Dir, p)
}

// StorePath is the SQLite file: store.path, or apiguard.db in data_dir,
// resolved like every path of the config.
func (l *Loaded) StorePath() string {
	if l.Store.Path != "" {
		return l.Resolve(l.Store.Path)
	}
	return filepath.Join(l.Resolve(l.DataDir), "apiguard.db")
}

// Load reads, substitutes, decodes, defaults and validates a config file.
func Load(path string) (*Loaded, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	cfg, err := Parse(data, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	return &Loaded{Config: cfg, File: abs, Dir: filepath.Dir(abs)}, nil
}

// Parse substitutes ${VAR} and ${VAR:-default} in scalar values, decodes
// strictly (unknown fields are errors), applies defaults and validates.
// Substitution works on parsed values, so a variable cannot add YAML
// structure. "$${" writes a literal "${".
func Parse(data []byte, env LookupEnv) (*Config, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{Msg: "config is empty"}}
		}
		return nil, Errors{{Msg: "not valid YAML: " + err.Error()}}
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = doc.Content[0]
	}
	var errs Errors
	substituteNode(doc, "", env, &errs)
	checkFields(doc, reflect.TypeOf(Config{}), "", &errs)
	if len(errs) > 0 {
		return nil, errs
	}
	cfg := Default()
	if err := decodeInto(doc, cfg, ""); err != nil {
		return nil, err
	}
	for i := range cfg.APIs {
		applyAPIDefaults(&cfg.APIs[i])
	}
	cfg.Alerts.applyDefaults()
	cfg.Admin.applyAdminDefaults()
	if cfg.Admin.Token == "" {
		if v, ok := env("APIGUARD_ADMIN_TOKEN"); ok && v != "" {
			cfg.Admin.Token = Secret(v)
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// decodeInto decodes a node and turns yaml type errors into field errors.
func decodeInto(n *yaml.Node, v any, prefix string) error {
	err := n.Decode(v)
	if err == nil {
		return nil
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		errs := make(Errors, 0, len(te.Errors))
		for _, m := range te.Errors {
			errs = append(errs, FieldError{Path: prefix, Msg: m})
		}
		return errs
	}
	return Errors{{Path: prefix, Msg: err.Error()}}
}

// DecodeSection strictly decodes a guard's config section into v: unknown
// fields are errors naming path.
func DecodeSection(n *yaml.Node, path string, v any) error {
	var errs Errors
	checkFields(n, reflect.TypeOf(v), path, &errs)
	if len(errs) > 0 {
		return errs
	}
	return decodeInto(n, v, path)
}

// substituteNode replaces ${VAR} and ${VAR:-default} in every scalar value.
func substituteNode(n *yaml.Node, path string, env LookupEnv, errs *Errors) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for i, c := range n.Content {
			substituteNode(c, fmt.Sprintf("%s[%d]", path, i), env, errs)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			substituteNode(n.Content[i+1], joinPath(path, n.Content[i].Value), env, errs)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return
		}
		v, err := Substitute(n.Value, env)
		if err != nil {
			*errs = append(*errs, FieldError{Path: path, Line: n.Line, Msg: err.Error()})
			return
		}
		if v != n.Value {
			n.Value = v
			if n.Style == 0 {
				n.Tag = "" // let a substituted plain scalar resolve as number, bool, ...
			}
		}
	}
}

// Substitute expands ${VAR} and ${VAR:-default} in s. An unset variable
// without a default is an error, so a missing secret never becomes "".
func Substitute(s string, env LookupEnv) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' { // "$${" is a literal "${"
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unclosed ${ in value")
		}
		expr := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validEnvName(name) {
			return "", fmt.Errorf("${%s}: %q is not a valid variable name", expr, name)
		}
		val, ok := env(name)
		switch {
		case ok && val != "":
			b.WriteString(val)
		case hasDef:
			b.WriteString(def)
		case ok:
		default:
			return "", fmt.Errorf("environment variable %s is not set (write ${%s:-default} to allow that)", name, name)
		}
		s = s[i+end+1:]
	}
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

var nodeType = reflect.TypeOf(yaml.Node{})

// checkFields reports mapping keys that no field of t accepts, with their
// paths, before decoding (yaml.Node.Decode cannot be made strict).
func checkFields(n *yaml.Node, t reflect.Type, path string, errs *Errors) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if t == nodeType || t.Kind() == reflect.Interface {
		return
	}
	if reflect.PointerTo(t).Implements(reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()) {
		// Durations, sizes and the like check their own values; asked
		// here, their error gets the field's path and line (decoding the
		// whole config would only say "(top level)").
		if !(n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
			if err := reflect.New(t).Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
				*errs = append(*errs, FieldError{Path: path, Line: n.Line, Msg: err.Error()})
			}
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if !(n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
				*errs = append(*errs, FieldError{Path: path, Line: n.Line, Msg: "must be an object"})
			}
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			f, ok := fields[k]
			if !ok {
				*errs = append(*errs, FieldError{Path: joinPath(path, k), Line: n.Content[i].Line, Msg: "unknown field" + suggest(k, fields)})
				continue
			}
			checkFields(n.Content[i+1], f, joinPath(path, k), errs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			if !(n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
				*errs = append(*errs, FieldError{Path: path, Line: n.Line, Msg: "must be an object"})
			}
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkFields(n.Content[i+1], t.Elem(), joinPath(path, n.Content[i].Value), errs)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			if !(n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
				*errs = append(*errs, FieldError{Path: path, Line: n.Line, Msg: "must be a list"})
			}
			return
		}
		for i, c := range n.Content {
			checkFields(c, t.Elem(), path+"["+strconv.Itoa(i)+"]", errs)
		}
	}
}

// yamlFields maps yaml keys to field types, following inline embeds.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func suggest(k string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	norm := func(s string) string { return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s)) }
	for _, n := range names {
		if d := editDistance(norm(n), norm(k)); d <= 2 && d < len(n)/2+1 {
			return fmt.Sprintf(" (did you mean %s?)", n)
		}
	}
	return " (known: " + strings.Join(names, ", ") + ")"
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
