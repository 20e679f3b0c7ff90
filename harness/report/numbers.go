package report

import (
	"bytes"
	"encoding/json"
	"math"
	"sort"
	"strings"
)

// DurationMetric is the drill's own duration among Numbers.
const DurationMetric = "duration_ms"

// Numbers is every numeric metric of a report by name: duration_ms, the
// contract's metrics that were measured (an unmeasured *_ms is absent, not
// 0), and every number in metrics.extra, a nested object's numbers named
// by their path ("clients.pool.write_unavailable_ms"). Strings, booleans
// and arrays are left out: they have no delta.
func Numbers(r *Report) map[string]float64 {
	out := map[string]float64{DurationMetric: float64(r.DurationMS)}
	b, err := json.Marshal(r.Metrics)
	if err != nil {
		return out
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if dec.Decode(&m) != nil {
		return out
	}
	extra, _ := m["extra"].(map[string]any)
	delete(m, "extra")
	flattenNumbers("", m, out)
	flattenNumbers("", extra, out)
	return out
}

func flattenNumbers(prefix string, m map[string]any, out map[string]float64) {
	for k, v := range m {
		name := prefix + k
		switch x := v.(type) {
		case json.Number:
			if f, err := x.Float64(); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
				out[name] = f
			}
		case float64:
			out[name] = x
		case map[string]any:
			flattenNumbers(name+".", x, out)
		}
	}
}

// SortedNames are the names of a Numbers map: duration_ms first, then by
// name.
func SortedNames(m map[string]float64) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == DurationMetric) != (names[j] == DurationMetric) {
			return names[i] == DurationMetric
		}
		return strings.Compare(names[i], names[j]) < 0
	})
	return names
}

// CountsLoss is a metric counting data lost: rows or writes missing or
// lost (rows_missing_on_replica, an extra's *_lost), or the failover
// drills' RPO in rows. Higher is worse, as for a *_ms duration.
func CountsLoss(name string) bool {
	return strings.Contains(name, "missing") || strings.Contains(name, "lost") || name == "rpo_rows"
}
