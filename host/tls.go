package host

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wasmsock/wasmsock/host/config"
)

// certificate is the TLS certificate the host serves, swapped atomically by ReloadTLS: a
// handshake in progress keeps the certificate it started with, later ones get the new one, and
// no connection is dropped.
type certificate struct {
	files config.TLS
	cur   atomic.Pointer[tls.Certificate]
}

// certError is a problem with one of the [tls] files.
type certError struct {
	key string // "tls.cert_file" or "tls.key_file"
	err error
}

func (e *certError) Error() string { return e.err.Error() }

// certKey is the config key a newCertificate error is about.
func certKey(err error) string {
	var ce *certError
	if errors.As(err, &ce) {
		return ce.key
	}
	return "tls"
}

func newCertificate(files *config.TLS) (*certificate, error) {
	c := &certificate{files: *files}
	cert, err := loadCertificate(c.files)
	if err != nil {
		return nil, err
	}
	c.cur.Store(cert)
	return c, nil
}

// loadCertificate reads and checks a PEM certificate chain and its private key.
func loadCertificate(files config.TLS) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(files.CertFile, files.KeyFile)
	if err != nil {
		key := "tls.cert_file"
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Path == files.KeyFile ||
			!errors.As(err, &pe) && !strings.Contains(err.Error(), "certificate input") && strings.Contains(err.Error(), "key") {
			key = "tls.key_file"
		}
		return nil, &certError{key, err}
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, &certError{"tls.cert_file", err}
	}
	cert.Leaf = leaf
	return &cert, nil
}

// config is the tls.Config of the listener: HTTP/1.1 only (a WebSocket handshake is an HTTP/1.1
// request), TLS 1.2 or later, and the current certificate for every handshake.
func (c *certificate) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.cur.Load(), nil
		},
	}
}

// ReloadTLS reads the [tls] certificate and key files again and, if they load, serves the new
// certificate from the next TLS handshake on; connections already open keep going. If they do
// not load, the old certificate keeps serving and ReloadTLS says why. It is a no-op without
// [tls]. wasmsock serve calls it on SIGHUP.
func (s *Server) ReloadTLS() error {
	if s.tls == nil {
		return nil
	}
	cert, err := loadCertificate(s.tls.files)
	if err != nil {
		return fmt.Errorf("%s: %w (the old certificate keeps serving)", certKey(err), err)
	}
	old := s.tls.cur.Swap(cert)
	s.log.Info("TLS certificate reloaded", "subject", cert.Leaf.Subject.String(),
		"not_after", cert.Leaf.NotAfter.Format(time.RFC3339), "changed", !old.Leaf.Equal(cert.Leaf))
	return nil
}

// tlsListener wraps ln in TLS when the config has [tls].
func (s *Server) tlsListener(ln net.Listener) net.Listener {
	if s.tls == nil {
		return ln
	}
	return tls.NewListener(ln, s.tls.config())
}
