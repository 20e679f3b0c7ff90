// Package transport is how drdrill reaches a target's hosts: a Host dials
// unix sockets and TCP addresses as that host sees them, and runs commands
// there. Local is this machine; SSH hosts (package transport/sshhost) reach
// unix sockets through direct-streamlocal and TCP through the same client,
// one connection per host shared by all its channels.
//
// Everything above this package (VICI sessions, MySQL connections, fault
// commands) takes a Host, so a target file can mix local, TCP and SSH.
package transport
