package host

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/wasmsock/wasmsock/host/plugin"
)

// ReloadReport says what reloading one plugin did.
type ReloadReport struct {
	Plugin   string        `json:"plugin"`
	Module   string        `json:"module"`
	OldHash  string        `json:"old_sha256"`
	NewHash  string        `json:"new_sha256"`
	Changed  bool          `json:"changed"` // false: the file had not changed, nothing was done
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

func (r ReloadReport) String() string {
	switch {
	case r.Error != "":
		return fmt.Sprintf("plugin %s: reload failed, %s keeps serving: %s", r.Plugin, short(r.OldHash), r.Error)
	case !r.Changed:
		return fmt.Sprintf("plugin %s: unchanged (%s)", r.Plugin, short(r.OldHash))
	}
	return fmt.Sprintf("plugin %s: reloaded %s -> %s in %s", r.Plugin, short(r.OldHash), short(r.NewHash), r.Duration.Round(time.Microsecond))
}

func short(hash string) string { return hash[:min(12, len(hash))] }

// Reload re-reads every plugin's module and reloads those whose bytes changed (see
// plugin.Plugin.Reload: no connection is dropped; a module that fails keeps the old one serving).
// The config is not read again: ReloadConfig does that, modules included.
func (s *Server) Reload(ctx context.Context) []ReloadReport {
	var out []ReloadReport
	for _, name := range slices.Sorted(maps.Keys(s.cur.Load().plugins)) {
		out = append(out, s.ReloadPlugin(ctx, name))
	}
	return out
}

// ReloadPlugin reloads one plugin from its module file if the file changed.
func (s *Server) ReloadPlugin(ctx context.Context, name string) ReloadReport {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	st := s.cur.Load()
	p, pc := st.plugins[name], st.cfg.Plugins[name]
	if p == nil {
		return ReloadReport{Plugin: name, Error: "no such plugin"}
	}
	rep := ReloadReport{Plugin: name, Module: pc.Module, OldHash: p.Hash()}
	wasm, err := os.ReadFile(pc.Module)
	if err != nil {
		rep.Error = err.Error()
		s.metrics.reloadFailures.WithLabelValues(name).Inc()
		s.log.Error("reload failed: old module keeps serving", "plugin", name, "error", err)
		return rep
	}
	if plugin.HashOf(wasm) == rep.OldHash && !p.Disabled() {
		rep.NewHash = rep.OldHash
		return rep
	}
	res := p.Reload(ctx, wasm)
	rep.NewHash, rep.Changed, rep.Duration = res.NewHash, res.Err == nil, res.Duration
	if res.Err != nil {
		rep.Error = res.Err.Error()
		s.metrics.reloadFailures.WithLabelValues(name).Inc()
		s.log.Error("reload failed: old module keeps serving", "plugin", name, "module", pc.Module, "sha256", short(rep.OldHash), "error", res.Err)
		return rep
	}
	p.wasm = wasm
	s.metrics.reloads.WithLabelValues(name).Inc()
	s.log.Info("plugin reloaded", "plugin", name, "from", short(rep.OldHash), "to", short(rep.NewHash), "duration", res.Duration)
	return rep
}
