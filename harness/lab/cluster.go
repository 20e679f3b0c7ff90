package lab

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/workload/clients"
)

// A failover lab is a target.Cluster: aws-db and aws-db2 behind
// writer.cluster.lab and reader.cluster.lab on aws-dns, app hosts aws-app
// and peer-app. A four-host lab has no instances (target.Has(t,
// target.CapCluster) is false) and its Cluster methods return errors or
// zero values.

var _ target.Cluster = (*Target)(nil)

// AppUser is the application account of a failover lab: SELECT and INSERT
// on testdb.* (the workload's testdb.ping) and nothing that bypasses
// read_only, so a read-only server refuses its writes with 1290.
const AppUser = "app"

// appGrant is all the application account may do.
const appGrant = "SELECT, INSERT ON testdb.*"

// cluster is what Open builds for a failover lab.
type cluster struct {
	db2       *replica.Conn
	instances []*target.Instance
	apps      []target.App
}

// openCluster connects to aws-db2 over its unix socket and builds the app
// hosts' dialers and resolvers; nil for a four-host lab.
func openCluster(ctx context.Context, info *Info, primary *replica.Conn) (*cluster, error) {
	f := info.Failover
	if f == nil {
		return nil, nil
	}
	db2, err := replica.OpenSocket(ctx, f.DB2.Socket, "root", "")
	if err != nil {
		return nil, &HostError{Host: "aws-db2", Err: err}
	}
	c := &cluster{db2: db2, instances: []*target.Instance{
		{Name: "aws-db", Host: "aws-db." + ClusterZone, Addr: info.Sites[SiteAWS].DB.Addr, DB: primary},
		{Name: "aws-db2", Host: "aws-db2." + ClusterZone, Addr: f.DB2.Addr, DB: db2},
	}}
	for _, a := range f.Apps {
		d, err := clients.NewNetnsDialer(a.Host)
		if err != nil {
			db2.Close()
			return nil, &HostError{Host: a.Name, Err: err}
		}
		r, err := clients.NewNamespaceResolver(d, f.DNS.Addr)
		if err != nil {
			db2.Close()
			return nil, &HostError{Host: a.Name, Err: err}
		}
		c.apps = append(c.apps, target.App{Name: a.Name, Network: appNetwork(a), Dialer: d, Resolver: r})
	}
	return c, nil
}

// appNetwork describes an app host's network in words.
func appNetwork(a AppHost) string {
	if a.VPC == PeerVPC {
		return a.VPC + " (a peered VPC)"
	}
	return a.VPC + " (the DB's VPC)"
}

func (c *cluster) close() error {
	if c == nil {
		return nil
	}
	return c.db2.Close()
}

// Instances are aws-db then aws-db2 on a failover lab, nil otherwise.
func (t *Target) Instances() []*target.Instance {
	if t.cluster == nil {
		return nil
	}
	return t.cluster.instances
}

func (t *Target) WriterEndpoint() string { return t.ifCluster(WriterName) }
func (t *Target) ReaderEndpoint() string { return t.ifCluster(ReaderName) }

// EndpointTTL is the endpoints' CNAME TTL (CNAMETTL), 0 without a cluster.
func (t *Target) EndpointTTL() time.Duration {
	if t.cluster == nil {
		return 0
	}
	return CNAMETTL
}

func (t *Target) ifCluster(s string) string {
	if t.cluster == nil {
		return ""
	}
	return s
}

var errNoCluster = errors.New("the lab has no cluster: bring it up with the failover hosts (lab.Options.Failover)")

// Endpoints reads where writer.cluster.lab and reader.cluster.lab point
// (aws-dns's zone as the last flip wrote it).
func (t *Target) Endpoints(context.Context) (map[string]string, error) {
	if t.cluster == nil {
		return nil, fmt.Errorf("endpoints: %w", errNoCluster)
	}
	return CNAMEs(t.Info())
}

