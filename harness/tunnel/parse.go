package tunnel

import (
	"sort"
	"strconv"

	"github.com/strongswan/govici/vici"
)

// parseIKESAs reads one list-sa event: a section per IKE SA, keyed by
// connection name.
func parseIKESAs(m *vici.Message) []IKESA {
	var out []IKESA
	for _, name := range m.Keys() {
		sec, ok := m.Get(name).(*vici.Message)
		if !ok {
			continue
		}
		out = append(out, parseIKESA(name, sec))
	}
	return out
}

func str(m *vici.Message, k string) string {
	s, _ := m.Get(k).(string)
	return s
}

func list(m *vici.Message, k string) []string {
	switch v := m.Get(k).(type) {
	case []string:
		return append([]string(nil), v...)
	case string:
		return []string{v}
	}
	return nil
}

func num(m *vici.Message, k string) uint64 {
	n, _ := strconv.ParseUint(str(m, k), 10, 64)
	return n
}

func parseIKESA(name string, m *vici.Message) IKESA {
	sa := IKESA{
		Name:       name,
		UniqueID:   str(m, "uniqueid"),
		State:      str(m, "state"),
		Version:    str(m, "version"),
		LocalHost:  str(m, "local-host"),
		RemoteHost: str(m, "remote-host"),
		LocalID:    str(m, "local-id"),
		RemoteID:   str(m, "remote-id"),
		Initiator:  str(m, "initiator") == "yes",
		SPIInit:    str(m, "initiator-spi"),
		SPIResp:    str(m, "responder-spi"),
	}
	if kids, ok := m.Get("child-sas").(*vici.Message); ok {
		for _, k := range kids.Keys() {
			c, ok := kids.Get(k).(*vici.Message)
			if !ok {
				continue
			}
			sa.Children = append(sa.Children, ChildSA{
				Name:       str(c, "name"),
				UniqueID:   str(c, "uniqueid"),
				State:      str(c, "state"),
				Mode:       str(c, "mode"),
				Encap:      str(c, "encap") == "yes",
				SPIIn:      str(c, "spi-in"),
				SPIOut:     str(c, "spi-out"),
				LocalTS:    list(c, "local-ts"),
				RemoteTS:   list(c, "remote-ts"),
				BytesIn:    num(c, "bytes-in"),
				BytesOut:   num(c, "bytes-out"),
				PacketsIn:  num(c, "packets-in"),
				PacketsOut: num(c, "packets-out"),
			})
		}
		sort.SliceStable(sa.Children, func(i, j int) bool { return sa.Children[i].UniqueID < sa.Children[j].UniqueID })
	}
	return sa
}
