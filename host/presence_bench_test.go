package host_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/wasmsock/wasmsock/host/cluster/natstest"
	"github.com/wasmsock/wasmsock/host/wstest"
)

// BenchmarkClusterPresence measures presence in a cluster: one client's round trip to the probe
// plugin (the message in, the plugin calls group_size or group_members, the reply out), with a
// room of members spread over two nodes (half on each; the asking client on node A), side by side
// in one run with the same room on one host without a cluster and with an echo. In the cluster the
// call is a scatter-gather over NATS: one request to every other node and their answers.
//
//	go test -run '^$' -bench '^BenchmarkClusterPresence$' -benchtime 2000x ./host/
func BenchmarkClusterPresence(b *testing.B) {
	// One IP opens all the clients: the per-client limits off.
	const noLimits = "[limits]\nmax_connections = 0\nmax_connections_per_ip = 0\nconnections_per_second_per_ip = 0\nmessages_per_second = 0"
	const route = "\n[[route]]\npath = \"/ws\"\nplugin = \"p\"\nuser_from = \"query:u\"\n"
	probe := "../testdata/plugins/probe/probe.wasm"
	for _, size := range []int{10, 100, 1000} {
		_, alone := startConfigTop(b, noLimits, probe, route)
		ns := natstest.Start(b, nil)
		clustered := fmt.Sprintf("%s\n[cluster]\nurls = [%q]", noLimits, ns.ClientURL())
		a, baseA := startConfigTop(b, clustered, probe, route)
		bn, baseB := startConfigTop(b, clustered, probe, route)
		waitPeers(b, a, bn)
		join := func(base string, i int) *wstest.Client {
			c := wstest.Dial(b, base+"/ws?u=user"+strconv.Itoa(i), nil)
			c.Send(ws.OpText, []byte("join room"))
			if _, p := c.Read(); string(p) != "ok" {
				b.Fatalf("join: %q", p)
			}
			return c
		}
		var soloAsker, clusterAsker *wstest.Client
		for i := range size {
			soloAsker = join(alone, i)
			if i%2 == 0 {
				clusterAsker = join(baseA, i)
			} else {
				join(baseB, i)
			}
		}
		for _, setup := range []struct {
			name string
			c    *wstest.Client
		}{{"alone", soloAsker}, {"cluster2", clusterAsker}} {
			for _, cmd := range []string{"echo x", "size room", "members room"} {
				want := strings.Fields(cmd)[0]
				if want == "echo" {
					want = "x"
				}
				b.Run(fmt.Sprintf("%d/%s/%s", size, setup.name, strings.Fields(cmd)[0]), func(b *testing.B) {
					c := setup.c
					for range b.N {
						c.Send(ws.OpText, []byte(cmd))
						if _, p := c.Read(); !strings.HasPrefix(string(p), want) {
							b.Fatalf("%s: %.60q", cmd, p)
						}
					}
				})
			}
		}
	}
}
