package divergence

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// GTID is one MariaDB global transaction id, domain-server-seq.
type GTID struct {
	Domain, Server uint32
	Seq            uint64
}

func (g GTID) String() string { return fmt.Sprintf("%d-%d-%d", g.Domain, g.Server, g.Seq) }

// ParseGTID reads "0-1-120".
func ParseGTID(s string) (GTID, error) {
	p := strings.Split(strings.TrimSpace(s), "-")
	if len(p) != 3 {
		return GTID{}, fmt.Errorf("gtid %q: want domain-server-seq", s)
	}
	d, e1 := strconv.ParseUint(p[0], 10, 32)
	sv, e2 := strconv.ParseUint(p[1], 10, 32)
	n, e3 := strconv.ParseUint(p[2], 10, 64)
	if e1 != nil || e2 != nil || e3 != nil {
		return GTID{}, fmt.Errorf("gtid %q: want numbers domain-server-seq", s)
	}
	return GTID{uint32(d), uint32(sv), n}, nil
}

// stream is a domain and server id: within it, sequence numbers grow.
type stream struct{ domain, server uint32 }

// Have is what a server has, per domain and server id: the highest
// sequence number, from one or more GTID lists (@@gtid_binlog_state,
// @@gtid_slave_pos).
type Have map[stream]uint64

// ParseHave merges GTID lists ("0-1-119,0-2-125") into a Have.
func ParseHave(lists ...string) (Have, error) {
	h := Have{}
	for _, l := range lists {
		for _, el := range strings.Split(strings.ReplaceAll(l, "\n", ""), ",") {
			if strings.TrimSpace(el) == "" {
				continue
			}
			g, err := ParseGTID(el)
			if err != nil {
				return nil, err
			}
			k := stream{g.Domain, g.Server}
			if g.Seq > h[k] {
				h[k] = g.Seq
			}
		}
	}
	return h, nil
}

// Lacks reports whether a server with h does not have g.
func (h Have) Lacks(g GTID) bool {
	n, ok := h[stream{g.Domain, g.Server}]
	return !ok || n < g.Seq
}

// FormatRanges writes GTIDs as ranges of consecutive sequence numbers per
// domain and server id: "0-1-120..0-1-136, 0-1-140".
func FormatRanges(gs []GTID) string {
	s := append([]GTID(nil), gs...)
	sort.Slice(s, func(i, j int) bool {
		if s[i].Domain != s[j].Domain {
			return s[i].Domain < s[j].Domain
		}
		if s[i].Server != s[j].Server {
			return s[i].Server < s[j].Server
		}
		return s[i].Seq < s[j].Seq
	})
	var out []string
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1].Domain == s[i].Domain && s[j+1].Server == s[i].Server && s[j+1].Seq == s[j].Seq+1 {
			j++
		}
		if j == i {
			out = append(out, s[i].String())
		} else {
			out = append(out, s[i].String()+".."+s[j].String())
		}
		i = j + 1
	}
	return strings.Join(out, ", ")
}
