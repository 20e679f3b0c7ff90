package lab

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"text/template"

	"github.com/drdrill/drdrill/fixtures"
)

var templates = template.Must(template.New("").Option("missingkey=error").ParseFS(fixtures.FS, "*.tmpl"))

// charonParams feed fixtures/strongswan.conf.tmpl.
type charonParams struct {
	LabID, Site, Dir  string
	RetransmitTimeout string
	RetransmitBase    string
	RetransmitTries   int
}

// mycnfParams feed fixtures/my.cnf.tmpl.
type mycnfParams struct {
	LabID, Site, Dir, DataDir, Role, Addr, InnoDB string
	ServerID                                      int
	TLSCA, TLSCert, TLSKey                        string // "": no TLS
}

// Lab IKE retransmission: 0.5 s, then x1.4, 3 tries: a dead peer is given up
// on after about 3.6 s instead of charon's default ~165 s.
const (
	retransmitTimeout = "0.5"
	retransmitBase    = "1.4"
	retransmitTries   = 3
)

func render(name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// renderSite writes a site's strongswan.conf and my.cnf into DIR/SITE.
func renderSite(info *Info, site string) error {
	dir := filepath.Join(info.Dir, site)
	for _, d := range []string{dir, filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	s := info.Sites[site]
	sw, err := render("strongswan.conf.tmpl", charonParams{LabID: info.ID, Site: site, Dir: dir,
		RetransmitTimeout: retransmitTimeout, RetransmitBase: retransmitBase, RetransmitTries: retransmitTries})
	if err != nil {
		return err
	}
	p := mycnfParams{LabID: info.ID, Site: site, Dir: dir, DataDir: s.DB.DataDir, Role: s.DB.Role, Addr: s.DB.Addr, ServerID: s.DB.ServerID, InnoDB: innodbSettings}
	p.TLSCA, p.TLSCert, p.TLSKey = tlsFiles(info, site)
	my, err := render("my.cnf.tmpl", p)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "strongswan.conf"), sw, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "my.cnf"), my, 0o644)
}
