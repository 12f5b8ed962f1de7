// Command wasmsock runs WebSocket servers whose application logic is WebAssembly plugins.
//
//	wasmsock serve   [-listen ADDR] [host.toml]           serve the config
//	wasmsock dev     [-listen ADDR] [host.toml]           serve, watch and hot-reload plugins
//	wasmsock check   [host.toml]                          build everything serve builds, then stop
//	wasmsock bench   -url ws://... [-mode echo|broadcast]  load-test a running server
//	wasmsock test    [-v] scenario.toml...                run scripted conversations with a plugin
//	wasmsock new     --lang LANG [-dir DIR] [-sdk PATH] NAME  create a plugin project
//	wasmsock version                                      print the version and the ABI version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host"
	"github.com/wasmsock/wasmsock/host/config"
)

// version is set at release time with -ldflags "-X main.version=..."; otherwise it comes from the
// module's build info.
var version = ""

const usage = `wasmsock runs WebSocket servers whose application logic is WebAssembly plugins.

Usage:
  wasmsock <command> [flags] [config]

Commands:
  serve     serve the WebSocket routes of a config (default host.toml)
  dev       serve, and reload a plugin when its module (or, with a build command, a source) changes
  check     build everything serve would (plugins started, keys read), without listening:
            exit 1 exactly when serve would refuse to start
  bench     load-test a running server (echo round trips or broadcast fan-out)
  test      run scenario files against a plugin module, without a network
  new       create a plugin project (Go, Rust, C or AssemblyScript) that builds with make
  version   print the version of wasmsock and of the plugin ABI

Run "wasmsock <command> -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:], stderr, false)
	case "dev":
		return cmdServe(args[1:], stderr, true)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "bench":
		return cmdBench(args[1:], stdout, stderr)
	case "test":
		return cmdTest(args[1:], stdout, stderr)
	case "new":
		return cmdNew(args[1:], stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "wasmsock %s (plugin ABI v%d, %s)\n", versionString(), abi.Version, runtime.Version())
		return 0
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "wasmsock: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

func newFlags(name, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: wasmsock %s [flags] [config]\n\n%s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

// configFlag adds -config to fs; configPath then gives the config file: -config, or the one
// positional argument (wasmsock check broken.toml), else host.toml. Anything else on the command
// line is an error, never silently ignored.
func configFlag(fs *flag.FlagSet) func() (string, error) {
	flagged := fs.String("config", "", "the config `file` (default host.toml; the file may also be given as the last argument)")
	return func() (string, error) {
		args := fs.Args()
		switch {
		case len(args) > 1:
			return "", fmt.Errorf("one config file at most, got %d arguments: %q", len(args), args)
		case len(args) == 1 && *flagged != "" && *flagged != args[0]:
			return "", fmt.Errorf("two config files: -config %s and %s", *flagged, args[0])
		case len(args) == 1:
			return args[0], nil
		case *flagged != "":
			return *flagged, nil
		}
		return "host.toml", nil
	}
}

// printProblems writes err, a config error or New's, one problem per line.
func printProblems(w io.Writer, err error) {
	var ce *config.Error
	if errors.As(err, &ce) {
		for _, p := range ce.Problems {
			fmt.Fprintln(w, p.Error())
		}
		return
	}
	fmt.Fprintln(w, err)
}

func cmdServe(args []string, stderr io.Writer, dev bool) int {
	name, summary := "serve", `Serves the WebSocket routes of a config until SIGINT or SIGTERM, which drain: clients get
