// Package lab is the embedded lab: two sites (aws, onprem), each a strongSwan
// gateway and a MariaDB server, joined by an IKEv2 tunnel over a private WAN,
// with GTID replication from aws (primary) to onprem (replica) across it.
//
// A Backend makes the four hosts and starts the daemons (netns: network
// namespaces on this machine; docker: containers). Everything above that is
// shared and lives here: the VPN is loaded over VICI, replication and the
// seed's schema are set up over the MySQL unix sockets, and Up returns only
// when both gateways show the tunnel ESTABLISHED/INSTALLED with the expected
// traffic selectors and the replica's IO and SQL threads run.
//
// The harness reaches every lab daemon through unix sockets in the lab dir; no
// lab address is ever dialled from this machine's own network namespace, and
// the gateways have no route out, so lab traffic never leaves the lab.
//
// What a lab created is written to DIR/lab.json before it is created, so Down
// can remove exactly that, also after a crashed or killed Up.
package lab
