package host

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wasmsock/wasmsock/host/cluster"
)

// ClusterStatus is this node's view of its cluster, in Status.
type ClusterStatus struct {
	Name      string         `json:"name"`
	Node      int            `json:"node"`
	State     string         `json:"state"` // connected, reconnecting, ...
	NATS      string         `json:"nats"`  // the server this node is connected to
	Embedded  string         `json:"embedded,omitempty"`
	Peers     []cluster.Peer `json:"peers"` // the other nodes heard from lately
	Published int64          `json:"published"`
	Received  int64          `json:"received"`
	Lost      int64          `json:"lost"`
	TooLarge  int64          `json:"too_large"`
}

func (s *Server) clusterStatus() *ClusterStatus {
	n := s.cluster
	if n == nil {
		return nil
	}
	peers := n.Peers()
	slices.SortFunc(peers, func(a, b cluster.Peer) int { return a.ID - b.ID })
	st := &ClusterStatus{
		Name: n.Name(), Node: n.ID(), State: n.State().String(), NATS: n.Conn().ConnectedUrlRedacted(),
		Embedded: n.Embedded(), Peers: peers,
	}
	if b := s.broker; b != nil {
		st.Published, st.Received = b.Stats.Published.Load(), b.Stats.Received.Load()
		st.Lost, st.TooLarge = b.Stats.Lost.Load()+b.Dropped(), b.Stats.TooLarge.Load()
	}
	return st
}

// clusterCollector reports the cluster metrics at scrape time.
type clusterCollector struct{ s *Server }

var (
	descClusterConnected  = prometheus.NewDesc("wasmsock_cluster_connected", "1 while this node is connected to NATS.", nil, nil)
	descClusterNodes      = prometheus.NewDesc("wasmsock_cluster_nodes", "Nodes of the cluster this node hears from, itself included.", nil, nil)
	descClusterNode       = prometheus.NewDesc("wasmsock_cluster_node_info", "This node's id and cluster name.", []string{"cluster", "node"}, nil)
	descClusterReconnects = prometheus.NewDesc("wasmsock_cluster_reconnects_total", "Times the NATS connection came back after a loss.", nil, nil)
	descClusterSubs       = prometheus.NewDesc("wasmsock_cluster_group_subscriptions", "Group subjects this node subscribes to (groups with members here).", nil, nil)
	descClusterPub        = prometheus.NewDesc("wasmsock_cluster_publications_sent_total", "Group publications sent to the other nodes.", nil, nil)
	descClusterPubBytes   = prometheus.NewDesc("wasmsock_cluster_sent_bytes_total", "Bytes of group publications sent.", nil, nil)
	descClusterRecv       = prometheus.NewDesc("wasmsock_cluster_publications_received_total", "Group publications of other nodes received.", nil, nil)
	descClusterRecvBytes  = prometheus.NewDesc("wasmsock_cluster_received_bytes_total", "Bytes of group publications received.", nil, nil)
	descClusterLost       = prometheus.NewDesc("wasmsock_cluster_publications_lost_total", "Group publications lost: not sent while NATS was unreachable (disconnected), dropped by a subscription that fell behind (slow_consumer), or refused for being over NATS's max_payload (too_large).", []string{"reason"}, nil)
)

func (c clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descClusterConnected, descClusterNodes, descClusterNode, descClusterReconnects, descClusterSubs, descClusterPub, descClusterPubBytes, descClusterRecv, descClusterRecvBytes, descClusterLost} {
		ch <- d
	}
}

func (c clusterCollector) Collect(ch chan<- prometheus.Metric) {
	n, b := c.s.cluster, c.s.broker
	if n == nil || b == nil {
		return
	}
	connected := 0.0
	if n.State() == cluster.Connected {
		connected = 1
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descClusterConnected, connected)
	gauge(descClusterNodes, float64(len(n.Peers())+1))
	gauge(descClusterNode, 1, n.Name(), itoa(n.ID()))
	gauge(descClusterSubs, float64(b.Subscriptions()))
	counter(descClusterReconnects, n.Reconnects.Load())
	counter(descClusterPub, b.Stats.Published.Load())
	counter(descClusterPubBytes, b.Stats.PublishedBytes.Load())
	counter(descClusterRecv, b.Stats.Received.Load())
	counter(descClusterRecvBytes, b.Stats.ReceivedBytes.Load())
	counter(descClusterLost, b.Stats.Lost.Load(), "disconnected")
	counter(descClusterLost, b.Dropped(), "slow_consumer")
	counter(descClusterLost, b.Stats.TooLarge.Load(), "too_large")
}
