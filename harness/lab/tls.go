package lab

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// TLSUser is the lab's account for drills over TCP with TLS (Options.TLS):
// an administrator, like root over the socket.
const TLSUser = "drdrill_tls"

// TLSPasswordFile holds its password alone (0600), for the lab's target
// file (password_file).
const TLSPasswordFile = "tls.password"

// TLSInfo is a lab whose databases also take TLS on their addresses.
type TLSInfo struct {
	CA   string `json:"ca"`   // the lab's CA certificate (PEM)
	User string `json:"user"` // TLSUser
}

// TLSServerName is the name a site's database certificate is issued to
// (and its address as an IP SAN).
func TLSServerName(site string) string { return site + "-db.lab" }

// makeTLS issues a CA for the lab and a certificate per database (its
// server name and address), written into the lab dir for my.cnf.
func makeTLS(info *Info) error {
	dir := filepath.Join(info.Dir, "tls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "drdrill lab " + info.ID + " CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	caPath := filepath.Join(dir, "ca.pem")
	if err := writePEM(caPath, "CERTIFICATE", caDER, 0o644); err != nil {
		return err
	}
	for i, site := range Sites {
		db := info.Sites[site].DB
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 2)), Subject: pkix.Name{CommonName: TLSServerName(site)},
			DNSNames: []string{TLSServerName(site)}, IPAddresses: []net.IP{net.ParseIP(db.Addr)},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		kb, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return err
		}
		if err := writePEM(filepath.Join(dir, site+"-db.pem"), "CERTIFICATE", der, 0o644); err != nil {
			return err
		}
		if err := writePEM(filepath.Join(dir, site+"-db-key.pem"), "EC PRIVATE KEY", kb, 0o600); err != nil {
			return err
		}
	}
	info.TLS = &TLSInfo{CA: caPath, User: TLSUser}
	return nil
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if err := pem.Encode(f, &pem.Block{Type: typ, Bytes: der}); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// tlsFiles are a site's database's ssl-ca, ssl-cert and ssl-key ("" when
// the lab has no TLS).
func tlsFiles(info *Info, site string) (ca, cert, key string) {
	if info.TLS == nil {
		return "", "", ""
	}
	dir := filepath.Join(info.Dir, "tls")
	return info.TLS.CA, filepath.Join(dir, site+"-db.pem"), filepath.Join(dir, site+"-db-key.pem")
}
