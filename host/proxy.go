package host

import (
	"net"
	"net/netip"
	"strings"

	"github.com/wasmsock/wasmsock/host/config"
)

// trustedProxies are the addresses whose forwarding headers are believed (trusted_proxies). A nil
// *trustedProxies trusts nobody.
type trustedProxies struct {
	prefixes []netip.Prefix
}

func newTrustedProxies(entries []string) (*trustedProxies, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	t := &trustedProxies{}
	for _, e := range entries {
		p, err := config.ParseProxy(e)
		if err != nil {
			return nil, err
		}
		t.prefixes = append(t.prefixes, p)
	}
	return t, nil
}

// contains reports whether ip (a string as ipOf returns it) is a trusted proxy.
func (t *trustedProxies) contains(ip string) bool {
	if t == nil {
		return false
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	return t.containsAddr(a)
}

func (t *trustedProxies) containsAddr(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwarded is what the trusted proxies in front of a connection say about its client.
type forwarded struct {
	ip    string // the client's IP: the nearest address on the way that is not a trusted proxy
	proto string // how the client reached the proxies ("https", "http"); "" if not said
	host  string // the Host the client asked the proxy for; "" if not said
}

// resolve works out the client of a connection whose TCP peer is peerIP, from its request
// headers (get returns every value of a header). It believes the headers only when the peer is a
// trusted proxy, and then walks the chain of addresses from the nearest hop back, stopping at the
// first address that is not a trusted proxy: what a client writes into the headers itself is
// never taken for its address. ok is false when the peer is not a trusted proxy (use the peer).
//
// Forwarded (RFC 7239) is used when present, else X-Forwarded-For, X-Forwarded-Proto and
// X-Forwarded-Host. The protocol and host are those the nearest trusted proxy reports.
func (t *trustedProxies) resolve(peerIP string, get func(name string) []string) (forwarded, bool) {
	if !t.contains(peerIP) {
		return forwarded{}, false
	}
	var hops []string // the addresses of the chain, client first, as the headers list them
	var proto, host string
	if fw := get("forwarded"); len(fw) > 0 {
		for _, v := range fw {
			for elem := range strings.SplitSeq(v, ",") {
				for pair := range strings.SplitSeq(elem, ";") {
					k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
					if !ok {
						continue
					}
					val = strings.Trim(strings.TrimSpace(val), `"`)
					switch strings.ToLower(strings.TrimSpace(k)) {
					case "for":
						hops = append(hops, val)
					case "proto":
						proto = val
					case "host":
						host = val
					}
				}
			}
		}
	} else {
		for _, v := range get("x-forwarded-for") {
			for h := range strings.SplitSeq(v, ",") {
				hops = append(hops, strings.TrimSpace(h))
			}
		}
		if vs := get("x-forwarded-proto"); len(vs) > 0 {
			proto = lastListItem(vs)
		}
		if vs := get("x-forwarded-host"); len(vs) > 0 {
			host = lastListItem(vs)
		}
	}
	f := forwarded{ip: peerIP, proto: strings.ToLower(proto), host: host}
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := hopAddr(hops[i])
		if !ok {
			break // "unknown", an obfuscated identifier or garbage: the chain stops here
		}
		f.ip = a.String()
		if !t.containsAddr(a) {
			break
		}
	}
	return f, true
}

// lastListItem is the last item of a comma-separated header that may be repeated.
func lastListItem(vs []string) string {
	v := vs[len(vs)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}

// hopAddr parses a node of X-Forwarded-For or Forwarded's for=: an IP, "[v6]" or "[v6]:port" or
// "v4:port".
func hopAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if h, _, err := net.SplitHostPort(s); err == nil {
		s = h
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}
