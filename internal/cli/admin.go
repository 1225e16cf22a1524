package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/apiguard/apiguard/internal/events"
	"github.com/apiguard/apiguard/internal/store"
)

// adminFlags locate the admin API.
type adminFlags struct {
	url   string
	token string
}

// adminClient talks to the admin API with the bearer token.
type adminClient struct {
	base  *url.URL
	token string
	hc    *http.Client
}

// client checks the flags and returns a client.
func (f *adminFlags) client(stderr io.Writer) (*adminClient, error) {
	tok := f.token
	if tok == "" {
		tok = os.Getenv("APIGUARD_ADMIN_TOKEN")
	}
	if tok == "" {
		return nil, &ExitError{Code: 2, Err: errors.New("the admin token is required: --token or APIGUARD_ADMIN_TOKEN")}
	}
	u, err := url.Parse(f.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &ExitError{Code: 2, Err: errors.New("--admin-url: must be an http or https URL such as http://127.0.0.1:9090")}
	}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		fmt.Fprintln(stderr, "apiguard: warning: sending the admin token over plain http to a non-loopback host")
	}
	return &adminClient{base: u, token: tok, hc: &http.Client{Timeout: 15 * time.Second}}, nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// do sends a request to path (with query q) and decodes a JSON answer into
// out. Non-2xx answers become errors carrying the problem's detail.
func (c *adminClient) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = q.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("admin API: reading the answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var p struct{ Title, Detail string }
		_ = json.Unmarshal(raw, &p)
		msg := p.Detail
		if msg == "" {
			msg = p.Title
		}
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return fmt.Errorf("admin API: %s %s: %d: %s", method, path, resp.StatusCode, msg)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("admin API: %s %s: decoding the answer: %w", method, path, err)
		}
	}
	return nil
}

func newAdminCmd() *cobra.Command {
	f := &adminFlags{}
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Incident response through the admin API: blocks, lockdown, events, audit log",
		Long: `Talk to a running apiguard's admin API (docs/incident-response.md).

  apiguard admin blocks list
  apiguard admin blocks add ip 203.0.113.7 --reason "credential stuffing" --ttl 24h
  apiguard admin blocks remove BLOCK_ID
  apiguard admin lockdown demobank read-only --reason "incident 42"
  apiguard admin events tail --follow --verdict block
  apiguard admin audit
  apiguard admin inventory list --class shadow

The token comes from --token or APIGUARD_ADMIN_TOKEN.`,
		Args: cobra.NoArgs,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.url, "admin-url", "http://127.0.0.1:9090", "admin API base URL")
	pf.StringVar(&f.token, "token", "", "admin token (default $APIGUARD_ADMIN_TOKEN)")
	cmd.AddCommand(newAdminBlocksCmd(f), newAdminLockdownCmd(f), newAdminEventsCmd(f), newAdminAuditCmd(f))
	cmd.AddCommand(newAdminInventoryCmd(f))
	return cmd
}

func newAdminBlocksCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "blocks", Short: "List, add and remove denylist blocks", Args: cobra.NoArgs}
	list := &cobra.Command{
		Use: "list", Short: "List the blocks in force", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			var out struct {
				Blocks []store.Block `json:"blocks"`
			}
			if err := c.do(cmd.Context(), "GET", "/api/v1/blocks", nil, nil, &out); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKIND\tVALUE\tEXPIRES\tBY\tREASON")
			for _, b := range out.Blocks {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", b.ID, b.Kind, b.Value, timeOrNever(b.Expires), b.CreatedBy, b.Reason)
			}
			return tw.Flush()
		},
	}
	var reason, ttl string
	add := &cobra.Command{
		Use:   "add KIND VALUE",
		Short: "Block an ip, cidr, key (API key id), principal, jti or country (ISO code; APIs with a GeoIP database)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			in := map[string]string{"kind": args[0], "value": args[1], "reason": reason, "ttl": ttl}
			var b store.Block
			if err := c.do(cmd.Context(), "POST", "/api/v1/blocks", nil, in, &b); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "blocked %s %s (id %s, expires %s)\n", b.Kind, b.Value, b.ID, timeOrNever(b.Expires))
			return nil
		},
	}
	add.Flags().StringVar(&reason, "reason", "", "operator note, kept with the block")
	add.Flags().StringVar(&ttl, "ttl", "", `how long the block lasts, such as "24h" (default: until removed)`)
	remove := &cobra.Command{
		Use: "remove ID", Short: "Lift a block", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), "DELETE", "/api/v1/blocks/"+url.PathEscape(args[0]), nil, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed block %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(list, add, remove)
	return cmd
}

