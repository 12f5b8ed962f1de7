package host_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wasmsock/wasmsock/host/config"
	"github.com/wasmsock/wasmsock/host/hosttest"
	"github.com/wasmsock/wasmsock/host/wstest"
)

// TestAnonymousCannotChooseNamespace (issue 12 item 18): on a route whose namespace comes from the
// token (namespace_claim) but which lets clients without a token in (required = false), an
// anonymous client asking for a tenant's namespace stays in the default namespace, and cannot
// reach that tenant's users or groups. The config that would read the namespace from the request
// is refused by config validation; this builds it anyway, to test the host's own guard.
func TestAnonymousCannotChooseNamespace(t *testing.T) {
	t.Setenv("WASMSOCK_TEST_JWT_SECRET", testSecret)
	abs, _ := filepath.Abs(probe)
	src := fmt.Sprintf(`listen = "127.0.0.1:0"
compilation_cache = %q
[plugin.p]
module = %q
[[route]]
path = "/ws"
plugin = "p"
[route.auth]
required = false
algorithms = ["HS256"]
secret = { env = "WASMSOCK_TEST_JWT_SECRET" }
namespace_claim = "tenant"
`, testCache, abs)
	path := filepath.Join(t.TempDir(), "host.toml")
	if _, err := config.Parse(path, []byte(src+"[[route]]\npath = \"/x\"\nplugin = \"p\"\nnamespace_from = \"query:namespace\"\nauth = { required = false, algorithms = [\"HS256\"], secret = { env = \"WASMSOCK_TEST_JWT_SECRET\" }, namespace_claim = \"tenant\" }\n")); err == nil {
		t.Errorf("config with namespace_claim and namespace_from accepted")
	}
	cfg, err := config.Parse(path, []byte(generousStart(src)))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Routes[0].NamespaceFrom = "query:namespace" // past validation: the guard must hold alone
	cfg.Routes[0].Namespace = config.Source{Kind: "query", Name: "namespace"}
	_, base := hosttest.Serve(t, cfg, testLogger())

	tok := token(t, jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"sub": "alice", "tenant": "acme", "exp": time.Now().Add(time.Hour).Unix()})
	alice := wstest.Dial(t, base+"/ws", http.Header{"Authorization": {"Bearer " + tok}})
	if got := command(t, alice, "get namespace"); got != "acme" {
		t.Fatalf("alice's namespace: %q, want acme (from the token)", got)
	}
	command(t, alice, "join room")

	// (The probe does not answer an empty value: the default namespace shows by the group the
	// anonymous client reaches.)
	lobby := wstest.Dial(t, base+"/ws", nil)
	command(t, lobby, "join lobby")
	anon := wstest.Dial(t, base+"/ws?namespace=acme", nil)
	if got := command(t, anon, "bcast lobby hi"); got != "sent 1" {
		t.Errorf("anonymous client asking for ?namespace=acme: broadcast to the default namespace's lobby %q, want sent 1", got)
	}
	if got := command(t, anon, "user alice hello"); got != "sent 0" {
		t.Errorf("anonymous client reached user:alice of acme: %q", got)
	}
	if got := command(t, anon, "bcast room hello"); got != "sent 0" {
		t.Errorf("anonymous client reached acme's group: %q", got)
	}
}

// TestPluginScope (issue 12 item 20, abi/ABI.md "Namespaces"): connection ids are private to the
// plugin that serves them, even in the same namespace; groups are shared by the namespace's
// plugins.
func TestPluginScope(t *testing.T) {
	abs, _ := filepath.Abs(probe)
	_, base := startConfig(t, probe, fmt.Sprintf(`
[plugin.q]
module = %q
[[route]]
path = "/p"
plugin = "p"
[[route]]
path = "/q"
plugin = "q"
user_from = "query:user"
`, abs))
	p := wstest.Dial(t, base+"/p", nil)
	q := wstest.Dial(t, base+"/q?user=bob", nil)
	qid := command(t, q, "id")
	if got := command(t, p, "send "+qid+" hi"); got != "ERR -2" {
		t.Errorf("send to another plugin's connection in the same namespace: %q, want ERR -2 (unknown)", got)
	}
	// The other plugin's connection got nothing: its next message answers its own command.
	if got := command(t, q, "echo alone"); got != "alone" {
		t.Errorf("the other plugin's connection received %q", got)
	}
	// Groups are shared: q's connection joins "g", p broadcasts to it.
	if got := command(t, q, "join g"); got != "ok" {
		t.Fatalf("join: %q", got)
	}
	if got := command(t, p, "bcast g hello"); got != "sent 1" {
		t.Errorf("broadcast to a group with another plugin's member: %q, want sent 1", got)
	}
	if _, got := q.Read(); string(got) != "hello" {
		t.Errorf("the member of the other plugin got %q", got)
	}
	if got := command(t, p, "user bob hey"); got != "sent 1" {
		t.Errorf("user:bob on another plugin's route: %q, want sent 1", got)
	}
}
