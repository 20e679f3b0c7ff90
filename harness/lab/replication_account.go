package lab

import "github.com/drdrill/drdrill/harness/target"

var _ target.ReplicationAccounter = (*Target)(nil)

// ReplicationAccount is the lab's replication user and its password
// (empty when the lab's secrets could not be read).
func (t *Target) ReplicationAccount() (user, password string) {
	if t.sec == nil {
		return "", ""
	}
	return t.sec.ReplUser, t.sec.ReplPassword
}