close code 1001 and plugins see on_close for every connection. SIGHUP (or POST /api/reload)
reloads the config: routes, plugins, limits and auth change live, without dropping a connection
the change does not concern, and one log line says what changed or why the new config was
refused (the running one keeps serving). Logs are JSON unless the config says otherwise.`
	if dev {
		name, summary = "dev", `Serves like "serve", and watches: the config is reloaded when its file is saved (as on
SIGHUP), a plugin is reloaded when its module file changes, or rebuilt (its "build" command) when
one of its "watch" sources changes; a failed build, a module that does not load or a config that
is refused is reported and the old one keeps serving. The status page is at /status; without an
admin key, it and the admin API answer requests from this machine only. Logs are text at debug
level unless the config says otherwise.`
	}
	fs := newFlags(name, summary, stderr)
	configPath := configFlag(fs)
	listen := fs.String("listen", "", "listen on this `address` instead of the config's listen")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	path, err := configPath()
	if err != nil {
		fmt.Fprintf(stderr, "wasmsock %s: %v\n", name, err)
		fs.Usage()
		return 2
	}
	// load reads the config as the flags say, at start and on every reload.
	load := func() (*config.Config, error) {
		cfg, err := config.Load(path)
		if err != nil {
			return nil, err
		}
		if *listen != "" {
			cfg.Listen = *listen
		}
		cfg.Dev = dev
		return cfg, nil
	}
	cfg, err := load()
	if err != nil {
		printProblems(stderr, err)
		return 1
	}
	log := newLogger(cfg.Log, dev, stderr)
	host.Version = versionString()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	srv, err := host.New(ctx, cfg, log)
	if err != nil {
		log.Error("cannot start: the config has problems (wasmsock check lists the same)")
		printProblems(stderr, err)
		return 1
	}
	srv.SetConfigLoader(load)
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	if dev {
		go func() {
			if err := srv.Watch(ctx); err != nil {
				log.Error("cannot watch the config and plugin files: reload with SIGHUP or POST /api/reload", "error", err)
			}
		}()
	}
	for {
		select {
		case err := <-errc:
			log.Error("serve", "error", err)
			_ = shutdown(srv)
			return 1
		case <-hup:
			log.Info("SIGHUP: reloading the config and the TLS certificate")
			srv.ReloadConfig(context.Background()) // logs what changed, or why it refused
			if err := srv.ReloadTLS(); err != nil {
				log.Error("SIGHUP: TLS certificate not reloaded", "error", err)
			}
			continue
		case <-ctx.Done():
		}
		break
	}
	stop()
	log.Info("signal received: draining", "timeout", srv.Config().DrainTimeout.D.String())
	if err := shutdown(srv); err != nil {
		log.Warn("drain timed out: remaining connections dropped", "error", err)
	}
	log.Info("stopped")
	return 0
}

// shutdown drains srv within the drain_timeout of the config serving now (a reload changes it).
func shutdown(srv *host.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), srv.Config().DrainTimeout.D)
	defer cancel()
	return srv.Shutdown(ctx)
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check", `Builds everything "serve" builds from a config, short of listening: every plugin is compiled,
validated and started (on_start with its config), every key file and variable is read, every
route and path checked. Each problem is printed on its own line as file:line: key: problem, and
the exit status is 1 exactly when "serve" would refuse to start.`, stderr)
	configPath := configFlag(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	path, err := configPath()
	if err != nil {
		fmt.Fprintf(stderr, "wasmsock check: %v\n", err)
		fs.Usage()
		return 2
	}
	cfg, err := config.Load(path)
	if err != nil {
		printProblems(stderr, err)
		return 1
	}
	if err := host.Check(context.Background(), cfg, nil); err != nil {
		printProblems(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok (%d plugins, %d routes)\n", cfg.File, len(cfg.Plugins), len(cfg.Routes))
	return 0
}

// newLogger builds the log: the config's level and format, else JSON at info for serve and text
// at debug for dev.
func newLogger(c config.Log, dev bool, w io.Writer) *slog.Logger {
	level, format := slog.LevelInfo, "json"
	if dev {
		level, format = slog.LevelDebug, "text"
	}
	if c.Level != "" {
		_ = level.UnmarshalText([]byte(c.Level))
	}
	if c.Format != "" {
		format = c.Format
	}
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