func newAdminLockdownCmd(f *adminFlags) *cobra.Command {
	var reason, ttl string
	cmd := &cobra.Command{
		Use:   "lockdown API MODE",
		Short: "Put an API in read-only or closed lockdown, or lift it (off)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains([]string{"read-only", "closed", "off"}, args[1]) {
				return &ExitError{Code: 2, Err: fmt.Errorf("MODE must be read-only, closed or off, not %q", args[1])}
			}
			c, err := f.client(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			in := map[string]string{"mode": args[1], "reason": reason, "ttl": ttl}
			var l store.Lockdown
			if err := c.do(cmd.Context(), "PUT", "/api/v1/lockdown/"+url.PathEscape(args[0]), nil, in, &l); err != nil {
				return err
			}
			if l.Mode == "off" {
				fmt.Fprintf(cmd.OutOrStdout(), "lockdown of %s lifted\n", l.API)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is %s (expires %s)\n", l.API, l.Mode, timeOrNever(l.Expires))
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "operator note")
	cmd.Flags().StringVar(&ttl, "ttl", "", `how long the lockdown lasts, such as "30m" (default: until lifted)`)
	return cmd
}

// eventFilters are the events filters the CLI passes through.
var eventFilters = []string{"api", "guard", "rule", "category", "verdict", "principal", "client_ip", "kind"}

func newAdminEventsCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "events", Short: "Read security events", Args: cobra.NoArgs}
	var (
		follow   bool
		limit    int
		interval time.Duration
		asJSON   bool
		filters  = map[string]*string{}
	)
	tail := &cobra.Command{
		Use:   "tail",
		Short: "Print the latest events, oldest first; --follow keeps printing new ones",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if limit < 1 || limit > store.MaxLimit {
				return &ExitError{Code: 2, Err: fmt.Errorf("--limit: must be from 1 to %d", store.MaxLimit)}
			}
			if interval < 100*time.Millisecond {
				return &ExitError{Code: 2, Err: errors.New("--interval: must be at least 100ms")}
			}
			q := url.Values{}
			for name, v := range filters {
				if *v != "" {
					q.Set(name, *v)
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			t := &eventTail{c: c, q: q, w: cmd.OutOrStdout(), json: asJSON}
			return t.run(ctx, limit, follow, interval)
		},
	}
	fl := tail.Flags()
	fl.BoolVarP(&follow, "follow", "f", false, "keep printing new events until interrupted")
	fl.IntVarP(&limit, "limit", "n", 20, "how many of the latest events to print first")
	fl.DurationVar(&interval, "interval", time.Second, "how often --follow asks for new events")
	fl.BoolVar(&asJSON, "json", false, "print one JSON event per line")
	for _, name := range eventFilters {
		v := new(string)
		filters[name] = v
		fl.StringVar(v, strings.ReplaceAll(name, "_", "-"), "", "only events with this "+strings.ReplaceAll(name, "_", " "))
	}
	cmd.AddCommand(tail)
	return cmd
}

// eventTail prints events in id order.
type eventTail struct {
	c    *adminClient
	q    url.Values
	w    io.Writer
	json bool
	last int64 // highest id printed
}

// maxFollowPages bounds the pages read per --follow poll: a burst larger
// than that is reported as skipped events rather than read forever.
const maxFollowPages = 10

