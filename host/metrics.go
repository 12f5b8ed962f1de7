package host

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus metrics, in a registry of its own (served at /metrics).
type metrics struct {
	reg *prometheus.Registry

	connections      *prometheus.GaugeVec   // route
	messagesIn       *prometheus.CounterVec // route
	bytesIn          *prometheus.CounterVec // route
	messagesOut      *prometheus.CounterVec // route
	bytesOut         *prometheus.CounterVec // route
	handshakeRejects *prometheus.CounterVec // reason
	protocolErrors   *prometheus.CounterVec // close code
	slowConsumers    *prometheus.CounterVec // route
	pingTimeouts     prometheus.Counter
	rateLimited      prometheus.Counter
	fanout           prometheus.Histogram
	pluginCalls      *prometheus.HistogramVec // plugin, event
	reloads          *prometheus.CounterVec   // plugin
	reloadFailures   *prometheus.CounterVec   // plugin
	groupLimits      *prometheus.CounterVec   // limit
	configReloads    *prometheus.CounterVec   // result: applied or refused
	// presenceUnavailable counts presence calls answered ErrUnavailable (cluster incomplete).
	presenceUnavailable prometheus.Counter
}

// routeMetrics are one route's children of the vectors, looked up once.
type routeMetrics struct {
	connections                                prometheus.Gauge
	messagesIn, bytesIn, messagesOut, bytesOut prometheus.Counter
	slowConsumers                              prometheus.Counter
	open                                       atomic.Int64 // connections open on the route
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	ns := "wasmsock"
	m.connections = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "connections", Help: "Open WebSocket connections."}, []string{"route"})
	m.messagesIn = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "messages_in_total", Help: "Data messages received from clients."}, []string{"route"})
	m.bytesIn = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "bytes_in_total", Help: "Payload bytes of data messages received."}, []string{"route"})
	m.messagesOut = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "messages_out_total", Help: "Data messages queued to clients (a broadcast counts once per recipient)."}, []string{"route"})
	m.bytesOut = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "bytes_out_total", Help: "Frame bytes of data messages queued to clients."}, []string{"route"})
	m.handshakeRejects = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "handshake_rejections_total", Help: "Handshakes refused, by reason."}, []string{"reason"})
	m.protocolErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "protocol_errors_total", Help: "Connections closed for breaking the protocol, by close code."}, []string{"code"})
	m.slowConsumers = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "slow_consumers_total", Help: "Connections closed because their outbound queue was full (queue drops)."}, []string{"route"})
	m.pingTimeouts = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "ping_timeouts_total", Help: "Connections dropped for not answering a ping."})
	m.rateLimited = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "rate_limited_total", Help: "Connections closed (1008) for going over messages_per_second."})
	m.fanout = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "broadcast_fanout", Help: "Recipients per broadcast.", Buckets: prometheus.ExponentialBuckets(1, 4, 9)})
	m.pluginCalls = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "plugin_call_seconds", Help: "Duration of calls into plugins, by event.", Buckets: prometheus.ExponentialBuckets(1e-6, 4, 11)}, []string{"plugin", "event"})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "plugin_reloads_total", Help: "Successful plugin reloads."}, []string{"plugin"})
	m.reloadFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "plugin_reload_failures_total", Help: "Reloads refused; the old module kept serving."}, []string{"plugin"})
	m.groupLimits = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "group_limit_refusals_total", Help: "Joins refused because a connection (per_connection) or the host (total) is at its group limit."}, []string{"limit"})
	f(m.groupLimits)
	m.configReloads = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "config_reloads_total", Help: "Config reloads, by result: applied, or refused (the running config kept serving)."}, []string{"result"})
	m.presenceUnavailable = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "presence_unavailable_total", Help: "group_size and group_members calls answered ErrUnavailable: NATS unreachable, or a node of the cluster did not answer in time."})
	for _, c := range []prometheus.Collector{m.presenceUnavailable, m.configReloads, m.connections, m.messagesIn, m.bytesIn, m.messagesOut, m.bytesOut, m.handshakeRejects, m.protocolErrors, m.slowConsumers, m.pingTimeouts, m.rateLimited, m.fanout, m.pluginCalls, m.reloads, m.reloadFailures} {
		f(c)
	}
	f(pluginCollector{s})
	f(busCollector{s})
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) forRoute(path string) *routeMetrics {
	return &routeMetrics{
		connections:   m.connections.WithLabelValues(path),
		messagesIn:    m.messagesIn.WithLabelValues(path),
		bytesIn:       m.bytesIn.WithLabelValues(path),
		messagesOut:   m.messagesOut.WithLabelValues(path),
		bytesOut:      m.bytesOut.WithLabelValues(path),
		slowConsumers: m.slowConsumers.WithLabelValues(path),
	}
}

