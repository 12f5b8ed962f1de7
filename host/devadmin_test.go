package host_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmsock/wasmsock/host/config"
	"github.com/wasmsock/wasmsock/host/hosttest"
)

// TestDevAdminLocalOnly (issue 12 item 19): wasmsock dev without an admin key opens the admin API
// to this machine only, and to no cross-site request: what a page of another site makes a
// browser send (Origin, Sec-Fetch-Site), a DNS-rebinding Host, or a client that is not on
// loopback (here behind a trusted proxy) gets 403; curl on this machine gets in. A configured key
// does not let cross-site requests in either.
func TestDevAdminLocalOnly(t *testing.T) {
	abs, _ := filepath.Abs(probe)
	build := func(top string, dev bool) string {
		src := fmt.Sprintf("listen = \"127.0.0.1:0\"\ncompilation_cache = %q\n%s\n[plugin.p]\nmodule = %q\n[[route]]\npath = \"/ws\"\nplugin = \"p\"\n", testCache, top, abs)
		file := filepath.Join(t.TempDir(), "host.toml") // written: POST /api/reload reads it again
		if err := os.WriteFile(file, []byte(generousStart(src)), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Dev = dev
		_, base := hosttest.Serve(t, cfg, testLogger())
		return httpBase(base)
	}
	dev := build("trusted_proxies = [\"127.0.0.2\"]", true)
	t.Setenv("WASMSOCK_TEST_ADMIN_KEY", "test-admin-key-0123456789abcdef")
	keyed := build("[admin]\nkey_env = \"WASMSOCK_TEST_ADMIN_KEY\"", false)
	devHost := strings.TrimPrefix(dev, "http://")

	type req struct {
		name   string
		base   string
		method string
		path   string
		header map[string]string
		want   int
	}
	body := `{"group":"room","text":"hi"}`
	tests := []req{
		{"curl on this machine", dev, "POST", "/api/publish", nil, 200},
		{"curl on this machine, by name", dev, "POST", "/api/publish", map[string]string{"Host": "localhost:1"}, 200},
		{"status page typed into the browser", dev, "GET", "/status", map[string]string{"Sec-Fetch-Site": "none"}, 200},
		{"same-origin page", dev, "POST", "/api/reload", map[string]string{"Origin": "http://" + devHost, "Sec-Fetch-Site": "same-origin"}, 200},
		{"cross-site page (Chromium)", dev, "POST", "/api/publish", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"}, 403},
		{"cross-site page, reload", dev, "POST", "/api/reload", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, 403},
		{"cross-site page without Sec-Fetch-Site", dev, "POST", "/api/publish", map[string]string{"Origin": "http://evil.example"}, 403},
		{"same-site but another origin", dev, "POST", "/api/publish", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"DNS rebinding", dev, "POST", "/api/publish", map[string]string{"Host": "evil.example:8080"}, 403},
		{"X-Forwarded-For from a peer that is not a trusted proxy", dev, "POST", "/api/publish", map[string]string{"X-Forwarded-For": "192.0.2.1"}, 200},
		{"another machine, through the trusted proxy 127.0.0.2", dev, "POST", "/api/publish", map[string]string{"X-Forwarded-For": "192.0.2.1", "via": "127.0.0.2"}, 403},
		{"this machine, through the trusted proxy 127.0.0.2", dev, "POST", "/api/publish", map[string]string{"X-Forwarded-For": "127.0.0.1", "via": "127.0.0.2"}, 200},
		{"with the key", keyed, "POST", "/api/publish", map[string]string{"Authorization": "Bearer test-admin-key-0123456789abcdef"}, 200},
		{"with the key, cross-site (remembered Basic credentials)", keyed, "POST", "/api/publish",
			map[string]string{"Authorization": "Basic " + "eDp0ZXN0LWFkbWluLWtleS0wMTIzNDU2Nzg5YWJjZGVm", "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, 403},
		{"without the key", keyed, "POST", "/api/publish", nil, 401},
	}
	for _, tc := range tests {
		r, _ := http.NewRequest(tc.method, tc.base+tc.path, strings.NewReader(body))
		client := http.DefaultClient
		for k, v := range tc.header {
			switch k {
			case "Host":
				r.Host = v
			case "via": // connect from this local address
				d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(v)}}
				client = &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
			default:
				r.Header.Set(k, v)
			}
		}
		resp, err := client.Do(r)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d: %s", tc.name, resp.StatusCode, tc.want, b)
		}
	}
}
