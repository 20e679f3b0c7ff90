package scenarios

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/fault"
	"github.com/drdrill/drdrill/harness/report"
)

func TestWANBlackhole(t *testing.T) {
	env := newEnv(t)
	r := runDrill(context.Background(), WANBlackhole(WANBlackholeOptions{}), env)
	m := writeReport(t, env, r)
	if r.Verdict != report.VerdictPass {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Diagnosis)
	}
	for _, name := range []string{"outage_observed", "replica_timed_out", "dpd_declared_dead", "tunnel_self_healed", "io_recovered", "gtid_applied", "ledger_matches", "tunnel_healthy"} {
		if !reportHasCheck(r, name, check.Pass) {
			t.Errorf("check %s did not pass", name)
		}
	}
	// DPD evidence in the contract's timeline: ike_updown up=false from a
	// gateway, and no terminate (a "down" action) by anyone.
	var sawDown bool
	for _, e := range m["timeline"].([]any) {
		ev := e.(map[string]any)
		d, _ := ev["detail"].(map[string]any)
		if ev["kind"] == "ike_updown" && strings.HasPrefix(ev["source"].(string), "tunnel/") && d["up"] == false {
			sawDown = true
		}
		if d["action"] == "down" || d["action"] == "up" {
			t.Errorf("the drill must not terminate or initiate: %v", ev)
		}
	}
	if !sawDown {
		t.Error("timeline lacks an ike_updown up=false from a gateway")
	}
	extra := r.Metrics.Extra
	if v, ok := extra["self_heal_ms"].(float64); !ok || v <= 0 {
		t.Errorf("self_heal_ms = %v", extra["self_heal_ms"])
	}
	assertBlackholeGone(t, env)
}

// The blackhole is never lifted: the tunnel cannot heal, and the drill
// fails saying what each gateway is doing; the deferred recovery lifts it.
func TestWANBlackholeFailsWhenNeverLifted(t *testing.T) {
	env := newEnv(t)
	r := runDrill(context.Background(), WANBlackhole(WANBlackholeOptions{KeepBlackhole: true}), env)
	writeReport(t, env, r)
	if r.Verdict != report.VerdictFail || !reportHasCheck(r, "tunnel_self_healed", check.Fail) {
		t.Fatalf("want fail at tunnel_self_healed, got %s: %s", r.Verdict, r.Diagnosis)
	}
	for _, want := range []string{"did not heal by itself", "aws: ", "onprem: ", "charon: "} {
		if !strings.Contains(r.Diagnosis, want) {
			t.Errorf("diagnosis lacks %q: %s", want, r.Diagnosis)
		}
	}
	assertBlackholeGone(t, env)
	// Lifted by the deferred recovery: the tunnel heals by itself.
	first, second := env.TunnelSides()
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := waitHealthyForTest(wctx, first, second); err != nil {
		t.Fatalf("tunnel did not heal after the deferred lift: %v", err)
	}
}

func reportHasCheck(r *report.Report, name, verdict string) bool {
	for _, c := range r.Checks {
		if c.Name == name && c.Verdict == verdict {
			return true
		}
	}
	return false
}

func assertBlackholeGone(t *testing.T, env *testEnv) {
	t.Helper()
	for _, h := range []string{"aws-gw", "onprem-gw"} {
		out, err := env.ExecHost(context.Background(), h, "nft", "list", "tables")
		if err != nil || strings.Contains(string(out), fault.BlackholeTable) {
			t.Errorf("%s: nft table left behind (%v): %s", h, err, out)
		}
		out, err = env.ExecHost(context.Background(), h, "ip", "route", "show", "type", "blackhole")
		if err != nil || strings.TrimSpace(string(out)) != "" {
			t.Errorf("%s: blackhole route left behind (%v): %s", h, err, out)
		}
	}
}

// Unit tests (no lab) of the drill's checks and windows.
