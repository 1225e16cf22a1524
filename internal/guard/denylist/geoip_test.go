package denylist

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/apiguard/apiguard/internal/store"
)

// writeGeoDB writes a small MaxMind DB in the GeoLite2-Country format:
// 192.0.2.0/24 and 2001:db8::/32 in France, 198.51.100.0/24 registered
// in Germany only (no "country" member), 127.0.0.0/8 in the Netherlands.
func writeGeoDB(t testing.TB) string {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-Country", RecordSize: 24, IncludeReservedNetworks: true, IPVersion: 6})
	if err != nil {
		t.Fatal(err)
	}
	country := func(code string) mmdbtype.Map {
		return mmdbtype.Map{"iso_code": mmdbtype.String(code)}
	}
	for _, n := range []struct {
		cidr string
		rec  mmdbtype.Map
	}{
		{"192.0.2.0/24", mmdbtype.Map{"country": country("FR"), "registered_country": country("FR")}},
		{"2001:db8::/32", mmdbtype.Map{"country": country("FR")}},
		{"198.51.100.0/24", mmdbtype.Map{"registered_country": country("DE")}},
		{"127.0.0.0/8", mmdbtype.Map{"country": country("NL")}},
	} {
		_, ipnet, err := net.ParseCIDR(n.cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Insert(ipnet, n.rec); err != nil {
			t.Fatalf("inserting %s: %v", n.cidr, err)
		}
	}
	path := filepath.Join(t.TempDir(), "country.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCountryBlocks(t *testing.T) {
	db := writeGeoDB(t)
	svc := services(t, t0)
	g, err := build(t, "geoip_database: "+db+"\nentries:\n  - {kind: country, value: fr, reason: embargo}\n", svc)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ip       string
		wantRule string
	}{
		{"192.0.2.7", "denylist.country"},
		{"::ffff:192.0.2.7", "denylist.country"}, // IPv4-mapped: the same address
		{"2001:db8::1", "denylist.country"},
		{"198.51.100.1", ""}, // Germany (registered country)
		{"203.0.113.9", ""},  // not in the database
		{"127.0.0.1", ""},    // the Netherlands
	}
	check := func(t *testing.T, g *guard, ip, want string) {
		t.Helper()
		x := exchange("GET", ip)
		defer x.Release()
		v, err := g.Request(context.Background(), x)
		if err != nil {
			t.Fatal(err)
		}
		if v.Rule != want {
			t.Errorf("Request from %s = %q, want %q", ip, v.Rule, want)
		}
		if want != "" && (v.Status != 403 || v.Category != "API4" || !strings.Contains(v.Detail, "embargo") && !strings.Contains(v.Detail, "country")) {
			t.Errorf("Request from %s = %d %s %q, want 403 API4 naming the block", ip, v.Status, v.Category, v.Detail)
		}
	}
	for _, tt := range tests {
		check(t, g, tt.ip, tt.wantRule)
	}

	// A block added at run time (admin API, detectors) reaches every API
	// with a database; the registered country counts when there is no
	// country.
	if _, err := Block(context.Background(), svc, store.Block{Kind: KindCountry, Value: "de", Reason: "fraud wave"}); err != nil {
		t.Fatal(err)
	}
	check(t, g, "198.51.100.1", "denylist.country")

	// An API without a database cannot place addresses: country blocks
	// do not apply there.
	plain, err := build(t, "{}", svc)
	if err != nil {
		t.Fatal(err)
	}
	check(t, plain, "198.51.100.1", "")
}

func TestCountryConfigErrors(t *testing.T) {
	db := writeGeoDB(t)
	notDB := filepath.Join(t.TempDir(), "not.mmdb")
	if err := os.WriteFile(notDB, []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, section, want string
	}{
		{"country without a database", "entries:\n  - {kind: country, value: FR}\n", "entries[0].kind: a country block needs geoip_database"},
		{"not a country code", "geoip_database: " + db + "\nentries:\n  - {kind: country, value: FRA}\n", "entries[0].value"},
		{"missing database", "geoip_database: /nonexistent/country.mmdb\n", "geoip_database"},
		{"not a MaxMind DB", "geoip_database: " + notDB + "\n", "geoip_database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build(t, tt.section, services(t, t0))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("build(%q) error = %v, want one containing %q", tt.section, err, tt.want)
			}
		})
	}
}

// BenchmarkRequestCountry is the denylist's cost for a client address
// the database places in a country, with one country block in force.
func BenchmarkRequestCountry(b *testing.B) {
	g, err := build(b, "geoip_database: "+writeGeoDB(b)+"\nentries:\n  - {kind: country, value: DE}\n", services(b, t0))
	if err != nil {
		b.Fatal(err)
	}
	x := exchange("GET", "192.0.2.7")
	defer x.Release()
	b.ReportAllocs()
	for b.Loop() {
		if v, _ := g.Request(context.Background(), x); v.Rule != "" {
			b.Fatal(v.Rule)
		}
	}
}

// TestGeoDBShared checks that APIs and reloads naming the same unchanged
// database share one copy, and that a changed file is read anew.
func TestGeoDBShared(t *testing.T) {
	path := writeGeoDB(t)
	a, err := openGeoDB(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := openGeoDB(path)
	if err != nil || b != a {
		t.Fatalf("second open = %p, %v; want the shared %p", b, err, a)
	}
	// The file changes (a database update): read anew.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	c, err := openGeoDB(path)
	if err != nil || c == a {
		t.Fatalf("open after a change = %p, %v; want a new copy", c, err)
	}
	if got := c.country(netip.MustParseAddr("192.0.2.7")); got != "FR" {
		t.Errorf("new copy: country(192.0.2.7) = %q, want FR", got)
	}
	// A file replaced by something that is not a database is refused,
	// whatever was shared before.
	if err := os.WriteFile(path, []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openGeoDB(path); err == nil || !strings.Contains(err.Error(), "not a MaxMind DB") {
		t.Errorf("open of a broken file = %v, want not a MaxMind DB", err)
	}
}
