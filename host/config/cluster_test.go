package config_test

import (
	"os"
	"testing"

	"github.com/wasmsock/wasmsock/host/config"
)

const clusterBase = "[plugin.a]\nmodule = \"m.wasm\"\n[[route]]\npath = \"/a\"\nplugin = \"a\"\n[cluster]\n" // [cluster] is line 6

func TestClusterDefaults(t *testing.T) {
	tests := []struct {
		name, table string
		urls        []string
	}{
		{"external", "", []string{config.DefaultClusterURL}},
		{"embedded", "embedded = true", nil},
		{"urls", `urls = ["nats://a:4222", "tls://b:4222"]`, []string{"nats://a:4222", "tls://b:4222"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err, _ := load(t, clusterBase+tc.table+"\n")
			if err != nil {
				t.Fatal(err)
			}
			cl := c.Cluster
			if cl.Name != config.DefaultClusterName || cl.NodeID != 0 || cl.EmbeddedListen != config.DefaultEmbeddedListen || cl.KV != config.KVNode ||
				cl.ConnectTimeout.D != dur(t, config.DefaultClusterConnectTimeout) || cl.RequestTimeout.D != dur(t, config.DefaultClusterRequestTimeout) {
				t.Errorf("defaults: %+v", cl)
			}
			if len(cl.URLs) != len(tc.urls) {
				t.Fatalf("urls %v, want %v", cl.URLs, tc.urls)
			}
			for i := range tc.urls {
				if cl.URLs[i] != tc.urls[i] {
					t.Errorf("urls %v, want %v", cl.URLs, tc.urls)
				}
			}
		})
	}
	c, err, _ := load(t, clusterBase[:len(clusterBase)-len("[cluster]\n")])
	if err != nil || c.Cluster != nil {
		t.Fatalf("no [cluster]: %v, %+v", err, c)
	}
}

func TestClusterProblems(t *testing.T) {
	os.Unsetenv("WASMSOCK_TEST_NO_SUCH_VAR")
	tests := []struct {
		name, table string
		want        []wantProblem
	}{
		{"name", `name = "a.b"`, []wantProblem{{7, "cluster.name", "a cluster name is"}}},
		{"node id", `node_id = 1024`, []wantProblem{{7, "cluster.node_id", "between 1 and 1023"}}},
		{"url scheme", `urls = ["http://x:4222"]`, []wantProblem{{-7, "cluster.urls[0]|cluster.urls", "want nats://"}}},
		{"embedded listen", "embedded = true\nembedded_listen = \"4222\"", []wantProblem{{8, "cluster.embedded_listen", "not host:port"}}},
		{"credentials file", `credentials_file = "no.creds"`, []wantProblem{{7, "cluster.credentials_file", "no.creds"}}},
		{"two auths", "credentials_file = \"m.wasm\"\ntoken_file = \"m.wasm\"", []wantProblem{{-6, "cluster", "at most one"}}},
		{"token env", `token_env = "WASMSOCK_TEST_NO_SUCH_VAR"`, []wantProblem{{7, "cluster.token_env", "not set"}}},
		{"tls pair", `tls_cert_file = "m.wasm"`, []wantProblem{{-6, "cluster.tls_key_file", "together"}}},
		{"timeout", `connect_timeout = "0s"`, []wantProblem{{7, "cluster.connect_timeout", "positive"}}},
		{"unknown key", `embeded = true`, []wantProblem{{7, "cluster.embeded", "unknown key"}}},
		{"kv", `kv = "redis"`, []wantProblem{{7, "cluster.kv", `want "node"`}}},
		{"kv case", `kv = "JetStream"`, []wantProblem{{7, "cluster.kv", `want "node"`}}},
		{"jetstream_dir without embedded", "kv = \"jetstream\"\njetstream_dir = \"js\"", []wantProblem{{8, "cluster.jetstream_dir", "only for the embedded"}}},
		{"jetstream_dir without kv", "embedded = true\njetstream_dir = \"js\"", []wantProblem{{8, "cluster.jetstream_dir", "only for the embedded"}}},
		{"embedded jetstream without dir", "embedded = true\nkv = \"jetstream\"", []wantProblem{{-6, "cluster.jetstream_dir", "required"}}},
		{"jetstream_dir a file", "embedded = true\nkv = \"jetstream\"\njetstream_dir = \"m.wasm\"", []wantProblem{{9, "cluster.jetstream_dir", "not a directory"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, path := tempConfig(t)
			if err := os.WriteFile(path, []byte(clusterBase+tc.table+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := config.Load(path)
			if err == nil {
				t.Fatal("no error")
			}
			checkProblems(t, err, path, dir, tc.want)
		})
	}
}
