package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/wasmsock/wasmsock/host/hosttest"
)

// dialWSS opens wss://addr/e and returns the connection and the serial of the certificate.
func dialWSS(addr string) (net.Conn, int64, error) {
	var serial int64
	d := ws.Dialer{Timeout: 5 * time.Second, TLSConfig: &tls.Config{InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			serial = cs.PeerCertificates[0].SerialNumber.Int64()
			return nil
		}}}
	conn, _, _, err := d.Dial(context.Background(), "wss://"+addr+"/e")
	return conn, serial, err
}

// TestServeTLSReloadOnSIGHUP runs the real binary with [tls]: it serves wss://, and SIGHUP makes
// new handshakes get the renewed certificate while an open connection keeps going.
func TestServeTLSReloadOnSIGHUP(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	hosttest.WriteCert(t, dir, 1)
	cfg := filepath.Join(dir, "host.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[tls]\ncert_file = \"cert.pem\"\nkey_file = \"key.pem\"\n"+echoRoute, absPath(t, "../../testdata/wasm"))), 0o644)
	cmd, logs, addr, _ := startServe(t, bin, cfg)
	conn, serial, err := dialWSS(addr)
	if err != nil {
		t.Fatalf("no wss:// server: %v\n%s", err, logs.String())
	}
	defer conn.Close()
	echo := func(msg string) {
		t.Helper()
		_ = wsutil.WriteClientText(conn, []byte(msg))
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if got, err := wsutil.ReadServerText(conn); err != nil || string(got) != msg {
			t.Fatalf("echo %q: %q %v\n%s", msg, got, err, logs.String())
		}
	}
	if serial != 1 {
		t.Fatalf("serial %d, want 1", serial)
	}
	echo("one")
	hosttest.WriteCert(t, dir, 2)
	_ = cmd.Process.Signal(syscall.SIGHUP)
	for deadline := time.Now().Add(10 * time.Second); serial != 2; {
		c, s, err := dialWSS(addr)
		if err == nil {
			c.Close()
			serial = s
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP: serial %d, want 2\n%s", serial, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	echo("the same connection, after the reload")
	if !strings.Contains(logs.String(), "TLS certificate reloaded") {
		t.Errorf("no log line for the reload:\n%s", logs.String())
	}
}
