package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/drdrill/drdrill/harness/targetfile"
	"github.com/drdrill/drdrill/harness/transport"
	"github.com/drdrill/drdrill/harness/transport/sshhost"
)

// reconnects carries the SSH transport's reconnect reports to whoever
// records the run (the drill's timeline): set it before a drill.
var reconnects struct {
	sync.Mutex
	note func(host string, err error)
}

func onReconnect(host string, err error) {
	reconnects.Lock()
	f := reconnects.note
	reconnects.Unlock()
	if f != nil {
		f(host, err)
	}
}

// sshResolver reaches a target file's ssh:// hosts.
func sshResolver(f *targetfile.File) (targetfile.HostResolver, func(), error) {
	// One pool per distinct ssh settings (a lab host has a proxy
	// command of its own): hosts with the same settings share it.
	var mu sync.Mutex
	pools := map[targetfile.SSH]*sshhost.Pool{}
	closeAll := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range pools {
			p.Close()
		}
	}
	return func(ctx context.Context, via, site string) (transport.Host, error) {
		s, ok := f.SSHFor(via)
		if !ok {
			return nil, fmt.Errorf("%s: no ssh settings for it in %s", via, f.Path)
		}
		mu.Lock()
		p := pools[s]
		if p == nil {
			var err error
			p, err = sshhost.NewPool(sshhost.Options{KnownHosts: s.KnownHosts, IdentityFile: s.IdentityFile, ProxyJump: s.ProxyJump,
				ProxyCommand: s.ProxyCommand, User: s.User, UseAgent: s.IdentityFile == "", OnReconnect: onReconnect})
			if err != nil {
				mu.Unlock()
				return nil, usageErrorf("%s: %v", via, err)
			}
			pools[s] = p
		}
		mu.Unlock()
		return p.Host(ctx, via)
	}, closeAll, nil
}
