package targetfile

import (
	"fmt"

	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/transport"
)

var (
	_ target.ReplicationAccounter = (*Target)(nil)
	_ target.DBLoginer            = (*Target)(nil)
)

// execHost is where commands for h run and whether through sudo, or an
// error naming the field that does not allow them.
func (t *Target) execHost(h target.Host) (transport.Host, bool, error) {
	s := t.file.Site(h.Site)
	if s == nil {
		return nil, false, fmt.Errorf("exec on %s: target %s has no site %q", h, t.file.Name, h.Site)
	}
	var host transport.Host
	var exec, via, field string
	switch h.Kind {
	case target.GatewayHost:
		host, exec, via, field = t.gwHost[h.Site], s.Gateway.Exec, s.Gateway.Via, "gateway"
	case target.DBHost:
		host, exec, via, field = t.dbHost[h.Site], s.DB.Exec, s.DB.Via, "db"
	default:
		return nil, false, fmt.Errorf("exec on %s: no such host kind", h)
	}
	if host == nil {
		return nil, false, fmt.Errorf("exec on %s: target %s has not reached that host", h, t.file.Name)
	}
	if exec == ExecNone {
		return nil, false, fmt.Errorf("exec on %s (%s): not allowed: sites.%s.%s.exec is not set (%s)", h, viaName(via), s.Name, field, t.file.Pos("sites."+s.Name+"."+field))
	}
	return host, exec == ExecSudo, nil
}

// ReplicationAccount is the file's replication account ("", "" when it
// gives none).
func (t *Target) ReplicationAccount() (user, password string) {
	if r := t.file.Replication; r != nil {
		return r.User, r.password.value()
	}
	return "", ""
}

// DBLogin is how a client on a site's database host logs in: the file's db
// user and password.
func (t *Target) DBLogin(site string) (user, password string) {
	if s := t.file.Site(site); s != nil {
		return s.DB.User, s.DB.password.value()
	}
	return "", ""
}