// FlipEndpoint points writer.cluster.lab or reader.cluster.lab at aws-db or
// aws-db2 (FlipCNAME); both names are checked before anything changes.
func (t *Target) FlipEndpoint(ctx context.Context, endpoint, instance string) error {
	if t.cluster == nil {
		return fmt.Errorf("flip endpoint: %w", errNoCluster)
	}
	if endpoint != WriterName && endpoint != ReaderName {
		return inputErrorf("flip endpoint: endpoint %q: want %s or %s", endpoint, WriterName, ReaderName)
	}
	if target.InstanceNamed(t, instance) == nil {
		return inputErrorf("flip endpoint %s: instance %q: want %s", endpoint, instance, t.instanceNames())
	}
	return FlipCNAME(ctx, t.Info(), endpoint, instance)
}

func (t *Target) instanceNames() string {
	var names []string
	for _, in := range t.Instances() {
		names = append(names, in.Name)
	}
	return strings.Join(names, " or ")
}

// ReplicationSource is an instance as the other servers replicate from it:
// its address, port 3306, the lab's replication account.
func (t *Target) ReplicationSource(instance string) (replica.Source, error) {
	if t.cluster == nil {
		return replica.Source{}, fmt.Errorf("replication source: %w", errNoCluster)
	}
	in := target.InstanceNamed(t, instance)
	if in == nil {
		return replica.Source{}, inputErrorf("replication source: instance %q: want %s", instance, t.instanceNames())
	}
	if t.sec == nil || t.sec.ReplUser == "" {
		return replica.Source{}, fmt.Errorf("replication source %s: the lab's secrets (%s) could not be read", instance, secretsFile)
	}
	return replica.Source{Host: in.Addr, Port: 3306, User: t.sec.ReplUser, Password: t.sec.ReplPassword}, nil
}

// ReplicationTimings are the lab's replica timings.
func (t *Target) ReplicationTimings() replica.Timings { return t.Info().Timings.Replica() }

// Apps are aws-app then peer-app (nil without a cluster).
func (t *Target) Apps() []target.App {
	if t.cluster == nil {
		return nil
	}
	return t.cluster.apps
}

// AppAccount is the application account and its password (empty without
// a cluster, or for a lab made before the account existed).
func (t *Target) AppAccount() (user, password string) {
	if t.cluster == nil || t.sec == nil {
		return "", ""
	}
	return t.sec.AppUser, t.sec.AppPassword
}

// createAppAccount creates the application account on the primary, to
// replicate to every other server. As for the replication user
// (docs/findings.md#create-user-binlog-password) the password goes in as
// its mysql_native_password hash, never in clear text into the binary log.
func createAppAccount(ctx context.Context, primary *replica.Conn, user, password string) error {
	if user == "" || password == "" {
		return errors.New("create app account: the lab's secrets have no app account")
	}
	u, err := replica.QuoteString(user, false)
	if err != nil {
		return fmt.Errorf("create app account: user: %w", err)
	}
	conn, err := primary.DB().Conn(ctx)
	if err != nil {
		return fmt.Errorf("create app account: %w", err)
	}
	defer conn.Close()
	for _, q := range []string{
		"CREATE USER IF NOT EXISTS " + u + "@'%' IDENTIFIED BY PASSWORD '" + nativePasswordHash(password) + "'",
		"GRANT " + appGrant + " TO " + u + "@'%'",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			// The statement holds a hash, not the password; name neither.
			return fmt.Errorf("create app account %s: %s: %w", user, strings.Fields(q)[0], replica.Redact(err, password))
		}
	}
	return nil
}

// nativePasswordHash is "*" + HEX(SHA1(SHA1(password))), what PASSWORD()
// returns.
func nativePasswordHash(password string) string {
	h1 := sha1.Sum([]byte(password))
	h2 := sha1.Sum(h1[:])
	return "*" + strings.ToUpper(hex.EncodeToString(h2[:]))
}
