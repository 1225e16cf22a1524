package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/guard/authn"
	"github.com/apiguard/apiguard/internal/store"
)

// keysFlags locate the store.
type keysFlags struct {
	config  string
	dataDir string
}

// open opens the store of --data-dir (SQLite), or the store the config
// names (SQLite or PostgreSQL), exactly as `apiguard serve` opens it.
func (f keysFlags) open(ctx context.Context) (store.DB, error) {
	switch {
	case f.dataDir != "":
		abs, err := filepath.Abs(f.dataDir)
		if err != nil {
			return nil, fmt.Errorf("--data-dir: %w", err)
		}
		cfg := &config.Loaded{Config: config.Default()}
		cfg.DataDir = abs
		return openStore(ctx, cfg)
	case f.config != "":
		cfg, err := config.Load(f.config)
		if err != nil {
			return nil, err
		}
		return openStore(ctx, cfg)
	}
	return nil, errors.New("give --data-dir or --config")
}

func newKeysCmd() *cobra.Command {
	var f keysFlags
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage API keys in the store (create, list, revoke)",
		Long: `Manage the API keys the authn guard accepts (apikey: {store: true}).

A new key is printed once and never stored: only its SHA-256 is kept.`,
	}
	cmd.PersistentFlags().StringVar(&f.config, "config", "", "config file whose data_dir holds the store")
	cmd.PersistentFlags().StringVar(&f.dataDir, "data-dir", "", "data directory holding the store (overrides --config)")

	var (
		name, tenant, roles, scopes string
		ttl                         time.Duration
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a key and print it once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return &ExitError{Code: 2, Err: errors.New("--name is required")}
			}
			db, err := f.open(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			key, id, sha := authn.NewAPIKey()
			now := time.Now().UTC()
			k := store.APIKey{ID: id, Name: name, Hash: sha, Tenant: tenant, Roles: strings.Fields(strings.ReplaceAll(roles, ",", " ")),
				Scopes: strings.Fields(strings.ReplaceAll(scopes, ",", " ")), Created: now}
			if ttl > 0 {
				k.Expires = now.Add(ttl)
			}
			if err := db.CreateKey(cmd.Context(), k); err != nil {
				return err
			}
			after, _ := json.Marshal(map[string]any{"name": k.Name, "tenant": k.Tenant, "roles": k.Roles, "scopes": k.Scopes, "expires": k.Expires})
			if err := auditCLI(cmd.Context(), db, "key.create", id, "", string(after)); err != nil {
				return fmt.Errorf("key %s created but not audited: %w", id, err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "id:  %s\nkey: %s\n", id, key)
			fmt.Fprintln(cmd.ErrOrStderr(), "The key is shown once; apiguard keeps only its SHA-256.")
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "", "the key's name (client or partner)")
	create.Flags().StringVar(&tenant, "tenant", "", "the principal's tenant")
	create.Flags().StringVar(&roles, "roles", "", "roles, comma-separated")
	create.Flags().StringVar(&scopes, "scopes", "", "scopes, comma-separated")
	create.Flags().DurationVar(&ttl, "ttl", 0, "lifetime (for example 2160h); default: no expiry")

	list := &cobra.Command{
		Use:   "list",
		Short: "List keys (never the keys themselves)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := f.open(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			keys, err := db.Keys(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tROLES\tSCOPES\tCREATED\tEXPIRES\tSTATE")
			now := time.Now()
			for _, k := range keys {
				state := "active"
				switch {
				case !k.Revoked.IsZero():
					state = "revoked"
				case k.Disabled:
					state = "disabled"
				case !k.Expires.IsZero() && !now.Before(k.Expires):
					state = "expired"
				}
				exp := "-"
				if !k.Expires.IsZero() {
					exp = k.Expires.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, strings.Join(k.Roles, ","), strings.Join(k.Scopes, ","),
					k.Created.Format(time.RFC3339), exp, state)
			}
			return tw.Flush()
		},
	}

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a key (running gateways stop accepting it within apikey.store_cache_ttl)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := f.open(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.RevokeKey(cmd.Context(), args[0], time.Now().UTC()); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return &ExitError{Code: 1, Err: fmt.Errorf("no key %q", args[0])}
				}
				return err
			}
			if err := auditCLI(cmd.Context(), db, "key.revoke", args[0], "", `{"revoked":true}`); err != nil {
				return fmt.Errorf("key %s revoked but not audited: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// auditCLI records an admin action taken with the command line on the
// store directly (not through the admin API, whose middleware audits its
// own calls): the actor is "cli:" and the operating-system user, the
// source the host name. Nothing secret goes in: never the key nor its hash.
func auditCLI(ctx context.Context, db store.DB, action, target, before, after string) error {
	actor := "cli"
	if u, err := user.Current(); err == nil && u.Username != "" {
		actor = "cli:" + u.Username
	}
	host, _ := os.Hostname()
	return db.AppendAudit(ctx, store.AuditEntry{Time: time.Now().UTC(), Actor: actor, Action: action, Target: target,
		Before: before, After: after, Request: "apiguard keys " + strings.TrimPrefix(action, "key."), Source: host})
}
