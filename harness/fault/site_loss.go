package fault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/drdrill/drdrill/harness/poll"
	"github.com/drdrill/drdrill/harness/target"
	"github.com/drdrill/drdrill/harness/timeline"
	"github.com/drdrill/drdrill/harness/tunnel"
)

// DefaultSiteLossLimit bounds a site-loss injected without a limit (no
// Plan, or max_fault 0): a frozen database is never left without a
// dead-man's switch.
const DefaultSiteLossLimit = 10 * time.Minute

// SiteLoss takes a whole site dark at once, writes in flight: the WAN is
// blackholed (the wan-blackhole fault, its nft set elements expiring at
// the limit) and the site's database is frozen (target.Freezer: SIGSTOP),
// so that its connections neither answer nor close, as a site that lost
// power or its uplink looks from outside. Writes the site committed but
// never shipped stay on it: the lost writes of a failover (package
// divergence finds them when the site returns).
//
// Dead-man's switch: both halves revert by themselves after the limit
// (Plan's, else DefaultSiteLossLimit) even when drdrill is killed: the nft
// elements expire, and the Freezer's watchdog in the db host continues the
// daemon (the lab: a detached sh in the host's namespace).
//
// Recover thaws the database and lifts the blackhole, whatever Inject got
// to. WaitRecovered waits for the tunnel (healed by itself, else the
// documented order) and for the database to answer; it does not wait for
// replication, whose direction a failover drill has changed meanwhile.
type SiteLoss struct {
	built
	Freezer target.Freezer
	// DB is the frozen database's host; Ping probes it (nil: nothing to
	// probe, WaitForEffect and WaitRecovered skip the database).
	DB   target.Host
	Ping func(ctx context.Context) error
	WAN  *WANBlackhole
	TL   *timeline.Timeline
	// DBWait bounds WaitRecovered's wait for the database to answer.
	DBWait time.Duration
	// EffectTimeout bounds WaitForEffect.
	EffectTimeout time.Duration
	// Limit is the dead-man's switch of both halves (0: DefaultSiteLossLimit).
	Limit time.Duration

	mu        sync.Mutex
	recovered bool
}

// siteLossData is the journal's data: the blackhole's ends and the
// frozen database's host.
type siteLossData struct {
	Blackhole json.RawMessage `json:"blackhole,omitempty"`
	DB        string          `json:"db"`
}

func (f *SiteLoss) Name() string { return "site-loss" }

func (f *SiteLoss) limit() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Limit > 0 {
		return f.Limit
	}
	return DefaultSiteLossLimit
}

// Plan resolves the blackhole's ends and arms both switches with limit.
func (f *SiteLoss) Plan(ctx context.Context, limit time.Duration) (Plan, error) {
	f.mu.Lock()
	f.Limit = limit
	f.mu.Unlock()
	wp, err := f.WAN.Plan(ctx, f.limit())
	if err != nil {
		return Plan{}, fmt.Errorf("site-loss: %w", err)
	}
	data, err := json.Marshal(siteLossData{Blackhole: wp.Data, DB: f.DB.String()})
	if err != nil {
		return Plan{}, err
	}
	return Plan{
		Hosts:   append(wp.Hosts, f.DB.String()),
		What:    fmt.Sprintf("site %s goes dark: %s; %s's database daemon stopped (SIGSTOP): connections neither answer nor close", f.DB.Site, wp.What, f.DB),
		Undo:    fmt.Sprintf("on %s: kill -CONT the database daemon (mariadbd); %s", f.DB, wp.Undo),
		DeadMan: f.DeadMan(),
		Data:    data,
	}, nil
}

// DeadMan says what reverts the fault by itself.
func (f *SiteLoss) DeadMan() string {
	return fmt.Sprintf("a watchdog in %s continues the database %s after the inject (cancelled by recover); %s",
		f.DB, f.limit(), f.WAN.DeadMan())
}

// Resume takes the journalled ends; Recover then thaws the database and
// lifts the blackhole on them.
func (f *SiteLoss) Resume(data json.RawMessage) error {
	var d siteLossData
	if len(data) > 0 {
		if err := json.Unmarshal(data, &d); err != nil {
			return fmt.Errorf("site-loss: resume: %w", err)
		}
		if d.DB != "" && d.DB != f.DB.String() {
			return fmt.Errorf("site-loss: resume: the journal froze %s, the parameters name %s", d.DB, f.DB)
		}
	}
	if err := f.WAN.Resume(d.Blackhole); err != nil {
		return fmt.Errorf("site-loss: %w", err)
	}
	f.mu.Lock()
	f.recovered = false
	f.mu.Unlock()
	return nil
}

// Inject blackholes the WAN, then freezes the database: the replica stops
// receiving first, so what the primary commits from then on stays on it.
func (f *SiteLoss) Inject(ctx context.Context) error {
	limit := f.limit()
	f.WAN.mu.Lock()
	f.WAN.Limit = limit
	f.WAN.mu.Unlock()
	f.mu.Lock()
	f.recovered = false
	f.mu.Unlock()
	if err := f.WAN.Inject(ctx); err != nil {
		return fmt.Errorf("site-loss: %w", err)
	}
	if err := f.Freezer.Freeze(ctx, f.DB, limit); err != nil {
		return fmt.Errorf("site-loss: %w", err)
	}
	f.TL.Add("fault", timeline.KindFault, map[string]any{"fault": f.Name(), "action": "inject", "host": f.DB.String(),
		"detail": "database daemon stopped (SIGSTOP)", "dead_man": fmt.Sprintf("thawed by a watchdog in %s after %s", f.DB, limit)})
	return nil
}

