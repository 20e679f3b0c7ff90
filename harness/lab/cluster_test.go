package lab

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/drdrill/drdrill/harness/replica"
	"github.com/drdrill/drdrill/harness/target"
)

// A four-host lab is no cluster: no instances, so the capability is
// missing, and every method says so rather than act.
func TestClusterAbsentOnFourHostLab(t *testing.T) {
	tg := &Target{info: &Info{}}
	if tg.Instances() != nil || tg.Apps() != nil || tg.WriterEndpoint() != "" || tg.EndpointTTL() != 0 {
		t.Fatal("a four-host lab reports cluster parts")
	}
	if target.Has(tg, target.CapCluster) {
		t.Fatal("a four-host lab has CapCluster")
	}
	if u, p := tg.AppAccount(); u != "" || p != "" {
		t.Fatal("a four-host lab has an app account")
	}
	ctx := context.Background()
	if _, err := tg.Endpoints(ctx); err == nil || !strings.Contains(err.Error(), "no cluster") {
		t.Fatalf("Endpoints: %v", err)
	}
	if err := tg.FlipEndpoint(ctx, WriterName, "aws-db2"); err == nil || !strings.Contains(err.Error(), "no cluster") {
		t.Fatalf("FlipEndpoint: %v", err)
	}
	if _, err := tg.ReplicationSource("aws-db"); err == nil {
		t.Fatal("ReplicationSource without a cluster")
	}
}

// Bad names are refused, naming the bad one, before the zone is touched
// (this Target has no zone at all: reaching FlipCNAME would say so).
func TestClusterFlipEndpointValidates(t *testing.T) {
	tg := &Target{info: &Info{}, sec: &Secrets{ReplUser: "drdrill_repl", ReplPassword: "s3cret"}, cluster: &cluster{instances: []*target.Instance{
		{Name: "aws-db", Addr: "10.20.11.123"}, {Name: "aws-db2", Addr: db2Addr}}}}
	ctx := context.Background()
	for _, tc := range []struct{ endpoint, instance, want string }{
		{"writer.cluster.lab.", "aws-db2", `endpoint "writer.cluster.lab."`},
		{"db.cluster.lab", "aws-db2", `endpoint "db.cluster.lab"`},
		{WriterName, "aws-db3", `instance "aws-db3": want aws-db or aws-db2`},
		{ReaderName, "onprem-db", `instance "onprem-db"`},
	} {
		err := tg.FlipEndpoint(ctx, tc.endpoint, tc.instance)
		var ie *InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("FlipEndpoint(%q, %q) = %v, want a one-line input error containing %q", tc.endpoint, tc.instance, err, tc.want)
		}
	}
	src, err := tg.ReplicationSource("aws-db2")
	if err != nil || src != (replica.Source{Host: db2Addr, Port: 3306, User: "drdrill_repl", Password: "s3cret"}) {
		t.Fatalf("ReplicationSource(aws-db2) = %+v, %v", src, err)
	}
	if _, err := tg.ReplicationSource("aws-db3"); err == nil || !strings.Contains(err.Error(), `"aws-db3"`) {
		t.Fatalf("ReplicationSource(aws-db3): %v", err)
	}
}

// appDB opens a pool as the app account whose every socket is made by the
// App's dialer (inside its namespace), to addr.
func appDB(app target.App, addr, user, password string) (*sql.DB, error) {
	mc := mysql.NewConfig()
	mc.User, mc.Passwd = user, password
	mc.Net, mc.Addr = "tcp", addr
	mc.Timeout = 3 * time.Second
	mc.DialFunc = func(ctx context.Context, network, a string) (net.Conn, error) {
		return app.Dialer.DialContext(ctx, network, a)
	}
	mc.Logger = mysql.Logger(log.New(io.Discard, "", 0))
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(conn), nil
}

