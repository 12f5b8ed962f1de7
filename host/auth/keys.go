package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// readKeySource returns the bytes of a key source and the TOML key to name in errors
// ("secret.file", "public_key.env"). Errors name the file or the variable, never the content.
func readKeySource(k KeySource, key, baseDir string) ([]byte, string, error) {
	if k.Env != "" {
		key += ".env"
		v, ok := os.LookupEnv(k.Env)
		switch {
		case !ok:
			return nil, key, cfgErr(key, "environment variable %s is not set", k.Env)
		case v == "":
			return nil, key, cfgErr(key, "environment variable %s is empty", k.Env)
		case len(v) > maxKeyFileBytes:
			return nil, key, cfgErr(key, "environment variable %s is larger than %d bytes", k.Env, maxKeyFileBytes)
		}
		return []byte(v), key, nil
	}
	key += ".file"
	path := k.File
	if !filepath.IsAbs(path) {
		path = filepath.Join(baseDir, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, key, cfgErr(key, "%v", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return nil, key, cfgErr(key, "%v", err)
	} else if !st.Mode().IsRegular() {
		return nil, key, cfgErr(key, "%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return nil, key, cfgErr(key, "%v", err)
	}
	if len(b) > maxKeyFileBytes {
		return nil, key, cfgErr(key, "%s is larger than %d bytes", path, maxKeyFileBytes)
	}
	if len(b) == 0 {
		return nil, key, cfgErr(key, "%s is empty", path)
	}
	return b, key, nil
}

// loadSecret reads the HS256 secret. Trailing line endings (CR, LF) are removed, so a file
// written by `echo` works; every other byte, spaces included, is part of the key.
func loadSecret(k KeySource, baseDir string) ([]byte, error) {
	b, key, err := readKeySource(k, "secret", baseDir)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimRight(b, "\r\n")
	if bytes.Contains(b, []byte("-----BEGIN")) {
		// A PEM key used as an HMAC secret is the key-confusion mistake: a public key is public.
		return nil, cfgErr(key, "holds a PEM block; the HS256 secret must be random bytes, never a (public) key")
	}
	if len(b) < MinSecretBytes {
		return nil, cfgErr(key, "the HS256 secret is %d bytes; at least %d are required (e.g. `openssl rand -base64 48`)", len(b), MinSecretBytes)
	}
	return b, nil
}

// loadPublicKey reads a PEM public key or certificate: an *rsa.PublicKey (>= MinRSABits) or a
// P-256 *ecdsa.PublicKey, which must serve every public-key algorithm in algs.
func loadPublicKey(k KeySource, baseDir string, algs []string) (any, error) {
	b, key, err := readKeySource(k, "public_key", baseDir)
	if err != nil {
		return nil, err
	}
	block, rest := pem.Decode(b)
	if block == nil {
		return nil, cfgErr(key, "no PEM block found (want \"PUBLIC KEY\", \"RSA PUBLIC KEY\" or \"CERTIFICATE\")")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, cfgErr(key, "more than one PEM block; give exactly one public key or certificate")
	}
	var pub any
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, cfgErr(key, "PEM \"PUBLIC KEY\" block: %v", err)
		}
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, cfgErr(key, "PEM \"RSA PUBLIC KEY\" block: %v", err)
		}
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, cfgErr(key, "PEM \"CERTIFICATE\" block: %v", err)
		}
		pub = cert.PublicKey
	case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
		return nil, cfgErr(key, "holds a private key (PEM %q); give the public key only", block.Type)
	default:
		return nil, cfgErr(key, "PEM block %q is not a public key (want \"PUBLIC KEY\", \"RSA PUBLIC KEY\" or \"CERTIFICATE\")", block.Type)
	}
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if n := p.N.BitLen(); n < MinRSABits {
			return nil, cfgErr(key, "the RSA key is %d bits; at least %d are required", n, MinRSABits)
		}
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return nil, cfgErr(key, "the EC key is on curve %s; ES256 needs P-256", p.Curve.Params().Name)
		}
	default:
		return nil, cfgErr(key, "unsupported public key type %T (want RSA or EC P-256)", pub)
	}
	if err := checkKeyFitsAlgorithms(pub, algs, key); err != nil {
		return nil, err
	}
	return pub, nil
}

// checkKeyFitsAlgorithms makes sure the public key serves the algorithms configured.
func checkKeyFitsAlgorithms(pub any, algs []string, key string) error {
	for _, a := range algs {
		switch a {
		case RS256:
			if _, ok := pub.(*rsa.PublicKey); !ok {
				return cfgErr(key, "RS256 needs an RSA public key, not %s", keyKind(pub))
			}
		case ES256:
			if _, ok := pub.(*ecdsa.PublicKey); !ok {
				return cfgErr(key, "ES256 needs an EC P-256 public key, not %s", keyKind(pub))
			}
		}
	}
	return nil
}

func keyKind(pub any) string {
	switch pub.(type) {
	case *rsa.PublicKey:
		return "an RSA key"
	case *ecdsa.PublicKey:
		return "an EC key"
	}
	return fmt.Sprintf("%T", pub)
}
