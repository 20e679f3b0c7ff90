package sshhost

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Why a host key is refused; a *HostKeyError matches one with errors.Is.
var (
	ErrUnknownHost    = errors.New("host key unknown")
	ErrHostKeyChanged = errors.New("host key changed")
	ErrHostKeyRevoked = errors.New("host key revoked")
)

// HostKeyError is a host key that known_hosts does not vouch for. The
// connection is refused; there is no override.
type HostKeyError struct {
	Kind        error  // ErrUnknownHost, ErrHostKeyChanged or ErrHostKeyRevoked
	Host        string // ssh://user@host:port
	Name        string // the host as known_hosts names it: host, or [host]:port
	KnownHosts  string // the file
	KeyType     string // of the key the server offered
	Fingerprint string // ssh.FingerprintSHA256 of that key
	// Known are the entries known_hosts has for the host ("file:line
	// type SHA256:…"): for a changed key, the keys it expected; for a
	// revoked one, the @revoked line.
	Known []string
	port  int
	host  string
}

func (e *HostKeyError) Unwrap() error { return e.Kind }

func (e *HostKeyError) Error() string {
	offers := e.KeyType + " " + e.Fingerprint
	scan := "ssh-keyscan "
	if e.port != 22 {
		scan += "-p " + strconv.Itoa(e.port) + " "
	}
	scan += e.host + " >> " + e.KnownHosts
	switch e.Kind {
	case ErrUnknownHost:
		return fmt.Sprintf("%s: host key refused: %s is not in %s (it offers %s); check that fingerprint with the host's owner, then add the key (%s)",
			e.Host, e.Name, e.KnownHosts, offers, scan)
	case ErrHostKeyChanged:
		return fmt.Sprintf("%s: host key refused: it CHANGED: %s offers %s but %s has %s; if the host was reinstalled, check the new fingerprint with its owner and replace the entry (ssh-keygen -R %s -f %s; %s), otherwise someone may be intercepting the connection",
			e.Host, e.Name, offers, e.KnownHosts, strings.Join(e.Known, ", "), e.Name, e.KnownHosts, scan)
	default:
		return fmt.Sprintf("%s: host key refused: %s offers %s, which %s marks @revoked (%s)",
			e.Host, e.Name, offers, e.KnownHosts, strings.Join(e.Known, ", "))
	}
}

// addr is a net.Addr for known_hosts lookups: the host as the via names it,
// whatever carries the connection (a proxy command, a jump host's channel).
type addr string

func (a addr) Network() string { return "tcp" }
func (a addr) String() string  { return string(a) }

// hostKeyCallback checks h's key against known_hosts; a refusal is also
// stored in *refused, so that the caller returns it as it is rather than
// wrapped in the handshake's error.
func (v *validated) hostKeyCallback(h hop, refused **HostKeyError) ssh.HostKeyCallback {
	return func(_ string, _ net.Addr, key ssh.PublicKey) error {
		err := v.hostKeys(h.hostport(), addr(h.hostport()), key)
		if err == nil {
			return nil
		}
		e := &HostKeyError{Host: h.name(), Name: knownhosts.Normalize(h.hostport()), KnownHosts: v.knownHosts,
			KeyType: key.Type(), Fingerprint: ssh.FingerprintSHA256(key), port: h.port, host: h.host}
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &re):
			e.Kind = ErrHostKeyRevoked
			e.Known = []string{fmt.Sprintf("%s:%d", re.Revoked.Filename, re.Revoked.Line)}
		case errors.As(err, &ke) && len(ke.Want) == 0:
			e.Kind = ErrUnknownHost
		case errors.As(err, &ke):
			e.Kind = ErrHostKeyChanged
			for _, w := range ke.Want {
				e.Known = append(e.Known, fmt.Sprintf("%s:%d %s %s", w.Filename, w.Line, w.Key.Type(), ssh.FingerprintSHA256(w.Key)))
			}
		default:
			return fmt.Errorf("%s: check host key: %w", h.name(), err)
		}
		*refused = e
		return e
	}
}

// hostKeyAlgorithms are the algorithms of the keys known_hosts has for h,
// so that a server with several host keys shows the one known here (not a
// false "changed"). None known: nil, the client's defaults.
func (v *validated) hostKeyAlgorithms(h hop) []string {
	var ke *knownhosts.KeyError
	if err := v.hostKeys(h.hostport(), addr(h.hostport()), v.probe); !errors.As(err, &ke) {
		return nil
	}
	var out []string
	for _, w := range ke.Want {
		algos := []string{w.Key.Type()}
		switch w.Key.Type() {
		case ssh.KeyAlgoRSA:
			algos = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
		case ssh.CertAlgoRSAv01:
			algos = []string{ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01, ssh.CertAlgoRSAv01}
		}
		for _, a := range algos {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}
