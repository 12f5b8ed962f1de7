package host

import (
	"context"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// debounce is how long a watched file must stay quiet before it is acted on: editors and build
// tools write a file in several steps.
const debounce = 150 * time.Millisecond

// watchTarget is one plugin's watched files: its module and, if it names a build command, its
// sources.
type watchTarget struct {
	plugin  string
	module  string   // absolute path of the .wasm
	sources []string // absolute glob patterns
	build   string   // shell command that rebuilds the module; "" for none
}

// Watch is wasmsock dev's loop: it reloads a plugin when its module file changes and, for a plugin
// with a build command, runs the build when one of its sources changes (printing the build's output
// when it fails). It returns when ctx is done.
func (s *Server) Watch(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	var targets []watchTarget
	dirs := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(s.cfg.Plugins)) {
		pc := s.cfg.Plugins[name]
		t := watchTarget{plugin: name, module: pc.Module, build: pc.Build}
		dirs[filepath.Dir(pc.Module)] = true // the directory: a module replaced by rename is seen
		for _, g := range pc.Watch {
			if !filepath.IsAbs(g) {
				g = filepath.Join(s.cfg.Dir, g)
			}
			t.sources = append(t.sources, g)
			dirs[filepath.Dir(g)] = true
		}
		targets = append(targets, t)
	}
	for d := range dirs {
		if err := w.Add(d); err != nil {
			return err
		}
		s.log.Info("watching", "dir", d)
	}
	pending := map[string]time.Time{} // path -> last event
	tick := time.NewTicker(debounce / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-w.Errors:
			s.log.Warn("watch error", "error", err)
		case ev := <-w.Events:
			if ev.Has(fsnotify.Write) || ev.Has(fsnotify.Create) || ev.Has(fsnotify.Rename) {
				pending[filepath.Clean(ev.Name)] = time.Now()
			}
		case now := <-tick.C:
			var ready []string
			for path, at := range pending {
				if now.Sub(at) >= debounce {
					ready = append(ready, path)
					delete(pending, path)
				}
			}
			for _, t := range targets {
				s.onChange(ctx, t, ready)
			}
		}
	}
}

func (s *Server) onChange(ctx context.Context, t watchTarget, paths []string) {
	moduleChanged, sourceChanged := false, ""
	for _, p := range paths {
		if p == t.module {
			moduleChanged = true
		}
		for _, g := range t.sources {
			if ok, _ := filepath.Match(g, p); ok {
				sourceChanged = p
			}
		}
	}
	if sourceChanged != "" && t.build != "" {
		s.log.Info("source changed: building", "plugin", t.plugin, "file", sourceChanged, "command", t.build)
		cmd := exec.CommandContext(ctx, "sh", "-c", t.build)
		cmd.Dir = s.cfg.Dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			s.log.Error("build failed: the old module keeps serving", "plugin", t.plugin, "error", err,
				"output", strings.TrimSpace(string(out)))
			return
		}
		moduleChanged = true
	}
	if moduleChanged {
		rep := s.ReloadPlugin(ctx, t.plugin)
		if rep.Error == "" {
			s.log.Info(rep.String())
		}
	}
}
