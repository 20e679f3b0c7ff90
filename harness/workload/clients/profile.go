package clients

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Endpoint is the name a client is configured with.
type Endpoint string

const (
	// EndpointCluster is the cluster's writer name (writer.cluster.lab):
	// it follows a failover once the name is flipped.
	EndpointCluster Endpoint = "cluster"
	// EndpointInstance is one instance's own name: it keeps naming the
	// same server whatever its role.
	EndpointInstance Endpoint = "instance"
)

// Resolve is when a client resolves its endpoint name.
type Resolve string

const (
	// ResolvePerConnection asks the DNS server for every new connection
	// (no client-side cache: the answer is as fresh as the server's TTL).
	ResolvePerConnection Resolve = "per-connection"
	// ResolveOnce resolves at start and reuses that address for every
	// connection, for ever (a JVM's networkaddress.cache.ttl=-1, an app
	// that resolves in its constructor).
	ResolveOnce Resolve = "once"
)

// Pooling is how a client holds its connections.
type Pooling string

const (
	// PoolNone opens a connection for each write and closes it after.
	PoolNone Pooling = "none"
	// PoolLongLived keeps a pool opened at start (before any fault), with
	// no maximum lifetime or idle time: a connection lives until it fails.
	PoolLongLived Pooling = "long-lived"
)

// Profile is a client's connection behaviour, as data: a target file can
// name its own apps' profiles with these fields (YAML/JSON keys as tagged).
type Profile struct {
	Name     string   `json:"name" yaml:"name"`
	Endpoint Endpoint `json:"endpoint" yaml:"endpoint"`
	Resolve  Resolve  `json:"resolve" yaml:"resolve"`
	Pooling  Pooling  `json:"pooling" yaml:"pooling"`
	// PoolSize is how many connections a long-lived pool opens at start
	// and keeps (0 with PoolNone).
	PoolSize int `json:"pool_size,omitempty" yaml:"pool_size,omitempty"`
	// ValidationQuery is run on a pooled connection before each write
	// (TypeORM's and most pools' "SELECT 1"); "" runs none. A connection
	// that fails it is dropped and the write takes a new one.
	ValidationQuery string `json:"validation_query,omitempty" yaml:"validation_query,omitempty"`
	// RejectReadOnly is go-sql-driver's rejectReadOnly=true: a write
	// refused as read-only (1290, 1792, 1836) drops the connection, so the
	// next one is dialled (and resolved) anew.
	RejectReadOnly bool `json:"reject_read_only,omitempty" yaml:"reject_read_only,omitempty"`
}

// The built-in profiles' names.
const (
	FreshPerWrite       = "fresh-per-write"
	PoolPinned          = "pool-pinned"
	PoolRejectReadOnly  = "pool-reject-read-only"
	DNSCached           = "dns-cached"
	InstanceEndpointApp = "instance-endpoint"
)

// DefaultPoolSize is the built-in pools' size.
const DefaultPoolSize = 2

var builtins = []Profile{
	{Name: FreshPerWrite, Endpoint: EndpointCluster, Resolve: ResolvePerConnection, Pooling: PoolNone},
	// The seed's NestJS/TypeORM app: a pool opened before the failover,
	// validated with SELECT 1, which a demoted writer answers happily.
	{Name: PoolPinned, Endpoint: EndpointCluster, Resolve: ResolvePerConnection, Pooling: PoolLongLived,
		PoolSize: DefaultPoolSize, ValidationQuery: "SELECT 1"},
	{Name: PoolRejectReadOnly, Endpoint: EndpointCluster, Resolve: ResolvePerConnection, Pooling: PoolLongLived,
		PoolSize: DefaultPoolSize, ValidationQuery: "SELECT 1", RejectReadOnly: true},
	// Reconnects like pool-reject-read-only, but to the address it
	// resolved at start: new connections, same demoted server.
	{Name: DNSCached, Endpoint: EndpointCluster, Resolve: ResolveOnce, Pooling: PoolLongLived,
		PoolSize: DefaultPoolSize, ValidationQuery: "SELECT 1", RejectReadOnly: true},
	// The best-behaved client (a fresh connection, resolved, per write)
	// configured with an instance name: it follows no failover.
	{Name: InstanceEndpointApp, Endpoint: EndpointInstance, Resolve: ResolvePerConnection, Pooling: PoolNone},
}

