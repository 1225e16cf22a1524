package gateway

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watcher calls back when watched files change.
type Watcher struct {
	w    *fsnotify.Watcher
	done chan struct{}
	once sync.Once
}

// watchDebounce groups the several events an editor's save makes.
const watchDebounce = 250 * time.Millisecond

// WatchFiles calls onChange (debounced) when any of files is written,
// created, renamed or removed. It watches the files' directories, since
// editors and config management replace files by renaming.
func WatchFiles(ctx context.Context, files []string, onChange func(), logger *slog.Logger) (*Watcher, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	dirs := map[string]bool{}
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			continue
		}
		names[abs] = true
		dirs[filepath.Dir(abs)] = true
	}
	for d := range dirs {
		if err := fw.Add(d); err != nil {
			_ = fw.Close()
			return nil, err
		}
	}
	w := &Watcher{w: fw, done: make(chan struct{})}
	go func() {
		var timer *time.Timer
		defer func() {
			if timer != nil {
				timer.Stop()
			}
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case <-w.done:
				return
			case ev, ok := <-fw.Events:
				if !ok {
					return
				}
				if !names[filepath.Clean(ev.Name)] || ev.Op == fsnotify.Chmod {
					continue
				}
				if timer == nil {
					timer = time.AfterFunc(watchDebounce, onChange)
				} else {
					timer.Reset(watchDebounce)
				}
			case err, ok := <-fw.Errors:
				if !ok {
					return
				}
				logger.Warn("watching config files", "error", err)
			}
		}
	}()
	return w, nil
}

// Close stops watching.
func (w *Watcher) Close() error {
	w.once.Do(func() { close(w.done) })
	return w.w.Close()
}
