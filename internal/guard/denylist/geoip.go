package denylist

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/oschwald/maxminddb-golang/v2"
)

// maxGeoDBSize bounds the GeoIP database read into memory (GeoLite2-Country
// is about 10 MB, GeoIP2-City about 70 MB).
const maxGeoDBSize = 256 << 20

// geoDB places addresses in countries with a MaxMind DB. The file is read
// into memory once per config generation (no mmap, nothing to close: a
// reload that drops it leaves it to the garbage collector).
type geoDB struct {
	r *maxminddb.Reader
}

// openGeoDB reads and checks a MaxMind DB file.
func openGeoDB(path string) (*geoDB, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxGeoDBSize {
		return nil, fmt.Errorf("%s: %d bytes, larger than %d", path, fi.Size(), maxGeoDBSize)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r, err := maxminddb.OpenBytes(b)
	if err != nil {
		return nil, fmt.Errorf("%s: not a MaxMind DB: %w", path, err)
	}
	return &geoDB{r: r}, nil
}

// country returns the ISO 3166-1 alpha-2 code of the country a's network
// is in ("country", else "registered_country"), or "" when the database
// does not know it. A lookup error counts as unknown: an address the
// database cannot place is not in a blocked country.
func (g *geoDB) country(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	res := g.r.Lookup(a.Unmap())
	if !res.Found() {
		return ""
	}
	var code string
	if err := res.DecodePath(&code, "country", "iso_code"); err == nil && code != "" {
		return code
	}
	if err := res.DecodePath(&code, "registered_country", "iso_code"); err == nil {
		return code
	}
	return ""
}
