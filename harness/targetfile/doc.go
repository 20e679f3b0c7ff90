// Package targetfile reads a target file (drdrill.target/v1) and opens it as
// a target.Target: a user's real gateways and databases, reached on this
// machine, over TCP, or through SSH hosts a HostResolver gives.
//
// # The format
//
// YAML, one document, strict: an unknown key, a missing required field or a
// bad value is an *InputError naming the file, line and field
// ("t.yaml:14: sites.aws.db.socket: required"), and nothing is used until
// all of it is valid. The file never holds secrets.
//
//	schema: drdrill.target/v1          # required, exactly this
//	name: seoul-dr                     # required; [A-Za-z0-9._-], names the state dir
//	safety:
//	  allow_destructive: false         # default false; true AND --yes to change anything
//	  max_fault: 5m                    # default 5m, > 0: no fault is held longer
//	objectives: {rpo: 5s, rto: 2m}     # optional durations
//	workload: {database: drdrill, table: ping}  # the default; [A-Za-z0-9_]{1,64}
//	replication:                       # optional: the account the servers replicate with
//	  user: drdrill_repl               # (site-loss points the returned server back with it)
//	  password_env: DRDRILL_REPL_PASSWORD  # or password_file (not both)
//	ssh:                               # defaults for every ssh:// host
//	  known_hosts: ~/.ssh/known_hosts  # required when any via is ssh://
//	  identity_file: ~/.ssh/id_ed25519 # else the ssh agent ($SSH_AUTH_SOCK must be set)
//	  proxy_jump: bastion.example.com  # [user@]host[:port][,…], as OpenSSH -J; or
//	  proxy_command: ssh -W %h:%p gw   # as OpenSSH ProxyCommand (not both)
//	  user: drdrill                    # login user when a via names none
//	sites:                             # exactly two: one primary, one replica
//	  aws:                             # site name: [A-Za-z0-9_-], at most 32
//	    role: primary
//	    gateway:
//	      via: ssh://drdrill@vpn-aws.example.com  # omit for this machine
//	      vici: unix:///var/run/charon.vici       # or tcp://host:port (a warning: no auth)
//	      connection: onprem-aws                  # the IKE connection, required
//	      child: onprem-aws                       # its CHILD_SA config; default: connection
//	      exec: sudo                              # direct | sudo: commands may run there
//	      retransmit: {timeout: 4s, base: 1.8, tries: 5}  # as its strongswan.conf sets them
//	      keyingtries: 0                          # as the connection sets them
//	      start_action: none                      # none | trap | start | trap|start
//	      commands:                               # gateway-crash; needs exec
//	        kill: [systemctl, kill, -s, KILL, strongswan]
//	        start: [systemctl, start, strongswan]
//	      ssh: {proxy_jump: bastion-aws}          # this host's own ssh settings
//	    db:
//	      via: ssh://drdrill@db-aws.example.com
//	      socket: /run/mysqld/mysqld.sock         # or address: host:port (one of them)
//	      user: drdrill
//	      password_env: DRDRILL_AWS_DB_PASSWORD   # must be set (may be empty); or
//	      password_file: aws-db.pw                # 0600 (0400), its first line the password
//	      exec: sudo                              # direct | sudo: commands may run there
//	      tls: {ca: ca.pem, cert: c.pem, key: k.pem, server_name: db-aws}  # address only
//	  onprem:
//	    role: replica
//	    gateway: {...}
//	    db: {...}
//
// Beyond the design's contract, this version reads what charon does not
// report over VICI and drills need: per gateway retransmit (default charon's
// own, tunnel.DefaultRetransmit), keyingtries and start_action (reported in
// IKETimings as declared), and commands (kill: crash the IKE daemon with no
// DELETE sent; start: start it again, leaving it running WITH its
// connection loaded). An endpoint's own ssh: mapping overrides the file's
// ssh: defaults field by field; endpoints on one host must agree.
//
// Socket paths are absolute and at most 107 bytes (a unix socket's limit);
// they are on the endpoint's host and are not looked at here. Local files
// (known_hosts, identity_file, tls) must exist; ~ is the home directory and
// a relative path is relative to the target file's directory. Passwords
// are read from the environment or from a password_file that only its
// owner can read (group or other bits: refused) at Load, and kept out of
// every String, %v and error; File.Secrets and Target.Secrets give them
// to the redactor.
//
// # The target
//
// Open connects through the hosts a HostResolver gives and returns a
// target.Target whose tunnel expectations (traffic selectors) are read live
// from each gateway's loaded connection. It implements target.HostExec only
// when some gateway or database host has exec set (Exec refuses the
// others), and target.GatewayRestarter only when both gateways have
// commands; Base gets the *Target back. It is a target.Freezer that can
// freeze a database whose host has exec: the daemon found by its
// @@pid_file is stopped (SIGSTOP) behind a watchdog started on that host in
// its own session, which continues it after max_fault even when drdrill is
// killed; Thaw (in this process, or drdrill recover, which finds the pid in
// the watchdog's arguments) kills the watchdog and continues the daemon.
// It hands out replication: as target.ReplicationAccounter, and each
// database's user and password as target.DBLoginer.
package targetfile
