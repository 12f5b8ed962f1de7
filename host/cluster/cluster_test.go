package cluster

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmsock/wasmsock/host/config"
)

// conf parses a [cluster] table as the host would.
func conf(t *testing.T, table string) *config.Cluster {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.wasm"), []byte("\x00asm"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := "[plugin.p]\nmodule = \"p.wasm\"\n[[route]]\npath = \"/p\"\nplugin = \"p\"\n[cluster]\n" + table
	cfg, err := config.Parse(filepath.Join(dir, "host.toml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Cluster
}

func embedded(t *testing.T) *Node {
	t.Helper()
	n, err := Start(context.Background(), conf(t, "embedded = true\nembedded_listen = \"127.0.0.1:0\""), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}

func TestNodesGetDistinctIDsAndSeeEachOther(t *testing.T) {
	a := embedded(t)
	b, err := Start(context.Background(), conf(t, "urls = [\""+a.Embedded()+"\"]"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.ID() == b.ID() || a.ID() < 1 || b.ID() < 1 || a.ID() > config.MaxNodeID || b.ID() > config.MaxNodeID {
		t.Fatalf("ids %d and %d", a.ID(), b.ID())
	}
	if a.State() != Connected || b.State() != Connected {
		t.Fatalf("states %v %v", a.State(), b.State())
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(a.Peers()) != 1 || len(b.Peers()) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("peers: a %v, b %v", a.Peers(), b.Peers())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if a.Peers()[0].ID != b.ID() {
		t.Fatalf("a sees %v, want node %d", a.Peers(), b.ID())
	}
	// A node whose configured id is taken refuses to start.
	_, err = Start(context.Background(), conf(t, "urls = [\""+a.Embedded()+"\"]\nnode_id = "+itoa(a.ID())), nil)
	if err == nil || !strings.Contains(err.Error(), "cluster.node_id") || !strings.Contains(err.Error(), "taken") {
		t.Fatalf("duplicate node_id: %v", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestStartErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free, _ := net.Listen("tcp", "127.0.0.1:0")
	unreachable := free.Addr().String()
	free.Close()
	dir := t.TempDir()
	badCreds := filepath.Join(dir, "bad.creds")
	if err := os.WriteFile(badCreds, []byte("not a credentials file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, table string
		want        []string
	}{
		{"port taken", "embedded = true\nembedded_listen = \"" + busy.Addr().String() + "\"", []string{"cluster.embedded_listen", "address already in use"}},
		{"unreachable", "urls = [\"nats://" + unreachable + "\"]\nconnect_timeout = \"500ms\"", []string{"cluster.urls", "nats://" + unreachable}},
		{"bad credentials", "urls = [\"nats://" + unreachable + "\"]\ncredentials_file = \"" + badCreds + "\"", []string{"cluster.credentials_file", "not a NATS credentials file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(context.Background(), conf(t, tc.table))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// An embedded server with a token asks it of every client: the nodes that have it connect,
// others are refused with a clear error.
func TestEmbeddedToken(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "nats.token")
	if err := os.WriteFile(tok, []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := Start(context.Background(), conf(t, "embedded = true\nembedded_listen = \"127.0.0.1:0\"\ntoken_file = \""+tok+"\""), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Start(context.Background(), conf(t, "urls = [\""+a.Embedded()+"\"]\ntoken_file = \""+tok+"\""), nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	err = Check(context.Background(), conf(t, "urls = [\""+a.Embedded()+"\"]\nconnect_timeout = \"1s\""))
	if err == nil || !strings.Contains(err.Error(), "cluster.urls") || !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("no token: %v", err)
	}
}