// Builtins returns the built-in profiles.
func Builtins() []Profile { return slices.Clone(builtins) }

// Builtin returns the built-in profile called name.
func Builtin(name string) (Profile, error) {
	for _, p := range builtins {
		if p.Name == name {
			return p, nil
		}
	}
	names := make([]string, len(builtins))
	for i, p := range builtins {
		names[i] = p.Name
	}
	return Profile{}, fmt.Errorf("client profile %q: not a built-in profile (%s)", name, strings.Join(names, ", "))
}

var profileNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,39}$`)

// MaxValidationQuery bounds a validation query's length.
const MaxValidationQuery = 200

// Validate checks every field, naming the one that is wrong.
func (p Profile) Validate() error {
	if !profileNameRE.MatchString(p.Name) {
		return fmt.Errorf("client profile %q: name wants 1-40 of a-z, 0-9, '.', '_', '-' (starting with a letter or digit)", p.Name)
	}
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("client profile %s: %s %q: want %s", p.Name, field, v, want)
	}
	switch p.Endpoint {
	case EndpointCluster, EndpointInstance:
	default:
		return bad("endpoint", p.Endpoint, `"cluster" or "instance"`)
	}
	switch p.Resolve {
	case ResolvePerConnection, ResolveOnce:
	default:
		return bad("resolve", p.Resolve, `"per-connection" or "once"`)
	}
	switch p.Pooling {
	case PoolNone:
		if p.PoolSize != 0 {
			return fmt.Errorf("client profile %s: pool_size %d with pooling none (a connection per write): leave it out", p.Name, p.PoolSize)
		}
		if p.ValidationQuery != "" {
			return fmt.Errorf("client profile %s: validation_query with pooling none: a fresh connection is not validated", p.Name)
		}
	case PoolLongLived:
		if p.PoolSize < 1 || p.PoolSize > 16 {
			return fmt.Errorf("client profile %s: pool_size %d: want 1-16 with a long-lived pool", p.Name, p.PoolSize)
		}
	default:
		return bad("pooling", p.Pooling, `"none" or "long-lived"`)
	}
	if q := p.ValidationQuery; q != "" {
		up := strings.ToUpper(strings.TrimSpace(q))
		if len(q) > MaxValidationQuery || strings.ContainsAny(q, ";\x00") || !(strings.HasPrefix(up, "SELECT ") || up == "SELECT") {
			return fmt.Errorf("client profile %s: validation_query %q: want one SELECT statement of at most %d characters, no ';'", p.Name, q, MaxValidationQuery)
		}
	}
	return nil
}

// Expectation is what a profile should see in a planned failover in which
// the old writer stays up, read-only, and the cluster name is flipped.
type Expectation struct {
	// Stuck: it keeps reaching the demoted writer (1290) until failback.
	Stuck bool `json:"stuck"`
	// Why is the cause in one clause, for a diagnosis line.
	Why string `json:"why"`
}

// Expect derives the profile's expected behaviour from its fields.
// endpoint is the name it is configured with, for the message.
func (p Profile) Expect(endpoint string) Expectation {
	switch {
	case p.Endpoint == EndpointInstance:
		return Expectation{true, fmt.Sprintf("it is configured with the instance name %s, not the cluster's writer endpoint", endpoint)}
	case p.Resolve == ResolveOnce:
		return Expectation{true, fmt.Sprintf("it resolved %s once at start and every new connection goes to that cached address", endpoint)}
	case p.Pooling == PoolLongLived && !p.RejectReadOnly:
		why := fmt.Sprintf("its connections were opened before the failover and never re-resolved %s", endpoint)
		if p.ValidationQuery != "" {
			why += fmt.Sprintf(" (a read-only server passes %q)", p.ValidationQuery)
		}
		return Expectation{true, why}
	case p.Pooling == PoolLongLived:
		return Expectation{false, fmt.Sprintf("a write refused as read-only drops its connection, and the next connection re-resolves %s", endpoint)}
	default:
		return Expectation{false, fmt.Sprintf("it resolves %s and connects afresh for every write", endpoint)}
	}
}