// WaitForEffect returns once the blackhole dropped a packet and the
// database does not answer a ping within 300 ms.
func (f *SiteLoss) WaitForEffect(ctx context.Context) error {
	if err := f.WAN.WaitForEffect(ctx); err != nil {
		return fmt.Errorf("site-loss: %w", err)
	}
	if f.Ping == nil {
		return nil
	}
	timeout := f.EffectTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	return poll.Until(ctx, f.DB.String()+"'s database to stop answering", 20*time.Millisecond, timeout, func(ctx context.Context) (bool, string, error) {
		pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		err := f.Ping(pctx)
		cancel()
		if err == nil {
			return false, "it answered a ping", nil
		}
		return true, "", nil
	})
}

// Recover thaws the database and lifts the blackhole, both even when the
// other fails; it does nothing to the tunnel or to replication.
func (f *SiteLoss) Recover(ctx context.Context) error {
	var errs []error
	if err := f.Freezer.Thaw(ctx, f.DB); err != nil {
		errs = append(errs, fmt.Errorf("site-loss: %w", err))
	}
	d := timeline.Fault{Fault: f.Name(), Action: "recover", Detail: "database daemon continued (SIGCONT), watchdog cancelled",
		Extra: map[string]any{"host": f.DB.String()}}
	if len(errs) > 0 {
		d.Extra["error"] = errs[0].Error()
	}
	f.TL.Add("fault", timeline.KindFault, d)
	if err := f.WAN.Recover(ctx); err != nil {
		errs = append(errs, fmt.Errorf("site-loss: %w", err))
	}
	if len(errs) == 0 {
		f.mu.Lock()
		f.recovered = true
		f.mu.Unlock()
	}
	return errors.Join(errs...)
}

// WaitRecovered recovers if Recover did not, waits for the tunnel (see
// WANBlackhole.WaitRecovered) and for the database to answer.
func (f *SiteLoss) WaitRecovered(ctx context.Context) error {
	f.mu.Lock()
	done := f.recovered
	f.mu.Unlock()
	if !done {
		if err := f.Recover(ctx); err != nil {
			return err
		}
	}
	if err := f.WAN.WaitRecovered(ctx); err != nil {
		return fmt.Errorf("site-loss: %w", err)
	}
	if f.Ping == nil {
		return nil
	}
	wait := f.DBWait
	if wait == 0 {
		wait = 30 * time.Second
	}
	return poll.Until(ctx, f.DB.String()+"'s database to answer", 20*time.Millisecond, wait, func(ctx context.Context) (bool, string, error) {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := f.Ping(pctx)
		cancel()
		if err != nil {
			return false, err.Error(), nil
		}
		return true, "", nil
	})
}

func init() {
	Register(Spec{Name: "site-loss",
		Description: "a site goes dark with writes in flight: the WAN blackholed (nftables) and its database frozen (SIGSTOP); both revert by themselves after max_fault",
		Needs:       []target.Capability{target.CapExec, target.CapFreeze},
		Params: []Param{{Name: "site", Default: "the primary's site", Doc: "the site that goes dark"},
			{Name: "heal_wait", Default: "the heal window of the gateways' IKE timings", Doc: "how long the tunnel may take to heal by itself before the documented order"},
			{Name: "ike_timeout", Default: "10s", Doc: "bound of each IKE exchange of a documented-order recovery"},
			{Name: "db_wait", Default: "30s", Doc: "how long the thawed database may take to answer"}},
		New: func(t target.Target, tl *timeline.Timeline, p Params) (Fault, error) {
			first, second, err := sides(t, "")
			if err != nil {
				return nil, fmt.Errorf("site-loss needs a target with two gateways: %w", err)
			}
			site := first
			if n := p.String("site", ""); n != "" {
				if site, err = target.SiteNamed(t, n); err != nil {
					return nil, err
				}
			}
			heal, err := p.Duration("heal_wait", 0)
			if err != nil {
				return nil, err
			}
			ike, err := p.Duration("ike_timeout", 10*time.Second)
			if err != nil {
				return nil, err
			}
			dbWait, err := p.Duration("db_wait", 30*time.Second)
			if err != nil {
				return nil, err
			}
			f := &SiteLoss{Freezer: t.(target.Freezer), DB: target.Host{Site: site.Name, Kind: target.DBHost}, TL: tl, DBWait: dbWait,
				WAN: &WANBlackhole{Hosts: t.(target.HostExec), Sides: []tunnel.Side{first.Side(), second.Side()}, TL: tl,
					HealWait: heal, IKETimings: t.IKETimings, IKETimeout: ike}}
			if db := site.DB; db != nil && db.DB() != nil {
				f.Ping = db.DB().PingContext
			}
			return f, nil
		}})
}
