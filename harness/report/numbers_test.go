package report

import (
	"testing"
	"time"
)

func TestNumbers(t *testing.T) {
	r := New("vpn-outage", "lab", "d-1", time.Now())
	r.DurationMS = 4050
	ms := 3010.25
	r.Metrics.OutageDetectMS = &ms
	r.Metrics.RowsMissingOnReplica = 2
	r.Metrics.Extra["self_heal_ms"] = 12.5
	r.Metrics.Extra["one_sided_recognised"] = "aws SPI 1 != onprem SPI 2"
	r.Metrics.Extra["clients"] = map[string]any{"pool": map[string]any{"write_unavailable_ms": 7, "stuck": true}}
	got := Numbers(r)
	want := map[string]float64{"duration_ms": 4050, "outage_detect_ms": 3010.25, "rows_missing_on_replica": 2,
		"rows_written": 0, "rows_written_during_outage": 0, "rows_unexpected_on_replica": 0,
		"self_heal_ms": 12.5, "clients.pool.write_unavailable_ms": 7}
	if len(got) != len(want) {
		t.Errorf("Numbers = %v, want %v", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if _, ok := got["tunnel_recover_ms"]; ok {
		t.Error("an unmeasured duration is a number (0), not absent")
	}
	if n := SortedNames(got); n[0] != DurationMetric || n[1] != "clients.pool.write_unavailable_ms" {
		t.Errorf("SortedNames: %v", n)
	}
}

func TestCountsLoss(t *testing.T) {
	for name, want := range map[string]bool{"rows_missing_on_replica": true, "writes_lost": true, "rpo_rows": true,
		"rows_written": false, "catchup_rows": false, "writer_failed": false, "outage_detect_ms": false} {
		if CountsLoss(name) != want {
			t.Errorf("CountsLoss(%s) = %v", name, !want)
		}
	}
}