// observer returns the plugin call observer for a plugin.
func (m *metrics) observer(plugin string) func(string, time.Duration) {
	onConnect := m.pluginCalls.WithLabelValues(plugin, "on_connect")
	onMessage := m.pluginCalls.WithLabelValues(plugin, "on_message")
	onClose := m.pluginCalls.WithLabelValues(plugin, "on_close")
	return func(event string, d time.Duration) {
		var o prometheus.Observer
		switch event { // called for every message: a switch, not a map's hashing
		case "on_message":
			o = onMessage
		case "on_connect":
			o = onConnect
		case "on_close":
			o = onClose
		default:
			return
		}
		o.Observe(d.Seconds())
	}
}

func (m *metrics) reject(reason string) { m.handshakeRejects.WithLabelValues(reason).Inc() }

func (m *metrics) protocolError(code int) { m.protocolErrors.WithLabelValues(strconv.Itoa(code)).Inc() }

// pluginCollector reports the plugins' own counters at scrape time.
type pluginCollector struct{ s *Server }

var (
	descFaults   = prometheus.NewDesc("wasmsock_plugin_faults_total", "Plugin traps, exits and timeouts.", []string{"plugin"}, nil)
	descTimeouts = prometheus.NewDesc("wasmsock_plugin_timeouts_total", "Plugin calls interrupted by call_timeout.", []string{"plugin"}, nil)
	descRestarts = prometheus.NewDesc("wasmsock_plugin_restarts_total", "Plugin instances replaced after a fault.", []string{"plugin"}, nil)
	descDisabled = prometheus.NewDesc("wasmsock_plugin_disabled", "1 while the plugin is in crash-loop backoff (refusing connections; it retries by itself).", []string{"plugin"}, nil)
	descLoops    = prometheus.NewDesc("wasmsock_plugin_crash_loops_total", "Times the plugin entered crash-loop backoff.", []string{"plugin"}, nil)
	descRecycles = prometheus.NewDesc("wasmsock_plugin_recycles_total", "Plugin instances replaced because their memory passed memory_recycle.", []string{"plugin"}, nil)
	descLogDrops = prometheus.NewDesc("wasmsock_plugin_log_dropped_total", "Plugin log lines dropped by log_lines_per_second.", []string{"plugin"}, nil)
	descQueued   = prometheus.NewDesc("wasmsock_plugin_queued_bytes", "Inbound event bytes waiting in the plugin's mailboxes.", []string{"plugin"}, nil)
)

func (c pluginCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descFaults
	ch <- descTimeouts
	ch <- descRestarts
	ch <- descDisabled
	ch <- descLoops
	ch <- descRecycles
	ch <- descLogDrops
	ch <- descQueued
}

func (c pluginCollector) Collect(ch chan<- prometheus.Metric) {
	for name, p := range c.s.cur.Load().plugins {
		st := p.Stats()
		ch <- prometheus.MustNewConstMetric(descFaults, prometheus.CounterValue, float64(st.Faults.Load()), name)
		ch <- prometheus.MustNewConstMetric(descTimeouts, prometheus.CounterValue, float64(st.Timeouts.Load()), name)
		ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(st.Restarts.Load()), name)
		disabled := 0.0
		if p.Disabled() {
			disabled = 1
		}
		ch <- prometheus.MustNewConstMetric(descDisabled, prometheus.GaugeValue, disabled, name)
		ch <- prometheus.MustNewConstMetric(descLoops, prometheus.CounterValue, float64(st.CrashLoops.Load()), name)
		ch <- prometheus.MustNewConstMetric(descRecycles, prometheus.CounterValue, float64(st.Recycles.Load()), name)
		ch <- prometheus.MustNewConstMetric(descLogDrops, prometheus.CounterValue, float64(st.LogDropped.Load()), name)
		_, queued := p.Queued()
		ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(queued), name)
	}
}
