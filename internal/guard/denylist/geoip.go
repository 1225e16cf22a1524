package denylist

import (
	"fmt"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
)

// maxGeoDBSize bounds the GeoIP database read into memory (GeoLite2-Country
// is about 10 MB, GeoIP2-City about 70 MB).
const maxGeoDBSize = 256 << 20

// geoDB places addresses in countries with a MaxMind DB, read into memory
// (no mmap, nothing to close: a reload that drops it leaves it to the
// garbage collector).
type geoDB struct {
	r *maxminddb.Reader
}

// geoDBs shares a database between the APIs and config generations that
// name the same unchanged file: ten APIs with one GeoIP2-City database
// hold one 70 MB copy, not ten, and a reload that does not touch the file
// does not read it again. An entry is replaced when the file's size or
// modification time changes; one entry per path ever configured stays.
var geoDBs = struct {
	sync.Mutex
	m map[string]geoEntry
}{m: map[string]geoEntry{}}

type geoEntry struct {
	size int64
	mod  time.Time
	db   *geoDB
}

// openGeoDB returns the database of the file at path: the shared copy
// when the file has not changed since it was read, else the file read
// and checked anew.
func openGeoDB(path string) (*geoDB, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxGeoDBSize {
		return nil, fmt.Errorf("%s: %d bytes, larger than %d", path, fi.Size(), maxGeoDBSize)
	}
	geoDBs.Lock()
	defer geoDBs.Unlock()
	if e, ok := geoDBs.m[path]; ok && e.size == fi.Size() && e.mod.Equal(fi.ModTime()) {
		return e.db, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r, err := maxminddb.OpenBytes(b)
	if err != nil {
		return nil, fmt.Errorf("%s: not a MaxMind DB: %w", path, err)
	}
	db := &geoDB{r: r}
	geoDBs.m[path] = geoEntry{size: fi.Size(), mod: fi.ModTime(), db: db}
	return db, nil
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
