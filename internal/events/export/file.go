package export

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/apiguard/apiguard/internal/config"
	"github.com/apiguard/apiguard/internal/events"
)

// rotatedLayout is the time stamp appended to a rotated file's name:
// alerts.jsonl becomes alerts.jsonl.20250601T120000.123456789Z. Names sort
// by rotation time.
const rotatedLayout = "20060102T150405.000000000Z"

// fileBackend writes JSON lines to a file and rotates it by size.
type fileBackend struct {
	path     string
	ocsf     bool
	maxSize  int64
	maxFiles int
	maxAge   time.Duration
	version  string
	m        *exporterMetrics
	now      func() time.Time

	f       *os.File
	w       *bufio.Writer
	size    int64
	line    []byte
	pending int // lines buffered, not yet written
	lastErr error
}

func newFile(c config.AlertFile, dir, version string, m *exporterMetrics, now func() time.Time) (*fileBackend, error) {
	b := &fileBackend{
		path: resolvePath(dir, c.Path), ocsf: c.Format == "ocsf", maxSize: int64(c.MaxSize),
		maxFiles: c.MaxFiles, maxAge: c.MaxAge.D(), version: version, m: m, now: now,
	}
	if err := os.MkdirAll(filepath.Dir(b.path), 0o750); err != nil {
		return nil, fmt.Errorf("alerts.file.path: %w", err)
	}
	if err := b.open(); err != nil {
		return nil, fmt.Errorf("alerts.file.path: %w", err)
	}
	return b, nil
}

// open opens (or creates) the current file for appending, mode 0600.
func (b *fileBackend) open() error {
	f, err := os.OpenFile(b.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	// An existing file keeps its mode with O_CREATE: tighten it.
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return err
	}
	b.f, b.size = f, st.Size()
	if b.w == nil {
		b.w = bufio.NewWriterSize(f, 64<<10)
	} else {
		b.w.Reset(f)
	}
	return nil
}

func (b *fileBackend) handle(_ context.Context, e *events.Event) {
	if b.f == nil {
		// A failed rotation left no file: try to open it again.
		if err := b.open(); err != nil {
			b.fail(err, 1)
			return
		}
	}
	if b.ocsf {
		b.line = appendOCSF(b.line[:0], e, b.version)
	} else {
		b.line = appendJSON(b.line[:0], e)
	}
	b.line = append(b.line, '\n')
	if b.size > 0 && b.size+int64(len(b.line)) > b.maxSize {
		if err := b.rotate(); err != nil {
			b.fail(err, 1)
			return
		}
	}
	_, _ = b.w.Write(b.line) // errors surface on Flush
	b.size += int64(len(b.line))
	b.pending++
}

// flush writes the buffered lines.
func (b *fileBackend) flush(context.Context) {
	if b.w == nil || b.pending == 0 {
		return
	}
	n := b.pending
	b.pending = 0
	if err := b.w.Flush(); err != nil {
		b.w.Reset(b.f) // drop what could not be written: memory never grows
		b.fail(err, n)
		return
	}
	b.m.sent.Add(float64(n))
	b.lastErr = nil
}

func (b *fileBackend) fail(err error, n int) {
	b.lastErr = err
	b.m.failed(n)
}

// rotate flushes and syncs the current file, renames it with a time
// stamp, opens a new one and prunes old files.
func (b *fileBackend) rotate() error {
	b.flush(context.Background())
	if err := b.f.Sync(); err != nil {
		b.lastErr = err
	}
	_ = b.f.Close()
	b.f = nil
	base := b.path + "." + b.now().UTC().Format(rotatedLayout)
	name := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(name); os.IsNotExist(err) {
			break
		}
		name = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(b.path, name); err != nil {
		return fmt.Errorf("rotating %s: %w", filepath.Base(b.path), err)
	}
	if err := b.open(); err != nil {
		return fmt.Errorf("rotating %s: %w", filepath.Base(b.path), err)
	}
	b.prune()
	return nil
}

// rotated lists the rotated files of the current one, oldest first.
func (b *fileBackend) rotated() []string {
	dir, base := filepath.Split(b.path)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(n, base+".") {
			continue
		}
		stamp := n[len(base)+1:]
		if i := strings.IndexByte(stamp, '-'); i >= 0 {
			stamp = stamp[:i]
		}
		if _, err := time.Parse(rotatedLayout, stamp); err != nil {
			continue
		}
		out = append(out, filepath.Join(dir, n))
	}
	sort.Strings(out)
	return out
}

// prune deletes rotated files past max_files and older than max_age.
func (b *fileBackend) prune() {
	files := b.rotated()
	if extra := len(files) - b.maxFiles; extra > 0 {
		for _, f := range files[:extra] {
			_ = os.Remove(f)
		}
		files = files[extra:]
	}
	if b.maxAge <= 0 {
		return
	}
	limit := b.now().Add(-b.maxAge)
	for _, f := range files {
		st, err := os.Stat(f)
		if err == nil && st.ModTime().Before(limit) {
			_ = os.Remove(f)
		}
	}
}

// tick prunes by age once in a while, for files that stop rotating.
func (b *fileBackend) tick(context.Context, time.Time) {
	if b.maxAge > 0 {
		b.prune()
	}
}

func (b *fileBackend) tickInterval() time.Duration {
	if b.maxAge > 0 {
		return time.Minute
	}
	return 0
}

func (b *fileBackend) lastError() error { return b.lastErr }

// close flushes, syncs and closes the file.
func (b *fileBackend) close(ctx context.Context) error {
	b.flush(ctx)
	if b.f == nil {
		return nil
	}
	err := b.f.Sync()
	if cerr := b.f.Close(); err == nil {
		err = cerr
	}
	b.f = nil
	return err
}
