package targetfile

import (
	"time"

	"github.com/drdrill/drdrill/harness/target"
)

var _ target.Objectiver = (*Target)(nil)

// Objectives are the file's `objectives: {rpo, rto}`; one the file does
// not declare is -1 (target.Objectiver).
func (t *Target) Objectives() (rpo, rto time.Duration) {
	rpo, rto = -1, -1
	if o := t.file.Objectives; o.RPO != nil {
		rpo = *o.RPO
	}
	if o := t.file.Objectives; o.RTO != nil {
		rto = *o.RTO
	}
	return rpo, rto
}
