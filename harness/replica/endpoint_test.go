package replica

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

func TestOpenEndpointValidates(t *testing.T) {
	for _, tc := range []struct {
		e    Endpoint
		want string
	}{
		{Endpoint{Network: "udp", Addr: "x", User: "u"}, "not supported"},
		{Endpoint{Network: "unix", User: "u"}, "address is empty"},
		{Endpoint{Network: "unix", Addr: "/x.sock"}, "user is empty"},
	} {
		if _, err := OpenEndpoint(context.Background(), tc.e); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.e, err, tc.want)
		}
	}
}

// The endpoint's Dial is what connects, and a failure never shows the password.
func TestOpenEndpointDialsThroughItsDialer(t *testing.T) {
	called := false
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := OpenEndpoint(ctx, Endpoint{Network: "tcp", Addr: "db.example:3306", User: "u", Password: "s3cret-pw",
		Dial: func(context.Context, string, string) (net.Conn, error) {
			called = true
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errString("refused for s3cret-pw")}
		}})
	if !called || err == nil || strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("called %v, err %v", called, err)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
