package tunnel

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/strongswan/govici/vici"
)

// ConnConfig is the part of a swanctl.conf connection drdrill loads through
// VICI's load-conn (keys as in swanctl.conf).
type ConnConfig struct {
	Name        string
	LocalAddrs  []string
	RemoteAddrs []string
	Proposals   []string
	LocalID     string
	RemoteID    string
	DPDDelay    time.Duration
	// Keyingtries: 0 retries forever, which is what lets dpd_action=restart
	// heal an outage longer than one retransmission sequence.
	Keyingtries int
	Children    []ChildConfig
}

// ChildConfig is one CHILD SA of a connection.
type ChildConfig struct {
	Name         string
	LocalTS      []string
	RemoteTS     []string
	ESPProposals []string
	DPDAction    string // clear, trap, restart
	StartAction  string // none, trap, start
	CloseAction  string // none, trap, start
}

// Validate names the first missing field.
func (c ConnConfig) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("connection: name is empty")
	case len(c.LocalAddrs) == 0 || len(c.RemoteAddrs) == 0:
		return fmt.Errorf("connection %s: local_addrs and remote_addrs are required", c.Name)
	case c.LocalID == "" || c.RemoteID == "":
		return fmt.Errorf("connection %s: local and remote ids are required", c.Name)
	case len(c.Children) == 0:
		return fmt.Errorf("connection %s: no children", c.Name)
	}
	for _, ch := range c.Children {
		if ch.Name == "" || len(ch.LocalTS) == 0 || len(ch.RemoteTS) == 0 {
			return fmt.Errorf("connection %s: child %q needs a name and traffic selectors", c.Name, ch.Name)
		}
	}
	return nil
}

func (c ConnConfig) message() *vici.Message {
	conn := vici.NewMessage()
	set(conn, "version", "2")
	set(conn, "local_addrs", c.LocalAddrs)
	set(conn, "remote_addrs", c.RemoteAddrs)
	if len(c.Proposals) > 0 {
		set(conn, "proposals", c.Proposals)
	}
	if c.DPDDelay > 0 {
		set(conn, "dpd_delay", fmt.Sprintf("%ds", int(c.DPDDelay.Seconds())))
	}
	set(conn, "keyingtries", strconv.Itoa(c.Keyingtries))
	local := vici.NewMessage()
	set(local, "auth", "psk")
	set(local, "id", c.LocalID)
	set(conn, "local", local)
	remote := vici.NewMessage()
	set(remote, "auth", "psk")
	set(remote, "id", c.RemoteID)
	set(conn, "remote", remote)
	children := vici.NewMessage()
	for _, ch := range c.Children {
		cm := vici.NewMessage()
		set(cm, "local_ts", ch.LocalTS)
		set(cm, "remote_ts", ch.RemoteTS)
		if len(ch.ESPProposals) > 0 {
			set(cm, "esp_proposals", ch.ESPProposals)
		}
		for k, v := range map[string]string{"dpd_action": ch.DPDAction, "start_action": ch.StartAction, "close_action": ch.CloseAction} {
			if v != "" {
				set(cm, k, v)
			}
		}
		set(children, ch.Name, cm)
	}
	set(conn, "children", children)
	root := vici.NewMessage()
	set(root, c.Name, conn)
	return root
}

// LoadConn loads (or replaces) a connection.
func (g *Gateway) LoadConn(ctx context.Context, c ConnConfig) error {
	if err := c.Validate(); err != nil {
		return err
	}
	_, err := g.call(ctx, "load-conn", c.message())
	return err
}

// UnloadConn removes a connection; unknown connections are not an error.
func (g *Gateway) UnloadConn(ctx context.Context, name string) error {
	in := vici.NewMessage()
	set(in, "name", name)
	_, err := g.call(ctx, "unload-conn", in)
	return err
}

// LoadSharedPSK loads an IKE pre-shared key for the given identities. The
// secret goes into the VICI message only; errors never carry it.
func (g *Gateway) LoadSharedPSK(ctx context.Context, id, secret string, owners ...string) error {
	if secret == "" {
		return errors.New("load shared key: secret is empty")
	}
	in := vici.NewMessage()
	set(in, "id", id)
	set(in, "type", "IKE")
	set(in, "data", secret)
	set(in, "owners", owners)
	if _, err := g.call(ctx, "load-shared", in); err != nil {
		// charon's errmsg does not echo the key, but do not rely on it.
		return fmt.Errorf("%s load-shared %s: failed (key not shown)", g.name, id)
	}
	return nil
}
