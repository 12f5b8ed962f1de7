package host_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/wasmsock/wasmsock/host/hosttest"
)

// dialTLS opens a wss:// connection and returns it with the serial number of the server's
// certificate.
func dialTLS(t *testing.T, url string) (net.Conn, int64) {
	t.Helper()
	var serial int64
	d := ws.Dialer{Timeout: 5 * time.Second, TLSConfig: &tls.Config{
		InsecureSkipVerify: true, // self-signed; the serial is checked instead
		VerifyConnection: func(cs tls.ConnectionState) error {
			serial = cs.PeerCertificates[0].SerialNumber.Int64()
			return nil
		},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, _, err := d.Dial(ctx, url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, serial
}

func echoOver(t *testing.T, conn net.Conn, msg string) {
	t.Helper()
	if err := wsutil.WriteClientText(conn, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := wsutil.ReadServerText(conn)
	if err != nil || string(got) != msg {
		t.Fatalf("echo over TLS: %q, %v; want %q", got, err, msg)
	}
}

// TestTLS: with [tls], the host serves wss:// (and same-origin browsers on https://), and
// ReloadTLS (what SIGHUP calls) swaps the certificate for new handshakes without dropping the
// connections that are open; a broken certificate file leaves the old one serving.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	hosttest.WriteCert(t, dir, 1)
	top := fmt.Sprintf("[tls]\ncert_file = %q\nkey_file = %q\n", filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	srv, base := startConfigTop(t, top, echoModules["wat"], "[[route]]\npath = \"/ws\"\nplugin = \"p\"\n")
	url := "wss://" + strings.TrimPrefix(base, "ws://") + "/ws"

	c1, serial := dialTLS(t, url)
	if serial != 1 {
		t.Fatalf("certificate serial %d, want 1", serial)
	}
	echoOver(t, c1, "before")

	hosttest.WriteCert(t, dir, 2)
	if err := srv.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	echoOver(t, c1, "open across the reload")
	c2, serial := dialTLS(t, url)
	if serial != 2 {
		t.Errorf("after ReloadTLS: certificate serial %d, want 2", serial)
	}
	echoOver(t, c2, "new")

	os.WriteFile(filepath.Join(dir, "key.pem"), []byte("garbage"), 0o600)
	if err := srv.ReloadTLS(); err == nil || !strings.Contains(err.Error(), "tls.key_file") {
		t.Errorf("ReloadTLS with a broken key: %v, want an error naming tls.key_file", err)
	}
	if _, serial := dialTLS(t, url); serial != 2 {
		t.Errorf("after a failed reload: certificate serial %d, want 2 (the old one)", serial)
	}
	echoOver(t, c1, "still open")

	// Plain ws:// is not served on a TLS listener.
	if _, _, _, err := (ws.Dialer{Timeout: 2 * time.Second}).Dial(context.Background(), base+"/ws"); err == nil {
		t.Errorf("plain ws:// handshake succeeded on the TLS listener")
	}
}
