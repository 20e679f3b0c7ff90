package lab

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"text/template"
)

// Via is how a lab target file reaches the lab's hosts.
const (
	// ViaNetns: unix sockets through the filesystem, commands with
	// `ip netns exec` (transport.Netns), or `docker exec` for the docker
	// backend (transport.Docker).
	ViaNetns = "local"
	// ViaSSH: an sshd per host started in inetd mode inside the host's
	// namespace by proxy_command (nothing listens; see EnableSSH).
	ViaSSH = "ssh"
)

// TargetFileOptions shape a lab's target file.
type TargetFileOptions struct {
	Via string // ViaNetns (default) or ViaSSH
	// Drdrill is the drdrill binary the gateway kill/start commands run.
	Drdrill string
	// SSH is the lab's ssh access (ViaSSH: EnableSSH).
	SSH *SSHAccess
}

// TargetFile renders a drdrill.target/v1 file for a running lab: the
// gateways' VICI and MariaDB sockets, exec on the hosts, and commands to
// crash and restart a gateway (drdrill lab gateway kill|start). The lab is
// throwaway, so it allows destructive drills; --yes is still required.
func TargetFile(info *Info, o TargetFileOptions) ([]byte, error) {
	if o.Via == "" {
		o.Via = ViaNetns
	}
	if o.Via == ViaSSH && o.SSH == nil {
		return nil, fmt.Errorf("lab target via ssh: the lab has no ssh access (EnableSSH)")
	}
	if o.Via != ViaNetns && o.Via != ViaSSH {
		return nil, inputErrorf("--via %q: want local or ssh", o.Via)
	}
	type host struct{ Via, ProxyCommand string }
	type site struct {
		Name, Role, VICI, Socket, Connection, StartAction string
		Keyingtries                                       int
		GW, DB                                            host
		// TLS: the database by address over TLS (a TLS lab, via ssh).
		DBAddr, ServerName string
	}
	data := struct {
		Commands, DBExec                                         bool
		ReplUser, ReplPasswordFile                               string
		TLSUser, TLSPasswordFile, TLSCA                          string
		ID, Dir, Drdrill, Via, RetransmitTimeout, RetransmitBase string
		RetransmitTries                                          int
		SSH                                                      *SSHAccess
		Sites                                                    []site
	}{ID: info.ID, Dir: info.Dir, Drdrill: o.Drdrill, Via: o.Via, RetransmitTimeout: retransmitTimeout + "s", RetransmitBase: retransmitBase,
		RetransmitTries: retransmitTries, SSH: o.SSH,
		// The gateway commands run drdrill on the gateway's host: in the
		// netns lab that is this machine; a container has no drdrill.
		Commands: info.Backend == "netns" && o.Drdrill != "",
		// A container's mariadbd is its PID 1, which ignores the SIGSTOP
		// of a freeze: the docker lab's db hosts allow no commands.
		DBExec: info.Backend == "netns"}
	if o.Via == ViaSSH && info.TLS != nil {
		// Over ssh the databases are reached by address, as a real
		// target's often are: TCP from the db host itself, with TLS.
		data.TLSUser, data.TLSPasswordFile, data.TLSCA = info.TLS.User, filepath.Join(info.Dir, TLSPasswordFile), info.TLS.CA
	}
	if sec, err := LoadSecrets(info.Dir); err == nil && sec.ReplUser != "" {
		if _, err := os.Stat(filepath.Join(info.Dir, ReplPasswordFile)); err == nil {
			data.ReplUser, data.ReplPasswordFile = sec.ReplUser, filepath.Join(info.Dir, ReplPasswordFile)
		}
	}
	for _, s := range Sites {
		is := info.Sites[s]
		if is == nil {
			return nil, fmt.Errorf("lab %s has no site %s", info.Dir, s)
		}
		cc := ConnConfig(info, s)
		st := site{Name: s, Role: is.DB.Role, VICI: is.Gateway.VICI, Socket: is.DB.Socket, Connection: ConnName,
			StartAction: cc.Children[0].StartAction, Keyingtries: cc.Keyingtries}
		if st.StartAction == "" {
			st.StartAction = "none"
		}
		if o.Via == ViaSSH && info.TLS != nil {
			st.DBAddr, st.ServerName = is.DB.Addr+":3306", TLSServerName(s)
		}
		for _, h := range []struct {
			dst  *host
			name string
			ns   string
		}{{&st.GW, s + "-gw", is.Gateway.Host}, {&st.DB, s + "-db", is.DB.Host}} {
			if o.Via == ViaSSH {
				pc := o.SSH.Hosts[h.name].ProxyCommand
				if pc == "" {
					return nil, fmt.Errorf("lab target via ssh: no proxy command for %s", h.name)
				}
				*h.dst = host{Via: "ssh://" + o.SSH.User + "@" + h.name, ProxyCommand: pc}
			} else if info.Backend == "docker" {
				*h.dst = host{Via: "docker://" + h.ns}
			} else {
				*h.dst = host{Via: "netns://" + h.ns}
			}
		}
		data.Sites = append(data.Sites, st)
	}
	var b bytes.Buffer
	if err := targetFileTmpl.Execute(&b, data); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

var targetFileTmpl = template.Must(template.New("target").Parse(`# drdrill target file for the embedded lab {{.ID}} at {{.Dir}} (via {{.Via}}).
# Made by drdrill lab target; valid while that lab is up.
schema: drdrill.target/v1
name: lab-{{.ID}}
safety:
  allow_destructive: true   # a throwaway lab; drdrill run still needs --yes
  max_fault: 2m
objectives: {rpo: 5s, rto: 60s}
workload: {database: testdb, table: ping}
{{- if .ReplUser}}
replication: {user: {{.ReplUser}}, password_file: {{printf "%q" .ReplPasswordFile}}}
{{- end}}
{{- if .SSH}}
ssh:
  known_hosts: {{.SSH.KnownHosts}}
  identity_file: {{.SSH.IdentityFile}}
{{- end}}
sites:
{{- range .Sites}}
  {{.Name}}:
    role: {{.Role}}
    gateway:
      via: {{.GW.Via}}
{{- if .GW.ProxyCommand}}
      ssh: {proxy_command: {{printf "%q" .GW.ProxyCommand}}}
{{- end}}
      vici: unix://{{.VICI}}
      connection: {{.Connection}}
      exec: direct
      retransmit: {timeout: {{$.RetransmitTimeout}}, base: {{$.RetransmitBase}}, tries: {{$.RetransmitTries}}}
      keyingtries: {{.Keyingtries}}
      start_action: {{.StartAction}}
{{- if $.Commands}}
      commands:
        kill: [{{printf "%q" $.Drdrill}}, lab, gateway, kill, --lab, {{printf "%q" $.Dir}}, --site, {{.Name}}]
        start: [{{printf "%q" $.Drdrill}}, lab, gateway, start, --lab, {{printf "%q" $.Dir}}, --site, {{.Name}}]
{{- end}}
    db:
      via: {{.DB.Via}}
{{- if .DB.ProxyCommand}}
      ssh: {proxy_command: {{printf "%q" .DB.ProxyCommand}}}
{{- end}}
{{- if .DBAddr}}
      address: {{.DBAddr}}
      user: {{$.TLSUser}}
      password_file: {{printf "%q" $.TLSPasswordFile}}
      tls: {ca: {{printf "%q" $.TLSCA}}, server_name: {{.ServerName}}}
{{- else}}
      socket: {{.Socket}}
      user: root
{{- end}}
{{- if $.DBExec}}
      exec: direct
{{- end}}
{{- end}}
`))
