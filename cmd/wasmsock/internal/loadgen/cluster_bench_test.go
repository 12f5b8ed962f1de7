package loadgen

// BenchmarkClusterBroadcast: BenchmarkBroadcast's load (1000 clients in one group, one sender,
// 999 receivers, the same window) on a cluster of two hosts on NATS, against the same load on
// one host, in the same run:
//
//	alone:      every client on a host without [cluster] (the in-process broker)
//	one-node:   every client on node A of a two-node cluster (A still publishes every message
//	            to NATS; no other node has members)
//	two-nodes:  the sender and 499 receivers on node A, 500 receivers on node B; A delivers to
//	            its members and publishes once, B receives once and delivers to its 500
//
// Node A embeds the NATS server, so NATS runs in the same process as the hosts and the clients.
//
//	go test -run '^$' -bench '^BenchmarkClusterBroadcast$' -benchtime 3000x ./cmd/wasmsock/internal/loadgen/

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/wasmsock/wasmsock/host"
)

var (
	clusterOnce sync.Once
	clusterA    string // ws:// base URLs of the two nodes
	clusterB    string
	clusterErr  error
)

// startClusterNode serves the fanout plugin on /fanout on a node of the cluster whose [cluster]
// table holds cluster.
func startClusterNode(fanout, cluster string) (*host.Server, string, error) {
	return serveHost(fmt.Sprintf(`[cluster]
%s
[plugin.fanout]
module = %q
[[route]]
path = "/fanout"
plugin = "fanout"
`, cluster, fanout))
}

// startCluster starts the two nodes once for the package; they run until the process exits.
func startCluster(b *testing.B) (string, string) {
	clusterOnce.Do(func() {
		fanout, err := filepath.Abs("../../../../testdata/wasm/fanout.wasm")
		if err != nil {
			clusterErr = err
			return
		}
		a, urlA, err := startClusterNode(fanout, "embedded = true\nembedded_listen = \"127.0.0.1:0\"")
		if err != nil {
			clusterErr = err
			return
		}
		_, urlB, err := startClusterNode(fanout, fmt.Sprintf("urls = [%q]", a.Cluster().Embedded()))
		if err != nil {
			clusterErr = err
			return
		}
		clusterA, clusterB = urlA, urlB
	})
	if clusterErr != nil {
		b.Fatal(clusterErr)
	}
	return clusterA, clusterB
}

func BenchmarkClusterBroadcast(b *testing.B) {
	a, bb := startCluster(b)
	b.Run("alone", func(b *testing.B) {
		runBroadcastOn(b, []string{base + "/fanout"}, []int{bcastClients})
	})
	b.Run("one-node", func(b *testing.B) {
		runBroadcastOn(b, []string{a + "/fanout"}, []int{bcastClients})
	})
	b.Run("two-nodes", func(b *testing.B) {
		runBroadcastOn(b, []string{a + "/fanout", bb + "/fanout"}, []int{bcastClients / 2, bcastClients / 2})
	})
}

// runBroadcastOn is runBroadcast with the clients spread over several URLs: counts[i] clients on
// urls[i], the sender being the first client of urls[0].
func runBroadcastOn(b *testing.B, urls []string, counts []int) {
	r, clients := dialBench(b, urls[0], counts[0])
	for i := 1; i < len(urls); i++ {
		_, more := dialBench(b, urls[i], counts[i])
		clients = append(clients, more...)
	}
	// Every node has its members and its subscription by now: fanout joins in on_connect,
	// before the 101, and a join that makes a node's first member waits until the NATS server
	// has the subscription. The warm-up checks that every receiver gets every message.
	measureBroadcast(b, r, clients)
}
