package host

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wasmsock/wasmsock/host/bus"
	"github.com/wasmsock/wasmsock/host/config"
	"github.com/wasmsock/wasmsock/host/plugin"
)

// busPrefix is the first tokens of every bus subject: "<cluster name>.bus".
func busPrefix(cfg *config.Config) string {
	return cfg.Cluster.Name + ".bus"
}

// newBus starts the event bus of plugin pc on the cluster's NATS connection, or returns nil when
// the host is a single node without [cluster]: the plugin's bus functions then answer
// abi.ErrUnavailable.
func (s *Server) newBus(cfg *config.Config, pc *config.Plugin) (*bus.Bus, error) {
	if s.cluster == nil {
		return nil, nil
	}
	// Subscribe waits for the server's confirmation within a guest call: at most half of it.
	opts := bus.Options{Prefix: busPrefix(cfg), SubscribeWait: pc.CallTimeout.D / 2}
	if pc.Bus != nil {
		opts.Shared = pc.Bus.Shared
		opts.QueueMessages = pc.Bus.QueueMessages
		opts.QueueBytes = int64(pc.Bus.QueueBytes)
	}
	return bus.New(s.cluster.Conn(), opts)
}

// InNamespace implements plugin.NamespacedHost: during on_event the plugin acts in the namespace
// of the subscription or request the event belongs to.
func (h *pluginHost) InNamespace(ns string) plugin.Host {
	return &pluginHost{s: h.s, plugin: h.plugin, ns: ns}
}

// busCollector reports the event bus's counters per plugin at scrape time.
type busCollector struct{ s *Server }

var busDescs = map[string]*prometheus.Desc{}

func busDesc(name, help string) *prometheus.Desc {
	d := prometheus.NewDesc("wasmsock_bus_"+name, help, []string{"plugin"}, nil)
	busDescs[name] = d
	return d
}

var (
	descBusPublished     = busDesc("published_total", "Messages plugins published to NATS (requests included).")
	descBusPublishErrors = busDesc("publish_errors_total", "Publications NATS refused (e.g. its reconnect buffer was full).")
	descBusDropped       = busDesc("publish_dropped_total", "Publications refused with ErrBusy: the plugin's publish queue was full.")
	descBusTooLarge      = busDesc("publish_too_large_total", "Publications refused with ErrTooLarge: over NATS's max payload.")
	descBusReceived      = busDesc("received_total", "Messages NATS delivered to plugin subscriptions.")
	descBusReplies       = busDesc("replies_total", "Answers to plugin requests.")
	descBusFailed        = busDesc("requests_failed_total", "Plugin requests that failed: timeout, no responders or an error answer.")
	descBusEvents        = busDesc("events_total", "Bus events handed to on_event.")
	descBusEventsDropped = busDesc("events_dropped_total", "Bus messages dropped before on_event: the instance's event queue was full, or its guest was replaced.")
)

func (c busCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range busDescs {
		ch <- d
	}
}

func (c busCollector) Collect(ch chan<- prometheus.Metric) {
	for name, lp := range c.s.cur.Load().plugins {
		b, p := lp.bus, lp.Plugin
		if b == nil {
			continue
		}
		st := b.Stats()
		for _, v := range []struct {
			d *prometheus.Desc
			n int64
		}{
			{descBusPublished, st.Published.Load()},
			{descBusPublishErrors, st.PublishErrors.Load()},
			{descBusDropped, st.Dropped.Load()},
			{descBusTooLarge, st.TooLarge.Load()},
			{descBusReceived, st.Received.Load()},
			{descBusReplies, st.Replies.Load()},
			{descBusFailed, st.Failed.Load()},
		} {
			ch <- prometheus.MustNewConstMetric(v.d, prometheus.CounterValue, float64(v.n), name)
		}
		if p != nil {
			ch <- prometheus.MustNewConstMetric(descBusEvents, prometheus.CounterValue, float64(p.Stats().Events.Load()), name)
			ch <- prometheus.MustNewConstMetric(descBusEventsDropped, prometheus.CounterValue, float64(p.Stats().EventsDropped.Load()), name)
		}
	}
}

// BusStatus is a plugin's event bus in a Status.
type BusStatus struct {
	State          string `json:"state"` // "on" or "off (no [cluster])"
	Published      int64  `json:"published"`
	PublishDropped int64  `json:"publish_dropped"`
	Received       int64  `json:"received"`
	Events         int64  `json:"events"`
	EventsDropped  int64  `json:"events_dropped"`
	RequestsFailed int64  `json:"requests_failed"`
}

// busStatus is the bus of plugin name for the status page and /api/status.
func (s *Server) busStatus(name string) BusStatus {
	lp := s.cur.Load().plugins[name]
	if lp == nil || lp.bus == nil {
		return BusStatus{State: "off (no [cluster])"}
	}
	st := lp.bus.Stats()
	bs := BusStatus{State: "on", Published: st.Published.Load(), PublishDropped: st.Dropped.Load(), Received: st.Received.Load(), RequestsFailed: st.Failed.Load()}
	if p := lp.Plugin; p != nil {
		bs.Events, bs.EventsDropped = p.Stats().Events.Load(), p.Stats().EventsDropped.Load()
	}
	return bs
}

func eventQueue(pc *config.Plugin) int {
	if pc.Bus == nil {
		return 0
	}
	return pc.Bus.EventQueue
}
