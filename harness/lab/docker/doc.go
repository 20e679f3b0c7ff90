// Package docker is the lab backend "docker": the lab's four hosts (aws-gw,
// aws-db, onprem-gw, onprem-db) as containers of the locally built images
// drdrill/gateway:local and drdrill/db:local (testcontainers-go; it never
// pulls), on three internal Docker networks (the WAN and one LAN per site)
// with docs/design.md's address plan. Like the netns backend it only makes the
// hosts and starts charon and MariaDB with the configs rendered into the lab
// dir; loading the VPN, replication and the schema are shared code in package
// lab.
//
// A program gets the backend by linking the package in: its init registers
// it with lab.RegisterBackend("docker", New), so lab.Backends and
// lab.BackendByName find it.
//
//	import _ "github.com/drdrill/drdrill/harness/lab/docker"
//
// # Conventions the rendered configs rely on
//
//   - DIR/SITE is bind-mounted at the SAME path in both containers of the
//     site, so the paths inside strongswan.conf and my.cnf (VICI socket,
//     datadir, MySQL socket, logs) are valid on both sides and the harness
//     reaches the daemons through those unix sockets only. A socket or datadir
//     outside DIR/SITE gets its directory mounted too.
//   - the gateway runs /usr/lib/ipsec/charon with
//     STRONGSWAN_CONF=DIR/SITE/strongswan.conf; the db runs
//     mariadbd --defaults-file=DIR/SITE/my.cnf --user=root (a datadir without
//     the `mysql` schema is initialised by the image's entrypoint).
//   - charon is not PID 1: KillGateway kills it with -9 inside a container
//     that keeps running, so addresses, routes and sysctls survive, exactly as
//     in the netns lab.
//   - every container and network is named "<lab id>-<what>" and labelled
//     org.drdrill.lab=<lab id>, and recorded in lab.json before it is
//     created, so Teardown removes exactly the lab's resources, also those of
//     a crashed run.
//
// # One lab per engine
//
// Only one docker lab can exist per engine at a time: the address plan is
// fixed and Docker refuses overlapping subnets. Provision names the lab that
// holds the plan when it finds one.
//
// # The host firewall helper
//
// With br_netfilter loaded, Docker's isolation rules for internal networks
// also drop frames bridged between two containers of the same LAN when they
// carry the other site's addresses (aws-db -> aws-gw for 192.168.64.15): IKE
// comes up, nothing crosses the tunnel. Provision therefore runs one more
// container, <lab id>-hostfw, in the host's network namespace
// (fixtures/docker/hostfw.sh): it inserts into the host's DOCKER-USER chain
// one ACCEPT rule per lab LAN bridge, only for frames that enter and leave
// that same bridge and tagged with the lab's label, so nothing can leave the
// lab through it. Teardown stops it with SIGTERM first, which removes its
// rules.
//
// # Engine
//
// The client honours DOCKER_HOST strictly; no engine gives exactly
// ErrNoDockerEngine, a *lab.EnvError (exit 2). TESTCONTAINERS_RYUK_DISABLED
// is set to true when unset (the reaper's image cannot be pulled; the backend
// removes what it made itself).
package docker
