package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
)

// Cluster defaults. README.md documents the same values.
const (
	DefaultClusterName           = "wasmsock"
	DefaultClusterURL            = "nats://127.0.0.1:4222"
	DefaultEmbeddedListen        = "127.0.0.1:4222"
	DefaultClusterConnectTimeout = "5s"
	DefaultClusterRequestTimeout = "2s"
	// KVNode and KVJetStream are the values of [cluster] kv.
	KVNode      = "node"
	KVJetStream = "jetstream"
	// MaxNodeID is the largest node id: a connection id holds the node id in its bits 43-52, so
	// that every id stays below 2^53 (exact in JavaScript and in JSON parsers that use doubles).
	MaxNodeID = 1023
)

// Cluster is the [cluster] table: this host is one node of a cluster whose nodes share groups,
// users and the backend API through NATS. Without the table the host is a single node and needs
// nothing else (package host/cluster documents the lifecycle).
type Cluster struct {
	// Name keeps clusters that share NATS servers apart: it is the first token of every subject
	// the nodes use. Every node of a cluster has the same name.
	Name string `toml:"name"`
	// NodeID is this node's id, 1-1023, unique in the cluster; 0 (the default) picks a free one
	// at start.
	NodeID int `toml:"node_id"`
	// URLs are the NATS servers to connect to (nats://, tls://). Default: the embedded server when
	// Embedded is set, else nats://127.0.0.1:4222.
	URLs []string `toml:"urls"`

	// Embedded runs a NATS server inside this process, listening on EmbeddedListen; the other
	// nodes list it in their urls. This node connects to it too.
	Embedded       bool   `toml:"embedded"`
	EmbeddedListen string `toml:"embedded_listen"`

	// Authentication to NATS: a credentials file (JWT and nkey seed, as nsc makes them), or a
	// token read from an environment variable or a file. At most one of the three.
	CredentialsFile string `toml:"credentials_file"`
	TokenEnv        string `toml:"token_env"`
	TokenFile       string `toml:"token_file"`
	// TLS to NATS: a CA to verify the servers with, and a client certificate and key when the
	// servers ask for one. Any of them turns TLS on.
	TLSCAFile   string `toml:"tls_ca_file"`
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`

	// KV is where the plugins' shared stores (kv_get, kv_set, kv_cas, kv_delete) live: "node"
	// (the default: each node keeps its own in memory) or "jetstream" (a NATS JetStream
	// key-value bucket per plugin, shared by every node; the NATS servers must run JetStream).
	KV string `toml:"kv"`
	// JetStreamDir is where the embedded NATS server keeps JetStream's data: with embedded =
	// true and kv = "jetstream" (required then), the embedded server runs JetStream.
	JetStreamDir string `toml:"jetstream_dir"`

	// ConnectTimeout bounds how long serve and check wait for NATS at start.
	ConnectTimeout Duration `toml:"connect_timeout"`
	// RequestTimeout bounds how long a backend API call, or a plugin's presence call (group_size,
	// group_members: also at most half of what is left of its call_timeout), waits for the other
	// nodes' answers.
	RequestTimeout Duration `toml:"request_timeout"`
}

var clusterName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// validateCluster applies the [cluster] defaults and checks the table.
func (c *Config) validateCluster(v *validator) {
	cl := c.Cluster
	if cl == nil {
		return
	}
	setStr(&cl.Name, DefaultClusterName)
	setStr(&cl.EmbeddedListen, DefaultEmbeddedListen)
	setDur(&cl.ConnectTimeout, DefaultClusterConnectTimeout)
	setDur(&cl.RequestTimeout, DefaultClusterRequestTimeout)
	if !clusterName.MatchString(cl.Name) {
		v.add("cluster.name", fmt.Sprintf("%q: a cluster name is 1-32 letters, digits, '-' or '_'", cl.Name))
	}
	if cl.NodeID < 0 || cl.NodeID > MaxNodeID {
		v.add("cluster.node_id", fmt.Sprintf("must be between 1 and %d (0 picks a free one)", MaxNodeID))
	}
	if cl.Embedded {
		if _, port, err := net.SplitHostPort(cl.EmbeddedListen); err != nil {
			v.add("cluster.embedded_listen", fmt.Sprintf("%q is not host:port", cl.EmbeddedListen))
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			v.add("cluster.embedded_listen", fmt.Sprintf("%q: bad port", cl.EmbeddedListen))
		}
	} else if len(cl.URLs) == 0 {
		cl.URLs = []string{DefaultClusterURL}
	}
	for i, u := range cl.URLs {
		pu, err := url.Parse(u)
		switch {
		case err != nil:
			v.add(fmt.Sprintf("cluster.urls[%d]", i), fmt.Sprintf("%q is not a URL", u))
		case pu.Scheme != "nats" && pu.Scheme != "tls":
			v.add(fmt.Sprintf("cluster.urls[%d]", i), fmt.Sprintf("%q: want nats://HOST:PORT or tls://HOST:PORT", u))
		case pu.Host == "":
			v.add(fmt.Sprintf("cluster.urls[%d]", i), fmt.Sprintf("%q has no host", u))
		}
	}
	auths := 0
	for _, s := range []string{cl.CredentialsFile, cl.TokenEnv, cl.TokenFile} {
		if s != "" {
			auths++
		}
	}
	if auths > 1 {
		v.add("cluster", "set at most one of credentials_file, token_env, token_file")
	}
	if cl.TokenEnv != "" && os.Getenv(cl.TokenEnv) == "" {
		v.add("cluster.token_env", fmt.Sprintf("environment variable %s is not set", cl.TokenEnv))
	}
	for _, f := range []struct {
		key string
		p   *string
	}{
		{"cluster.credentials_file", &cl.CredentialsFile},
		{"cluster.token_file", &cl.TokenFile},
		{"cluster.tls_ca_file", &cl.TLSCAFile},
		{"cluster.tls_cert_file", &cl.TLSCertFile},
		{"cluster.tls_key_file", &cl.TLSKeyFile},
	} {
		if *f.p == "" {
			continue
		}
		if !filepath.IsAbs(*f.p) {
			*f.p = filepath.Join(c.Dir, *f.p)
		}
		if st, err := os.Stat(*f.p); err != nil {
			v.add(f.key, errMsg(err))
		} else if st.IsDir() {
			v.add(f.key, fmt.Sprintf("%q is a directory, not a file", *f.p))
		}
	}
	if (cl.TLSCertFile == "") != (cl.TLSKeyFile == "") {
		v.add("cluster.tls_key_file", "set tls_cert_file and tls_key_file together")
	}
	setStr(&cl.KV, KVNode)
	switch cl.KV {
	case KVNode:
	case KVJetStream:
		if cl.Embedded && cl.JetStreamDir == "" {
			v.add("cluster.jetstream_dir", `required with embedded = true and kv = "jetstream": the directory where the embedded NATS server keeps the shared stores`)
		}
	default:
		v.add("cluster.kv", fmt.Sprintf(`%q: want "node" (each node's own store) or "jetstream" (shared by every node)`, cl.KV))
	}
	if cl.JetStreamDir != "" {
		if !cl.Embedded || cl.KV != KVJetStream {
			v.add("cluster.jetstream_dir", `only for the embedded NATS server's JetStream: set embedded = true and kv = "jetstream", or remove it`)
		} else if !filepath.IsAbs(cl.JetStreamDir) {
			cl.JetStreamDir = filepath.Join(c.Dir, cl.JetStreamDir)
		}
		if st, err := os.Stat(cl.JetStreamDir); err == nil && !st.IsDir() {
			v.add("cluster.jetstream_dir", fmt.Sprintf("%q is a file, not a directory", cl.JetStreamDir))
		}
	}
	if cl.ConnectTimeout.D <= 0 {
		v.add("cluster.connect_timeout", "must be positive")
	}
	if cl.RequestTimeout.D <= 0 {
		v.add("cluster.request_timeout", "must be positive")
	}
}
