package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/apiguard/apiguard/internal/observe"
	"github.com/apiguard/apiguard/internal/observe/inventory"
	"github.com/apiguard/apiguard/internal/openapi"
)

// discoverFlags are the inventory sources and filters shared by the
// discover commands.
type discoverFlags struct {
	admin     adminFlags
	har       []string
	accessLog []string
	spec      string
	api       string
	class     string
}

// offline reports whether the inventory is built from files.
func (f *discoverFlags) offline() bool { return len(f.har) > 0 || len(f.accessLog) > 0 }

func newDiscoverCmd() *cobra.Command {
	f := &discoverFlags{}
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "discover",
		Short: "The API inventory learned from traffic: shadow, zombie, unused, unauthenticated and sensitive endpoints",
		Long: `Print the API inventory (docs/inventory.md): every endpoint seen, classified
against the spec as documented, shadow (served, not in the spec), zombie
(deprecated, or an older version prefix, still called), unused (in the spec,
never called), unauthenticated (answered 2xx without credentials) and
sensitive (answers hold PII or secrets).

The inventory comes from a running gateway's admin API (the default), or is
built offline from a HAR file or apiguard's JSON access log:

  apiguard discover                                  the running gateway's inventory
  apiguard discover --class shadow --json
  apiguard discover --har capture.har --spec openapi.yaml
  apiguard discover --access-log access.log --spec openapi.yaml
  apiguard discover export --output observed.yaml   OpenAPI 3.1 of what was observed
  apiguard discover diff --spec openapi.yaml        differences from the spec (exit 1 if any)

The admin token comes from --token or APIGUARD_ADMIN_TOKEN.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := f.report(cmd.Context(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return writeInventory(cmd.OutOrStdout(), rep, asJSON)
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.admin.url, "admin-url", "http://127.0.0.1:9090", "admin API base URL of the running gateway")
	pf.StringVar(&f.admin.token, "token", "", "admin token (default $APIGUARD_ADMIN_TOKEN)")
	pf.StringArrayVar(&f.har, "har", nil, "build the inventory offline from this HAR file (repeatable)")
	pf.StringArrayVar(&f.accessLog, "access-log", nil, "build the inventory offline from apiguard's JSON access log (repeatable)")
	pf.StringVar(&f.spec, "spec", "", "OpenAPI 3.0/3.1 file to classify offline traffic against (diff: the spec to compare with)")
	pf.StringVar(&f.api, "api", "", `only this API; offline, the name given to HAR traffic (default "default")`)
	cmd.Flags().StringVar(&f.class, "class", "", "only endpoints of this class: "+strings.Join(inventory.Classes, ", "))
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the inventory as JSON (the admin API's format)")
	cmd.AddCommand(newDiscoverExportCmd(f), newDiscoverDiffCmd(f))
	return cmd
}

// report returns the inventory of the flags' source.
func (f *discoverFlags) report(ctx context.Context, stderr io.Writer) (*inventory.Report, error) {
	if f.class != "" && !inventory.ValidClass(f.class) {
		return nil, &ExitError{Code: 2, Err: fmt.Errorf("--class: must be one of %s", strings.Join(inventory.Classes, ", "))}
	}
	if f.offline() {
		return f.offlineReport(stderr)
	}
	c, err := f.admin.client(stderr)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if f.api != "" {
		q.Set("api", f.api)
	}
	if f.class != "" {
		q.Set("class", f.class)
	}
	var rep inventory.Report
	if err := c.do(ctx, "GET", inventory.AdminPath, q, nil, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

// offlineReport builds the inventory of HAR files and access logs.
func (f *discoverFlags) offlineReport(stderr io.Writer) (*inventory.Report, error) {
	var spec *openapi.Spec
	if f.spec != "" {
		s, err := openapi.Load(f.spec)
		if err != nil {
			return nil, &ExitError{Code: 2, Err: fmt.Errorf("--spec: %w", err)}
		}
		spec = s
	}
	// Offline, every body in the files is worth a look.
	inv := inventory.New(inventory.Options{SampleFirst: 1000, SampleEvery: 10})
	named := map[string]bool{}
	observe1 := func(o *observe.Observation, name string) {
		if spec != nil && !named[name] {
			inv.SetSpec(name, spec)
			named[name] = true
		}
		inventory.Match(o, name, spec)
		inv.Observe(o)
	}
	harName := f.api
	if harName == "" {
		harName = "default"
	}
	for _, p := range f.har {
		if err := readFile(p, func(r io.Reader) error {
			n, skipped, err := inventory.ReadHAR(r, func(o *observe.Observation) { observe1(o, harName) })
			if skipped > 0 {
				fmt.Fprintf(stderr, "apiguard: %s: %d entries skipped (not http or https URLs)\n", p, skipped)
			}
			if err == nil && n == 0 {
				fmt.Fprintf(stderr, "apiguard: %s: no entries\n", p)
			}
			return err
		}); err != nil {
			return nil, err
		}
	}
	for _, p := range f.accessLog {
		if err := readFile(p, func(r io.Reader) error {
			_, skipped, err := inventory.ReadAccessLog(r, func(o *observe.Observation) {
				if f.api != "" && o.API != f.api {
					return
				}
				observe1(o, o.API)
			})
			if skipped > 0 {
				fmt.Fprintf(stderr, "apiguard: %s: %d lines skipped (not access records)\n", p, skipped)
			}
			return err
		}); err != nil {
			return nil, err
		}
	}
	return inv.Report(inventory.Filter{API: f.api, Class: f.class}), nil
}

func readFile(path string, fn func(io.Reader) error) error {
	fh, err := os.Open(path)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	defer fh.Close()
	if err := fn(fh); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// writeInventory writes the inventory as indented JSON, or as tables.
func writeInventory(w io.Writer, rep *inventory.Report, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return printInventory(w, rep)
}

// printInventory writes the inventory as tables, one per API.
func printInventory(w io.Writer, rep *inventory.Report) error {
	if len(rep.APIs) == 0 {
		fmt.Fprintln(w, "no traffic observed")
		return nil
	}
	for i, a := range rep.APIs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		name := a.Name
		if name == "" {
			name = "(no API matched)"
		}
		spec := "no spec"
		if a.Spec != "" {
			spec = "spec " + a.Spec
		}
		var counts []string
		for _, c := range inventory.Classes {
			if n := a.Classes[c]; n > 0 {
				counts = append(counts, fmt.Sprintf("%s %d", c, n))
			}
		}
		fmt.Fprintf(w, "API %s (%s): %s; other %d, unanswered %d\n", name, spec, dashIfEmpty(strings.Join(counts, ", ")), a.Other.Count, a.Unanswered)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "METHOD\tPATH\tCLASSES\tCOUNT\tCLIENTS\tAUTH\tSENSITIVE\tLAST SEEN")
		for _, e := range a.Endpoints {
			last := "-"
			if !e.LastSeen.IsZero() {
				last = e.LastSeen.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", e.Method, e.Path, strings.Join(e.Classes, ","), e.Count, e.Clients,
				dashIfEmpty(strings.Join(e.Auth, ",")), dashIfEmpty(strings.Join(e.Sensitive, ",")), last)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, e := range a.Endpoints {
			for _, r := range e.Reasons {
				if !strings.HasPrefix(r, inventory.ClassUnused+":") {
					fmt.Fprintf(w, "  %s %s: %s\n", e.Method, e.Path, r)
				}
			}
		}
	}
	if rep.Dropped > 0 {
		fmt.Fprintf(w, "\n%d exchanges were not observed: the observers' queue was full\n", rep.Dropped)
	}
	return nil
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// pickAPI returns the API to export: --api, or the only API with
// endpoints.
func pickAPI(rep *inventory.Report, api string) (*inventory.APIReport, error) {
	var withTraffic []*inventory.APIReport
	for i := range rep.APIs {
		a := &rep.APIs[i]
		if api != "" && a.Name == api {
			return a, nil
		}
		for _, e := range a.Endpoints {
			if e.Count > 0 {
				withTraffic = append(withTraffic, a)
				break
			}
		}
	}
	switch {
	case api != "":
		return nil, &ExitError{Code: 2, Err: fmt.Errorf("--api: no API %q in the inventory", api)}
	case len(withTraffic) == 1:
		return withTraffic[0], nil
	case len(withTraffic) == 0:
		return nil, &ExitError{Code: 2, Err: errors.New("the inventory has no observed endpoint")}
	}
	var names []string
	for _, a := range withTraffic {
		names = append(names, fmt.Sprintf("%q", a.Name))
	}
	sort.Strings(names)
	return nil, &ExitError{Code: 2, Err: fmt.Errorf("the inventory has several APIs (%s): choose one with --api", strings.Join(names, ", "))}
}

func newDiscoverExportCmd(f *discoverFlags) *cobra.Command {
	var output, format string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write an OpenAPI 3.1 document of the observed traffic (schemas inferred, examples redacted)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "yaml" && format != "json" {
				return &ExitError{Code: 2, Err: errors.New("--format: must be yaml or json")}
			}
			rep, err := f.report(cmd.Context(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			a, err := pickAPI(rep, f.api)
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := inventory.WriteDocument(&buf, inventory.Export(a), format); err != nil {
				return err
			}
			if output == "" || output == "-" {
				_, err := cmd.OutOrStdout().Write(buf.Bytes())
				return err
			}
			if err := os.WriteFile(output, buf.Bytes(), 0o644); err != nil {
				return &ExitError{Code: 2, Err: err}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", output)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "file to write (default stdout)")
	cmd.Flags().StringVar(&format, "format", "yaml", "yaml or json")
	return cmd
}

func newDiscoverDiffCmd(f *discoverFlags) *cobra.Command {
	var observed, format string
	var ignoreUnused bool
	cmd := &cobra.Command{
		Use:   "diff --spec FILE",
		Short: "List how the observed API differs from the spec; exit code 1 when it does (for CI)",
		Long: `Compare what was observed with the spec: operations called but undocumented
(shadow), operations never called (unused), and for the operations in both,
undocumented parameters, status codes, media types and body fields, required
ones never seen, and type mismatches.

What was observed is the inventory of the source flags (the running gateway,
--har, --access-log), or an OpenAPI document written by discover export
(--observed). Exit code 0: no difference; 1: differences; 2: usage error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.spec == "" {
				return &ExitError{Code: 2, Err: errors.New("--spec is required")}
			}
			if format != "text" && format != "json" {
				return &ExitError{Code: 2, Err: errors.New("--format: must be text or json")}
			}
			spec, err := openapi.Load(f.spec)
			if err != nil {
				return &ExitError{Code: 2, Err: fmt.Errorf("--spec: %w", err)}
			}
			var obs *openapi.Spec
			if observed != "" {
				if obs, err = openapi.Load(observed); err != nil {
					return &ExitError{Code: 2, Err: fmt.Errorf("--observed: %w", err)}
				}
			} else {
				rep, err := f.report(cmd.Context(), cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				a, err := pickAPI(rep, f.api)
				if err != nil {
					return err
				}
				var buf bytes.Buffer
				if err := inventory.WriteDocument(&buf, inventory.Export(a), "yaml"); err != nil {
					return err
				}
				if obs, err = openapi.Parse(buf.Bytes()); err != nil {
					return fmt.Errorf("reading the exported inventory back: %w", err)
				}
			}
			diffs := inventory.Diff(obs, spec, inventory.DiffOptions{IgnoreUnused: ignoreUnused})
			out := cmd.OutOrStdout()
			if format == "json" {
				if diffs == nil {
					diffs = []inventory.Difference{}
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(map[string]any{"differences": diffs}); err != nil {
					return err
				}
			} else {
				for _, d := range diffs {
					fmt.Fprintln(out, d.String())
				}
				if len(diffs) == 0 {
					fmt.Fprintln(out, "no differences")
				} else {
					fmt.Fprintf(out, "%d differences\n", len(diffs))
				}
			}
			if len(diffs) > 0 {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&observed, "observed", "", "an OpenAPI document written by discover export, instead of a source")
	cmd.Flags().BoolVar(&ignoreUnused, "ignore-unused", false, "do not list spec operations that were not called")
	cmd.Flags().StringVar(&format, "format", "text", "text or json")
	return cmd
}

// newAdminInventoryCmd is apiguard admin inventory list.
func newAdminInventoryCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "inventory", Short: "The API inventory learned from traffic", Args: cobra.NoArgs}
	var api, class string
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List the inventory's endpoints and their classes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			df := &discoverFlags{admin: *f, api: api, class: class}
			rep, err := df.report(cmd.Context(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return writeInventory(cmd.OutOrStdout(), rep, asJSON)
		},
	}
	list.Flags().StringVar(&api, "api", "", "only this API")
	list.Flags().StringVar(&class, "class", "", "only endpoints of this class: "+strings.Join(inventory.Classes, ", "))
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(list)
	return cmd
}