func TestClusterLab(t *testing.T) {
	requireFailoverLab(t)
	info := upFailoverLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tg, err := Open(ctx, info, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	if !target.Has(tg, target.CapCluster) {
		t.Fatal("a failover lab lacks CapCluster")
	}
	ins := tg.Instances()
	if len(ins) != 2 || ins[0].Name != "aws-db" || ins[0].Addr != "10.20.11.123" || ins[0].DB != tg.Sites()[0].DB ||
		ins[1].Name != "aws-db2" || ins[1].Addr != db2Addr {
		t.Fatalf("instances: %+v %+v", ins[0], ins[1])
	}
	for i, want := range []int64{1, db2ID} {
		if id, err := ins[i].DB.ServerID(ctx); err != nil || id != want {
			t.Fatalf("%s: server id %d %v, want %d", ins[i].Name, id, err, want)
		}
	}
	eps, err := tg.Endpoints(ctx)
	if err != nil || eps[tg.WriterEndpoint()] != "aws-db" || eps[tg.ReaderEndpoint()] != "aws-db2" || tg.EndpointTTL() != 5*time.Second {
		t.Fatalf("endpoints %v %v, ttl %s", eps, err, tg.EndpointTTL())
	}
	apps := tg.Apps()
	if len(apps) != 2 || apps[0].Name != "aws-app" || apps[1].Name != "peer-app" || !strings.Contains(apps[1].Network, "peered") {
		t.Fatalf("apps: %+v", apps)
	}

	user, pass := tg.AppAccount()
	if user != AppUser || pass == "" || !slices.Contains(tg.Secrets(), pass) {
		t.Fatalf("app account %q: password empty or not among the lab's secrets", user)
	}

	t.Run("app account: exists on all three servers with SELECT, INSERT only", func(t *testing.T) {
		onprem := tg.Sites()[1].DB
		for name, db := range map[string]*replica.Conn{"aws-db": ins[0].DB, "aws-db2": ins[1].DB, "onprem-db": onprem} {
			rows, err := db.DB().QueryContext(ctx, "SHOW GRANTS FOR 'app'@'%'")
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var grants []string
			for rows.Next() {
				var g string
				rows.Scan(&g)
				grants = append(grants, g)
			}
			rows.Close()
			all := strings.Join(grants, "; ")
			if !strings.Contains(all, "GRANT SELECT, INSERT ON `testdb`.* TO `app`@`%`") ||
				strings.Contains(all, "SUPER") || strings.Contains(all, "READ ONLY ADMIN") || strings.Contains(all, "ALL PRIVILEGES") {
				t.Errorf("%s: grants of app: %s", name, all)
			}
			if strings.Contains(all, pass) {
				t.Errorf("%s: the grants show the password", name)
			}
		}
		// The binary log carries the hash, never the password.
		rows, err := ins[0].DB.DB().QueryContext(ctx, "SHOW BINLOG EVENTS")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]sql.RawBytes, len(cols))
			ptrs := make([]any, len(vals))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rows.Scan(ptrs...)
			for _, v := range vals {
				if strings.Contains(string(v), pass) {
					t.Fatal("aws-db's binary log holds the app password")
				}
			}
		}
	})

	t.Run("app account: write refused with 1290 on read-only aws-db2, accepted on aws-db, from inside aws-app", func(t *testing.T) {
		for _, tc := range []struct {
			addr  string
			errno uint16
		}{{db2Addr + ":3306", 1290}, {"10.20.11.123:3306", 0}} {
			db, err := appDB(apps[0], tc.addr, user, pass)
			if err != nil {
				t.Fatal(err)
			}
			_, err = db.ExecContext(ctx, "INSERT INTO testdb.ping(msg) VALUES ('app account write')")
			db.Close()
			var me *mysql.MySQLError
			switch {
			case tc.errno == 0 && err != nil:
				t.Errorf("%s: app write refused: %v", tc.addr, err)
			case tc.errno != 0 && (!errors.As(err, &me) || me.Number != tc.errno):
				t.Errorf("%s: app write: %v, want error %d", tc.addr, err, tc.errno)
			}
			if err != nil && strings.Contains(err.Error(), pass) {
				t.Error("the error carries the password")
			}
		}
	})

	t.Run("the app's resolver asks aws-dns from inside its namespace", func(t *testing.T) {
		for _, a := range apps {
			ips, err := a.Resolver.LookupIPv4(ctx, tg.WriterEndpoint())
			if err != nil || len(ips) != 1 || ips[0].String() != "10.20.11.123" {
				t.Errorf("%s: %s → %v %v", a.Name, tg.WriterEndpoint(), ips, err)
			}
		}
	})

	t.Run("flip endpoint", func(t *testing.T) {
		if err := tg.FlipEndpoint(ctx, tg.WriterEndpoint(), "aws-db2"); err != nil {
			t.Fatal(err)
		}
		eps, err := tg.Endpoints(ctx)
		if err != nil || eps[WriterName] != "aws-db2" {
			t.Fatalf("after the flip: %v %v", eps, err)
		}
		ips, err := apps[1].Resolver.LookupIPv4(ctx, WriterName)
		if err != nil || len(ips) != 1 || ips[0].String() != db2Addr {
			t.Fatalf("peer-app after the flip: %v %v", ips, err)
		}
	})
}
