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

	"github.com/wasmsock/wasmsock/host/config"
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
	dir     string   // where build runs: the config's directory
}

// Watch is wasmsock dev's loop: it reloads the config (ReloadConfig) when its file is saved,
// reloads a plugin when its module file changes and, for a plugin with a build command, runs the
// build when one of its sources changes (printing the build's output when it fails). What it
// watches follows the config serving now: a plugin a reload adds is watched from then on. It
// returns when ctx is done.
func (s *Server) Watch(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	watched := map[string]bool{}
	var targets []watchTarget
	var configFile string
	// follow watches what the config serving now names; it runs at start and after a reload.
	follow := func() error {
		cfg := s.cur.Load().cfg
		targets, configFile = watchTargets(cfg), ""
		dirs := map[string]bool{}
		if cfg.File != "" {
			if abs, err := filepath.Abs(cfg.File); err == nil {
				configFile = abs
				dirs[filepath.Dir(abs)] = true // the directory: a file saved by rename is seen
			}
		}
		for _, t := range targets {
			dirs[filepath.Dir(t.module)] = true
			for _, g := range t.sources {
				dirs[filepath.Dir(g)] = true
			}
		}
		for _, d := range slices.Sorted(maps.Keys(dirs)) {
			if watched[d] {
				continue
			}
			if err := w.Add(d); err != nil {
				return err
			}
			watched[d] = true
			s.log.Info("watching", "dir", d)
		}
		return nil
	}
	if err := follow(); err != nil {
		return err
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
			if configFile != "" && slices.Contains(ready, configFile) {
				s.log.Info("config file changed: reloading", "file", configFile)
				// The reload also reloads every module that changed: nothing more to do for
				// them in this round, but a changed source still needs its build.
				if rep := s.ReloadConfig(ctx); rep.Applied {
					if err := follow(); err != nil {
						s.log.Warn("cannot watch the reloaded config's files", "error", err)
					}
				}
			}
			for _, t := range targets {
				s.onChange(ctx, t, ready)
			}
		}
	}
}

// watchTargets lists the files wasmsock dev watches for each plugin of cfg.
func watchTargets(cfg *config.Config) []watchTarget {
	var targets []watchTarget
	for _, name := range slices.Sorted(maps.Keys(cfg.Plugins)) {
		pc := cfg.Plugins[name]
		t := watchTarget{plugin: name, module: pc.Module, build: pc.Build, dir: cfg.Dir}
		for _, g := range pc.Watch {
			if !filepath.IsAbs(g) {
				g = filepath.Join(cfg.Dir, g)
			}
			t.sources = append(t.sources, g)
		}
		targets = append(targets, t)
	}
	return targets
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
		cmd.Dir = t.dir
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
