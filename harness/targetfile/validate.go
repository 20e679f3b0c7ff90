package targetfile

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"unicode"
)

// socketPath checks a unix socket path as the host will see it: absolute
// and short enough for sun_path. It cannot be stat'ed here: it may be on
// another host.
func socketPath(o *obj, key, path, example string) error {
	switch {
	case path == "":
		return o.errorf(key, "the socket path is empty (e.g. %s)", example)
	case !strings.HasPrefix(path, "/"):
		return o.errorf(key, "%q is not an absolute path (e.g. %s)", path, example)
	case strings.ContainsRune(path, 0):
		return o.errorf(key, "the socket path holds a NUL byte")
	case strings.HasSuffix(path, "/"):
		return o.errorf(key, "%q is a directory, not a socket", path)
	case len(path) > maxSocketPath:
		return o.errorf(key, "the socket path is %d bytes; a unix socket path has at most %d", len(path), maxSocketPath)
	}
	return nil
}

// hostPort checks host:port (a name, IPv4 or [IPv6], port 1-65535).
func hostPort(o *obj, key, s string) error {
	if _, _, err := splitHostPort(s); err != nil {
		return o.errorf(key, "%q: %v", s, err)
	}
	return nil
}

func splitHostPort(s string) (string, int, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return "", 0, errors.New("want host:port")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, fmt.Errorf("port %q: want 1-65535", port)
	}
	if strings.ContainsFunc(host, unicode.IsSpace) {
		return "", 0, errors.New("want host:port")
	}
	return host, n, nil
}

func joinHostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// charonName checks an IKE or CHILD connection name as swanctl.conf allows
// it (a section name: no spaces, quotes or braces).
func charonName(o *obj, key, s string) error {
	if len(s) > 128 || strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(`"'{}=#`, r)
	}) {
		return o.errorf(key, "%q is not a swanctl.conf connection name", s)
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Config is the *tls.Config for a database over TCP: the CA pool (the
// system's when CA is empty), the client certificate, and ServerName (or
// defaultServerName, the address's host). Errors name the field at fault.
func (t *TLS) Config(defaultServerName string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if cfg.ServerName == "" {
		cfg.ServerName = defaultServerName
	}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca: no PEM certificate in %s", t.CA)
		}
		cfg.RootCAs = pool
	}
	if t.Cert != "" {
		c, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("cert %s, key %s: %v", t.Cert, t.Key, err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg, nil
}
