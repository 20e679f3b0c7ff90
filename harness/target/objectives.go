package target

import "time"

// Objectiver is a target that declares its DR objectives (a target file's
// `objectives: {rpo, rto}`): the site-loss drill passes or fails against
// them. A negative duration is an objective the target does not declare
// (the drill then uses its own default); 0 is an objective of zero.
type Objectiver interface {
	Objectives() (rpo, rto time.Duration)
}

// ReplicationAccounter is a target that can hand a drill the account its
// databases replicate with (the lab: its replication user): the site-loss
// drill needs it to point the returned old primary at the promoted one and
// back, the way the lab set replication up. The password is one of the
// target's Secrets().
type ReplicationAccounter interface {
	ReplicationAccount() (user, password string)
}

// CapReplicationAccount is ReplicationAccounter with an account to hand out.
const CapReplicationAccount Capability = "replication-account"

// DBLoginer is a target that says how a client run on a site's database
// host logs in to that database: the site-loss drill loads the rebuild's
// dump with it. Without it the client logs in as root over the socket with
// no password (the lab). The password is one of the target's Secrets().
type DBLoginer interface {
	DBLogin(site string) (user, password string)
}
