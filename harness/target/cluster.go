package target

import (
	"context"
	"net"
	"time"

	"github.com/drdrill/drdrill/harness/replica"
)

// CapCluster: the target's primary site is a writer/reader cluster behind
// DNS endpoints, with hosts where application clients run (Cluster). The
// failover drills need it.
const CapCluster Capability = "cluster"

// Cluster is a target whose primary site's database is a cluster: two
// instances (a writer and a reader replicating from it) behind DNS
// endpoints that name them (Aurora's cluster and reader endpoints), and
// app hosts from which clients connect. The replica site's database
// (across the VPN) replicates from the writer.
type Cluster interface {
	// Instances are the cluster's instances, the writer at setup first.
	// Their DB handles are the drill's admin connections (they survive a
	// role change); the first instance's DB is the primary site's DB.
	Instances() []*Instance
	// WriterEndpoint and ReaderEndpoint are the cluster's DNS names
	// ("writer.cluster.lab", "reader.cluster.lab").
	WriterEndpoint() string
	ReaderEndpoint() string
	// EndpointTTL is the endpoints' DNS TTL (Aurora's: 5 s).
	EndpointTTL() time.Duration
	// Endpoints reads what each endpoint name points at now: endpoint →
	// instance name.
	Endpoints(ctx context.Context) (map[string]string, error)
	// FlipEndpoint points an endpoint at an instance, the way the
	// operator's DNS is changed (and records nothing: the caller does).
	FlipEndpoint(ctx context.Context, endpoint, instance string) error
	// ReplicationSource is how the other servers replicate from an
	// instance (its address as they reach it, the replication account).
	ReplicationSource(instance string) (replica.Source, error)
	// ReplicationTimings are the timings a (re)configured replica gets.
	ReplicationTimings() replica.Timings
	// Apps are the hosts where clients run (the DB's own network, a
	// peered one), in a stable order.
	Apps() []App
	// AppAccount is the account applications write with: it has no
	// privilege that bypasses read_only, so a read-only server refuses
	// its writes (1290). The password is one of Secrets().
	AppAccount() (user, password string)
}

// Instance is one server of the cluster.
type Instance struct {
	Name string // e.g. "aws-db2"
	// Host is its own DNS name as clients resolve it (an instance
	// endpoint, e.g. "aws-db2.cluster.lab").
	Host string
	Addr string // its address as clients and replicas reach it
	DB   *replica.Conn
}

// App is a host where clients run: every socket is made there, and names
// are resolved by its own resolver (never this machine's).
type App struct {
	Name     string // e.g. "aws-app", "peer-app"
	Network  string // e.g. "10.20.0.0/16 (the DB's VPC)"
	Dialer   AppDialer
	Resolver AppResolver
}

// AppDialer makes a client's sockets on an app host; addr is an IP
// address and port.
type AppDialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// AppResolver resolves a name to IPv4 addresses the way the app host does
// (asking the host's DNS server from there, no cache).
type AppResolver interface {
	LookupIPv4(ctx context.Context, name string) ([]net.IP, error)
}

// InstanceNamed returns the cluster's instance by name (nil if none).
func InstanceNamed(c Cluster, name string) *Instance {
	for _, in := range c.Instances() {
		if in.Name == name {
			return in
		}
	}
	return nil
}
