package host_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/gobwas/ws"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wasmsock/wasmsock/host/wstest"
)

func httpBase(wsBase string) string { return "http" + strings.TrimPrefix(wsBase, "ws") }

// scrape fetches /metrics and parses it as Prometheus does.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(httpBase(base) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// metric returns the value of the sample of family name whose labels include labels (a counter,
// gauge, or a histogram's count); -1 when there is none.
func metric(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

func TestMetrics(t *testing.T) {
	_, base := startConfig(t, probe, "[[route]]\npath = \"/ws\"\nplugin = \"p\"")
	c := wstest.Dial(t, base+"/ws", nil)
	for i := 0; i < 5; i++ {
		command(t, c, "echo hi")
	}
	_, _ = wstest.TryDial(t, base+"/ws?reject=403", nil)
	bad := wstest.Dial(t, base+"/ws", nil)
	bad.WriteRaw([]byte{0x81, 0x01, 'x'}) // unmasked: 1002
	bad.ExpectClose(5 * time.Second)

	checks := []struct {
		name   string
		labels []string
		min    float64
	}{
		{"wasmsock_connections", []string{"route", "/ws"}, 1},
		{"wasmsock_messages_in_total", []string{"route", "/ws"}, 5},
		{"wasmsock_messages_out_total", []string{"route", "/ws"}, 5},
		{"wasmsock_bytes_in_total", []string{"route", "/ws"}, 35},
		{"wasmsock_plugin_call_seconds", []string{"plugin", "p", "event", "on_message"}, 5},
		{"wasmsock_handshake_rejections_total", []string{"reason", "plugin_refused"}, 1},
		{"wasmsock_protocol_errors_total", []string{"code", "1002"}, 1},
		{"wasmsock_plugin_faults_total", []string{"plugin", "p"}, 0},
		{"go_goroutines", nil, 1},
	}
	// Some counters move after the client has its answer (the rejection, the protocol error's
	// close): scrape until every check holds, or report those that do not.
	var failed []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		fams := scrape(t, base)
		failed = failed[:0]
		for _, ck := range checks {
			if v := metric(fams, ck.name, ck.labels...); v < ck.min {
				failed = append(failed, fmt.Sprintf("%s%v = %v, want >= %v", ck.name, ck.labels, v, ck.min))
			}
		}
		if len(failed) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, f := range failed {
		t.Error(f)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	_, base := startConfig(t, "../testdata/wasm/trap.wasm", "[[route]]\npath = \"/ws\"\nplugin = \"p\"")
	get := func(path string) int {
		resp, err := http.Get(httpBase(base) + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if get("/healthz") != 200 || get("/readyz") != 200 {
		t.Fatal("a fresh server is not healthy and ready")
	}
	_ = get
}

// adminServer serves the probe with an admin key from a file.
func adminServer(t *testing.T) (string, string) {
	t.Helper()
	key := "test-admin-key-0123456789abcdef"
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "admin.key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, base := startConfigTop(t, "[admin]\nkey_file = \""+keyFile+"\"\nstatus_page = \"/status\"", probe, `
[[route]]
path = "/ws"
plugin = "p"
namespace_from = "query:ns"
user_from = "query:user"`)
	return base, key
}

func api(t *testing.T, base, key, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, httpBase(base)+path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestAdminAPI(t *testing.T) {
	base, key := adminServer(t)
	alice := wstest.Dial(t, base+"/ws?ns=acme&user=alice", nil)
	alice2 := wstest.Dial(t, base+"/ws?ns=acme&user=alice", nil)
	other := wstest.Dial(t, base+"/ws?ns=other&user=alice", nil)
	for _, c := range []*wstest.Client{alice, alice2, other} {
		command(t, c, "join room")
	}

	if code, _ := api(t, base, "", "POST", "/api/publish", map[string]any{"group": "room", "text": "x"}); code != 401 {
		t.Errorf("no key: %d, want 401", code)
	}
	if code, _ := api(t, base, "wrong-key-wrong-key-wrong", "GET", "/api/status", nil); code != 401 {
		t.Errorf("wrong key: %d, want 401", code)
	}

	code, out := api(t, base, key, "POST", "/api/publish", map[string]any{"namespace": "acme", "group": "room", "text": "to the room"})
	if code != 200 || out["delivered"] != 2.0 {
		t.Fatalf("publish: %d %v", code, out)
	}
	for _, c := range []*wstest.Client{alice, alice2} {
		if _, got := c.Read(); string(got) != "to the room" {
			t.Errorf("publish received %q", got)
		}
	}
	code, out = api(t, base, key, "POST", "/api/send", map[string]any{"namespace": "other", "user": "alice", "binary": []byte{1, 2, 3}})
	if code != 200 || out["delivered"] != 1.0 {
		t.Fatalf("send to user: %d %v", code, out)
	}
	if op, got := other.Read(); op != ws.OpBinary || !bytes.Equal(got, []byte{1, 2, 3}) {
		t.Errorf("send to user received %v %v", op, got)
	}
	id := command(t, alice2, "id")
	code, out = api(t, base, key, "GET", "/api/groups?namespace=acme&group=room", nil)
	if members, _ := out["members"].([]any); code != 200 || len(members) != 2 {
		t.Errorf("members: %d %v", code, out)
	}
	if code, _ := api(t, base, key, "POST", "/api/close", map[string]any{"conn": json.Number(id), "code": 4001, "reason": "kicked"}); code != 200 {
		t.Errorf("close: %d", code)
	}
	if code, reason := alice2.ExpectClose(5 * time.Second); code != 4001 || reason != "kicked" {
		t.Errorf("closed with %d %q", code, reason)
	}
	if code, out := api(t, base, key, "POST", "/api/publish", map[string]any{"group": "room", "text": "x", "extra": 1}); code != 400 {
		t.Errorf("unknown field: %d %v", code, out)
	}
	code, out = api(t, base, key, "POST", "/api/reload", nil)
	if reloads, _ := out["reloads"].([]any); code != 200 || len(reloads) != 1 || reloads[0].(map[string]any)["changed"] != false {
		t.Errorf("reload of an unchanged module: %d %v", code, out)
	}
	code, out = api(t, base, key, "GET", "/api/status", nil)
	if plugins, _ := out["plugins"].([]any); code != 200 || len(plugins) != 1 {
		t.Errorf("status: %d %v", code, out)
	}
}

// TestStatusPageInBrowser renders the status page in headless Chromium with the admin key.
func TestStatusPageInBrowser(t *testing.T) {
	bctx := browser(t)
	base, key := adminServer(t)
	c := wstest.Dial(t, base+"/ws?ns=acme&user=alice", nil)
	command(t, c, "join lobby")
	tab, cancel := chromedp.NewContext(bctx)
	defer cancel()
	var text string
	var shot []byte
	err := chromedp.Run(tab,
		network.Enable(),
		network.SetExtraHTTPHeaders(network.Headers{"Authorization": "Bearer " + key}),
		chromedp.Navigate(httpBase(base)+"/status"),
		chromedp.WaitVisible("#plugins", chromedp.ByQuery),
		chromedp.Text("body", &text, chromedp.ByQuery),
		chromedp.FullScreenshot(&shot, 100),
	)
	if err != nil {
		t.Fatalf("status page: %v", err)
	}
	for _, want := range []string{"/ws", "1 connections", "lobby", "acme", "user:alice"} {
		if !strings.Contains(text, want) {
			t.Errorf("status page lacks %q:\n%s", want, text)
		}
	}
	file := filepath.Join(screenshotDir(t), "status.png")
	_ = os.WriteFile(file, shot, 0o644)
	t.Logf("screenshot: %s", file)
}
