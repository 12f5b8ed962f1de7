package host

import (
	"net"
	"sync"
	"time"
)

// bucket is a token bucket: rate tokens per second, up to burst. Its times are clock.Now's.
type bucket struct {
	tokens float64
	last   int64 // 0: never taken from
}

// take reports whether a token was available at now (clock.Now), and takes it.
func (b *bucket) take(now int64, rate, burst float64) bool {
	if b.last == 0 {
		b.tokens = burst
	} else {
		b.tokens = min(burst, b.tokens+time.Duration(now-b.last).Seconds()*rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// ipLimits tracks, per client IP, open WebSocket connections and the rate of new TCP
// connections, and the server-wide count of open WebSocket connections.
type ipLimits struct {
	mu sync.Mutex // guards everything below; a config reload changes the limits (set)

	maxTotal, maxPerIP int     // 0: no limit
	rate, burst        float64 // new connections per second per IP; 0: no limit
	// exempt says whether an address is a trusted proxy: its TCP connections are not rate
	// limited as it opens them (they carry many clients), but per client once the request
	// says which (see Server.check). nil: none.
	exempt func(ip string) bool

	total int
	ips   map[string]*ipState
	swept int64 // clock.Now of the last sweep
}

type ipState struct {
	open int
	b    bucket
}

func newIPLimits(maxTotal, maxPerIP int, rate float64) *ipLimits {
	l := &ipLimits{ips: map[string]*ipState{}}
	l.set(maxTotal, maxPerIP, rate)
	return l
}

// set changes the limits (a config reload), keeping the counts: a lower maximum refuses new
// connections until enough old ones have closed, and closes none.
func (l *ipLimits) set(maxTotal, maxPerIP int, rate float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.maxTotal, l.maxPerIP, l.rate, l.burst = maxTotal, maxPerIP, rate, 2*rate
}

func ipOf(addr net.Addr) string {
	if ta, ok := addr.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

// allowNew reports whether ip may open a new TCP connection now (the rate limit).
func (l *ipLimits) allowNew(ip string, now int64) bool {
	if l.exempt != nil && l.exempt(ip) {
		return true
	}
	return l.take(ip, now)
}

// take takes a token from ip's bucket of new connections.
func (l *ipLimits) take(ip string, now int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rate <= 0 {
		return true
	}
	l.sweep(now)
	st := l.state(ip)
	return st.b.take(now, l.rate, l.burst)
}

// acquire counts a new connection from ip, or reports which limit refuses it. ip "" is counted
// in the total only (a trusted proxy's connections, each carrying some client).
func (l *ipLimits) acquire(ip string) (ok bool, perIP bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.maxTotal > 0 && l.total >= l.maxTotal {
		return false, false
	}
	st := l.state(ip)
	if l.maxPerIP > 0 && ip != "" && st.open >= l.maxPerIP {
		return false, true
	}
	l.total++
	st.open++
	return true, false
}

// release uncounts a WebSocket connection from ip.
func (l *ipLimits) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if st := l.ips[ip]; st != nil {
		st.open--
	}
}

func (l *ipLimits) state(ip string) *ipState {
	st := l.ips[ip]
	if st == nil {
		st = &ipState{}
		l.ips[ip] = st
	}
	return st
}

// sweep forgets IPs with no open connection and a full bucket, at most once a minute, so the map
// does not grow with every address ever seen.
func (l *ipLimits) sweep(now int64) {
	if time.Duration(now-l.swept) < time.Minute {
		return
	}
	l.swept = now
	for ip, st := range l.ips {
		if st.open == 0 && time.Duration(now-st.b.last).Seconds()*l.rate >= l.burst {
			delete(l.ips, ip)
		}
	}
}
