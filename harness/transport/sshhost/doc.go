// Package sshhost reaches a target's hosts over SSH (golang.org/x/crypto/ssh)
// as transport.Hosts: unix sockets through direct-streamlocal@openssh.com,
// TCP addresses as the host reaches them, and commands run in a session.
//
// A [Pool] holds one SSH connection per host, shared by all its channels,
// checked by keepalives; a connection found lost is dialled again on the next
// Dial or Exec (once per call) and reported through Options.OnReconnect, so
// that a drill records it instead of failing. Host keys are always checked
// against a known_hosts file: an unknown host or a changed key is refused
// with its SHA256 fingerprint and what to do ([ErrUnknownHost],
// [ErrHostKeyChanged]); there is no way to skip the check.
//
// Authentication is by key only (an identity file, the ssh agent, or both);
// passwords are never used. Hosts are reached directly over TCP, through a
// chain of jump hosts (ProxyJump, as OpenSSH's -J), or through a proxy
// command whose stdin and stdout are the connection (as OpenSSH's
// ProxyCommand); a proxy command's process group is ended when its
// connection closes.
package sshhost