type eventsPage struct {
	Events []events.Event `json:"events"`
	Next   string         `json:"next"`
}

func (t *eventTail) page(ctx context.Context, limit int, before string) (eventsPage, error) {
	q := url.Values{}
	for k, v := range t.q {
		q[k] = v
	}
	q.Set("limit", strconv.Itoa(limit))
	if before != "" {
		q.Set("before", before)
	}
	var p eventsPage
	err := t.c.do(ctx, "GET", "/api/v1/events", q, nil, &p)
	return p, err
}

func (t *eventTail) run(ctx context.Context, limit int, follow bool, interval time.Duration) error {
	p, err := t.page(ctx, limit, "")
	if err != nil {
		return err
	}
	t.print(p.Events)
	if !follow {
		return nil
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if err := t.poll(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// poll prints the events newer than the last printed.
func (t *eventTail) poll(ctx context.Context) error {
	var fresh []events.Event
	before := ""
	for range maxFollowPages {
		p, err := t.page(ctx, store.MaxLimit, before)
		if err != nil {
			return err
		}
		done := p.Next == ""
		for _, e := range p.Events {
			if e.ID <= t.last {
				done = true
				break
			}
			fresh = append(fresh, e)
		}
		if done {
			t.print(fresh)
			return nil
		}
		before = p.Next
	}
	fmt.Fprintf(t.w, "# more than %d new events since the last poll; older ones were skipped\n", maxFollowPages*store.MaxLimit)
	t.print(fresh)
	return nil
}

// print writes evs (newest first, as the API answers) oldest first.
func (t *eventTail) print(evs []events.Event) {
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		if e.ID > t.last {
			t.last = e.ID
		}
		if t.json {
			b, _ := json.Marshal(e)
			fmt.Fprintf(t.w, "%s\n", b)
			continue
		}
		fmt.Fprintf(t.w, "%d %s %s api=%s guard=%s rule=%s category=%s verdict=%s status=%d ip=%s principal=%s %s %s\n",
			e.ID, e.Time.UTC().Format(time.RFC3339), e.Kind, dash(e.API), dash(e.Guard), dash(e.Rule), dash(e.Category), dash(e.Verdict),
			e.Status, dash(e.ClientIP), dash(e.Principal), dash(e.Method), dash(e.Path))
	}
}

func newAdminAuditCmd(f *adminFlags) *cobra.Command {
	var (
		limit  int
		before int64
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List the audit log of admin calls (who, what, when, from where, before/after), newest first",
		Long: `List the audit log: every state-changing admin API call and every refused
call, newest first. ACTOR is the admin token's name ("unauthenticated" for
calls without a valid token); --json prints whole entries, with the state
before and after each action. --before pages back (the id of the last
entry printed).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > store.MaxLimit {
				return &ExitError{Code: 2, Err: fmt.Errorf("--limit: must be from 1 to %d", store.MaxLimit)}
			}
			c, err := f.client(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			if before > 0 {
				q.Set("before", strconv.FormatInt(before, 10))
			}
			var out struct {
				Entries []store.AuditEntry `json:"entries"`
			}
			if err := c.do(cmd.Context(), "GET", "/api/v1/audit", q, nil, &out); err != nil {
				return err
			}
			if asJSON {
				for _, e := range out.Entries {
					b, _ := json.Marshal(e)
					fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
				}
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTIME\tACTOR\tACTION\tTARGET\tSTATUS\tSOURCE")
			for _, e := range out.Entries {
				status := "-"
				if e.Status != 0 {
					status = strconv.Itoa(e.Status)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Time.UTC().Format(time.RFC3339), e.Actor, e.Action, dash(e.Target), status, dash(e.Source))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVarP(&limit, "limit", "n", 50, "how many entries")
	cmd.Flags().Int64Var(&before, "before", 0, "only entries with an id below this one (paging)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON entry per line, with before and after")
	return cmd
}

func timeOrNever(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
