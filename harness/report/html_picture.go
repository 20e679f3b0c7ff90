package report

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/timeline"
)

// Geometry of the timeline picture, in SVG user units; the SVG scales to
// the page's width.
const (
	picWidth   = 1200.0
	plotLeft   = 200.0
	plotRight  = 1190.0
	plotTop    = 34.0 // above: a row of fault labels, a row of outage labels
	laneHeight = 26.0
	laneGap    = 4.0
	axisHeight = 22.0
	charWidth  = 5.6 // of the 10-unit font, for keeping labels apart
	// plotColumns is one bucket per unit of the plot's width: the workload
	// and client lanes draw counts per column, never one mark per row, and
	// marks of one lane in one column are merged.
	plotColumns = int(plotRight - plotLeft)
	// markEvents caps the events listed in a merged mark's hover text.
	markEvents = 8
)

// picture is the timeline SVG.
type picture struct {
	W, H, Left, Right, Top, Bottom float64
	Ticks                          []axisTick
	Bands                          []band
	Lanes                          []lane
	Failed                         []failMark
	checkAt                        map[string]float64 // when each check was recorded, ms
}

type axisTick struct {
	X     float64
	Label string
}

// band shades an interval across every lane: a fault in place, the outage.
type band struct {
	X, W, LabelY float64
	Class, Label string
	Title        string
}

type lane struct {
	Name, Title    string
	Y, H, Mid      float64
	Rects          []rect   // states, steps, buckets
	Marks          []evMark // events
	Labels         []label
	lastLabelRight float64
}

type rect struct {
	X, Y, W, H   float64
	Class, Title string
}

type evMark struct {
	X, Y, H      float64
	Class, Title string
}

type label struct {
	X, Y        float64
	Class, Text string
}

// failMark is a failed check on the timeline: a red line across every
// lane at the instant it was recorded (or the end of the step it failed
// in), labelled in the checks lane.
type failMark struct {
	X, Y1, Y2, LabelX, LabelY float64
	Check, Label, Title       string
}

// laneKind says how a lane draws its events.
type laneKind int

const (
	laneMarks  laneKind = iota // one mark per event (merged per column)
	laneTunnel                 // CHILD_SA state from child-updown, plus marks
	laneIO                     // replica IO thread state, plus marks
	laneSQL                    // replica SQL thread state, plus marks
	laneBulk                   // acks and errors counted per column, plus marks for the rest
)

type laneBuild struct {
	name, title string
	kind        laneKind
	events      []timeline.Event
}

// scale maps drill time (ms) to x.
type scale struct{ span float64 }

func (s scale) x(ms float64) float64 {
	f := ms / s.span
	f = math.Max(0, math.Min(1, f))
	return plotLeft + f*(plotRight-plotLeft)
}

func (s scale) col(ms float64) int {
	c := int((ms / s.span) * float64(plotColumns))
	return max(0, min(plotColumns-1, c))
}

func (s scale) colStart(c int) float64 { return float64(c) / float64(plotColumns) * s.span }

func newPicture(r *Report) picture {
	span := float64(r.DurationMS)
	for _, e := range r.Timeline {
		span = math.Max(span, e.TMS)
	}
	for _, st := range r.Steps {
		span = math.Max(span, st.TMS+st.DurationMS)
	}
	if span <= 0 {
		span = 1
	}
	sc := scale{span}
	p := picture{W: picWidth, Left: plotLeft, Right: plotRight, Top: plotTop, checkAt: map[string]float64{}}

	builds := assignLanes(r)
	y := plotTop
	var outages [][2]float64
	for _, b := range builds {
		l := lane{Name: clip(b.name, 34), Title: b.title, Y: y, H: laneHeight, Mid: y + laneHeight/2 + 3.5}
		switch b.kind {
		case laneTunnel:
			outages = append(outages, tunnelStates(&l, b.events, sc)...)
		case laneIO:
			outages = append(outages, threadStates(&l, b.events, sc, "IO", timeline.KindIOState)...)
		case laneSQL:
			threadStates(&l, b.events, sc, "SQL", timeline.KindSQLState)
		case laneBulk:
			refusals(&l, b.events, sc)
			b.events = buckets(&l, b.events, sc)
		}
		if b.name == "steps" {
			stepBars(&l, r.Steps, sc)
		}
		marks(&l, b.events, sc)
		p.Lanes = append(p.Lanes, l)
		y += laneHeight + laneGap
	}
	p.Bottom = y - laneGap
	p.H = p.Bottom + axisHeight
	p.Ticks = ticks(sc)
	p.Bands = append(faultBands(r.Timeline, sc), outageBands(outages, sc)...)
	for _, e := range r.Timeline {
		if e.Kind == timeline.KindCheck {
			if c, ok := timeline.As[timeline.Check](e); ok {
				p.checkAt[c.Name] = e.TMS
			}
		}
	}
	p.Failed = failMarks(r, p, sc)
	return p
}

// assignLanes sorts events into lanes: steps, faults, each tunnel, each
// replica's IO and SQL threads, the workload, each client, any other
// source, checks.
func assignLanes(r *Report) []laneBuild {
	byName := map[string]*laneBuild{}
	var order []string
	get := func(name, title string, kind laneKind) *laneBuild {
		if b, ok := byName[name]; ok {
			return b
		}
		byName[name] = &laneBuild{name: name, title: title, kind: kind}
		order = append(order, name)
		return byName[name]
	}
	if len(r.Steps) > 0 {
		get("steps", "the drill's steps (bars: start to end), red when a step failed", laneMarks)
	}
	for _, e := range r.Timeline {
		var b *laneBuild
		switch {
		case e.Source == "step" && e.Kind == timeline.KindStep:
			continue // the steps lane draws Report.Steps
		case e.Kind == timeline.KindCheck:
			b = get("checks", "each check at the instant its verdict was recorded; a failed one in red", laneMarks)
		case e.Kind == timeline.KindFault || e.Kind == timeline.KindRecovery || e.Kind == timeline.KindRemediation:
			b = get("faults", "faults injected and recovered, deferred recoveries, remediations", laneMarks)
		case strings.HasPrefix(e.Source, "tunnel/"):
			b = get(e.Source, e.Source+": CHILD_SA up (green) or down (red) as the gateway's VICI child-updown events say; IKE events, tunnel actions", laneTunnel)
		case strings.HasPrefix(e.Source, "replica"):
			if e.Kind == timeline.KindSQLState {
				b = get(e.Source+" SQL", e.Source+": SQL thread state", laneSQL)
			} else {
				b = get(e.Source+" IO", e.Source+": IO thread state (Yes green, Connecting amber, other red) and its errors", laneIO)
			}
		case e.Source == "workload" || strings.HasPrefix(e.Source, "client"):
			b = get(e.Source, e.Source+": writes per column of the picture, acknowledged (green, from below) and failed or of unknown outcome (red, from above), each scaled to its tallest column; phase marks", laneBulk)
		default:
			b = get(e.Source, e.Source, laneMarks)
		}
		b.events = append(b.events, e)
	}
	if len(r.Checks) > 0 {
		get("checks", "each check at the instant its verdict was recorded; a failed one in red", laneMarks)
	}
	rank := func(b *laneBuild) int {
		switch {
		case b.name == "steps":
			return 0
		case b.name == "faults":
			return 1
		case b.kind == laneTunnel:
			return 2
		case b.kind == laneIO || b.kind == laneSQL:
			return 3
		case b.name == "workload":
			return 4
		case b.kind == laneBulk:
			return 5
		case b.name == "checks":
			return 7
		}
		return 6
	}
	out := make([]laneBuild, 0, len(order))
	for _, n := range order {
		out = append(out, *byName[n])
	}
	sort.SliceStable(out, func(i, j int) bool {
		if ri, rj := rank(&out[i]), rank(&out[j]); ri != rj {
			return ri < rj
		}
		// Replica lanes: IO before SQL of the same source; others by name.
		return out[i].name < out[j].name
	})
	return out
}

// stateRect adds a state segment from t0 to t1.
func stateRect(l *lane, sc scale, t0, t1 float64, class, title string) {
	x0, x1 := sc.x(t0), sc.x(t1)
	l.Rects = append(l.Rects, rect{X: x0, Y: l.Y + 4, W: math.Max(x1-x0, 0.8), H: l.H - 8, Class: class, Title: title})
}

// tunnelStates draws the CHILD_SA state from child-updown events and
// returns the intervals it was down.
func tunnelStates(l *lane, evs []timeline.Event, sc scale) [][2]float64 {
	var ups []timeline.Event
	for _, e := range evs {
		if e.Kind == timeline.KindChildUpDown {
			ups = append(ups, e)
		}
	}
	if len(ups) == 0 {
		return nil
	}
	upOf := func(e timeline.Event) bool { u, _ := e.Map()["up"].(bool); return u }
	var downs [][2]float64
	// Before the first event the state is the opposite of what it
	// reported (the baseline checked the tunnel up before any fault).
	from, up := 0.0, !upOf(ups[0])
	add := func(to float64) {
		word := map[bool]string{true: "up", false: "down"}[up]
		title := fmt.Sprintf("CHILD_SA %s %s–%s (%s)", word, secsMS(from), secsMS(to), took(to-from))
		stateRect(l, sc, from, to, "st-"+word, title)
		if !up {
			downs = append(downs, [2]float64{from, to})
		}
	}
	for _, e := range ups {
		if upOf(e) == up {
			continue
		}
		add(e.TMS)
		from, up = e.TMS, upOf(e)
	}
	add(sc.span)
	return downs
}

// threadStates draws a replica thread's state from its *_state events and
// returns the intervals it was not Yes after having been Yes.
func threadStates(l *lane, evs []timeline.Event, sc scale, thread, kind string) [][2]float64 {
	var out [][2]float64
	var from float64
	state, seen, wasYes := "", false, false
	add := func(to float64) {
		if !seen {
			return
		}
		s := state
		if s == "" {
			s = "not configured"
		}
		class := "st-bad"
		switch state {
		case "Yes":
			class = "st-up"
		case "Connecting", "Preparing":
			class = "st-warn"
		}
		stateRect(l, sc, from, to, class, fmt.Sprintf("%s thread %s %s–%s (%s)", thread, s, secsMS(from), secsMS(to), took(to-from)))
		if state != "Yes" && wasYes {
			out = append(out, [2]float64{from, to})
		}
	}
	for _, e := range evs {
		if e.Kind != kind {
			continue
		}
		to, _ := e.Map()["to"].(string)
		if seen && to == state {
			continue
		}
		add(e.TMS)
		if state == "Yes" {
			wasYes = true
		}
		from, state, seen = e.TMS, to, true
	}
	add(sc.span)
	return out
}

// writeOutcome classifies a workload or client event: a row's outcome
// ("acked", "failed", "unknown", ...) or "" for anything else (phase
// boundaries, summaries).
func writeOutcome(d map[string]any) string {
	if r, ok := d["result"].(string); ok && r != "" {
		return r
	}
	return ""
}

func acked(outcome string) bool { return outcome == "acked" || outcome == "ok" }

// buckets draws a bulk lane's rows as counts per column (acknowledged
// below, failed or unknown above) and returns the events that are not
// rows, to be drawn as marks.
func buckets(l *lane, evs []timeline.Event, sc scale) []timeline.Event {
	type bucket struct {
		ok, bad int
		other   map[string]int
		first   []string
	}
	cols := map[int]*bucket{}
	var rest []timeline.Event
	for _, e := range evs {
		d := e.Map()
		o := writeOutcome(d)
		if o == "" {
			rest = append(rest, e)
			continue
		}
		c := sc.col(e.TMS)
		b := cols[c]
		if b == nil {
			b = &bucket{}
			cols[c] = b
		}
		if acked(o) {
			b.ok++
		} else {
			b.bad++
			if b.other == nil {
				b.other = map[string]int{}
			}
			b.other[o]++
		}
		if len(b.first) < 3 {
			b.first = append(b.first, secsMS(e.TMS)+" "+clip(detailString(d), 200))
		}
	}
	// Acknowledged rows grow up from the lane's bottom (its lower 60%),
	// failed and unknown ones down from its top, each scaled to its own
	// tallest column so that a few errors among many acks still show.
	peakOK, peakBad := 0, 0
	keys := make([]int, 0, len(cols))
	for c, b := range cols {
		peakOK, peakBad = max(peakOK, b.ok), max(peakBad, b.bad)
		keys = append(keys, c)
	}
	sort.Ints(keys)
	okRoom, badRoom := (l.H-4)*0.6, (l.H-4)*0.4
	for _, c := range keys {
		b := cols[c]
		t0, t1 := sc.colStart(c), sc.colStart(c+1)
		title := fmt.Sprintf("%s–%s: %d acknowledged", secsMS(t0), secsMS(t1), b.ok)
		if b.bad > 0 {
			var parts []string
			for _, k := range sortedKeys(anyMap(b.other)) {
				parts = append(parts, fmt.Sprintf("%d %s", b.other[k], k))
			}
			title += ", " + strings.Join(parts, ", ")
		}
		if b.ok+b.bad <= len(b.first) {
			title += "\n" + strings.Join(b.first, "\n")
		}
		x := plotLeft + float64(c)
		if b.ok > 0 {
			h := math.Max(float64(b.ok)/float64(peakOK)*okRoom, 2)
			l.Rects = append(l.Rects, rect{X: x, Y: l.Y + l.H - 2 - h, W: 1.4, H: h, Class: "w-ok", Title: title})
		}
		if b.bad > 0 {
			h := math.Max(float64(b.bad)/float64(peakBad)*badRoom, 3)
			l.Rects = append(l.Rects, rect{X: x, Y: l.Y + 2, W: 1.4, H: h, Class: "w-bad", Title: title})
		}
	}
	if len(keys) > 0 {
		l.Title += fmt.Sprintf(" (tallest column: %d acknowledged, %d failed or unknown)", peakOK, peakBad)
	}
	return rest
}

func anyMap(m map[string]int) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// refusals shades a client's outages: from a "write refused" note to its
// "writes again" (the drill's end when it never wrote again), as the
// failover drills record them.
func refusals(l *lane, evs []timeline.Event, sc scale) {
	from, open := 0.0, false
	var first string
	for _, e := range evs {
		ev, _ := e.Map()["event"].(string)
		switch {
		case ev == "write refused" && !open:
			from, open, first = e.TMS, true, clip(detailString(e.Map()), 300)
		case ev == "writes again" && open:
			stateRect(l, sc, from, e.TMS, "st-refused", fmt.Sprintf("writes refused %s–%s (%s): %s", secsMS(from), secsMS(e.TMS), took(e.TMS-from), first))
			open = false
		}
	}
	if open {
		stateRect(l, sc, from, sc.span, "st-refused", fmt.Sprintf("writes refused from %s to the drill's end: %s", secsMS(from), first))
	}
}

// stepBars draws the drill's steps, alternating two rows so that
// neighbours stay apart.
func stepBars(l *lane, steps []Step, sc scale) {
	for i, st := range steps {
		x0, x1 := sc.x(st.TMS), sc.x(st.TMS+st.DurationMS)
		w := math.Max(x1-x0, 1.5)
		class := "s-pass"
		switch {
		case skipped(st.Verdict):
			class = "s-skip"
		case st.Verdict != check.Pass:
			class = "s-fail"
		}
		title := fmt.Sprintf("step %s: %s, at %s, took %s", st.Name, st.Verdict, secsMS(st.TMS), took(st.DurationMS))
		if len(st.Detail) > 0 {
			title += "\n" + detailString(st.Detail)
		}
		y := l.Y + 2 + float64(i%2)*(l.H/2-1)
		l.Rects = append(l.Rects, rect{X: x0, Y: y, W: w, H: l.H/2 - 3, Class: class, Title: title})
		if text := st.Name; w > textWidth(text)+6 {
			l.Labels = append(l.Labels, label{X: x0 + 3, Y: y + l.H/2 - 6, Class: "in", Text: text})
		}
	}
}

func textWidth(s string) float64 { return float64(utf8.RuneCountInString(s)) * charWidth }

// marks draws events as ticks, merged per column so that a lane never has
// more marks than the picture has columns; a mark's hover text lists its
// events.
func marks(l *lane, evs []timeline.Event, sc scale) {
	type agg struct {
		n      int
		failed bool
		class  string
		label  string
		lines  []string
		t      float64
	}
	cols := map[int]*agg{}
	var keys []int
	for _, e := range evs {
		c := sc.col(e.TMS)
		a := cols[c]
		if a == nil {
			a = &agg{t: e.TMS}
			cols[c] = a
			keys = append(keys, c)
		}
		d := e.Map()
		a.n++
		if a.class == "" {
			a.class = markClass(e.Kind)
		}
		// A failure's label wins over the column's earlier events'.
		if failed := failedEvent(e.Kind, d); a.label == "" || (failed && !a.failed) {
			if lbl := markLabel(e.Kind, d); lbl != "" {
				a.label = lbl
			}
			a.failed = a.failed || failed
		}
		if len(a.lines) < markEvents {
			a.lines = append(a.lines, fmt.Sprintf("%s %s %s: %s", secsMS(e.TMS), e.Source, e.Kind, clip(detailString(d), 300)))
		}
	}
	sort.Ints(keys)
	for _, c := range keys {
		a := cols[c]
		class := a.class
		if a.failed {
			class = "m-fail"
		}
		title := strings.Join(a.lines, "\n")
		if a.n > len(a.lines) {
			title = fmt.Sprintf("%d events; the first %d:\n%s", a.n, len(a.lines), title)
		}
		x := sc.x(a.t)
		l.Marks = append(l.Marks, evMark{X: x - 1, Y: l.Y + 2, H: l.H - 4, Class: class, Title: title})
		if a.label == "" {
			continue
		}
		// Right of the mark; left of it near the picture's end; never over
		// the lane's previous label.
		w := textWidth(a.label)
		lx := x + 3
		if lx+w > picWidth {
			lx = x - 3 - w
		}
		if lx > l.lastLabelRight && lx >= plotLeft {
			l.Labels = append(l.Labels, label{X: lx, Y: l.Mid, Class: "lbl", Text: a.label})
			l.lastLabelRight = max(lx+w+4, x+3)
		}
	}
}

func markClass(kind string) string {
	switch kind {
	case timeline.KindIOState, timeline.KindSQLState, timeline.KindChildUpDown, timeline.KindIKEUpDown,
		timeline.KindChildRekey, timeline.KindIKERekey:
		return "m-state"
	case timeline.KindFault, timeline.KindRecovery:
		return "m-fault"
	case timeline.KindRemediation:
		return "m-remedy"
	case timeline.KindExpected:
		return "m-expected"
	case timeline.KindCheck:
		return "m-ok"
	}
	return "m-note"
}

// markLabel is the few words written next to a mark ("" for none).
func markLabel(kind string, d map[string]any) string {
	str := func(k string) string { s, _ := d[k].(string); return s }
	switch kind {
	case timeline.KindIOState, timeline.KindSQLState:
		if d["initial"] == true {
			return str("to")
		}
		return str("from") + "→" + str("to")
	case timeline.KindIKEUpDown:
		return "" // the CHILD_SA's event, next to it, says it
	case timeline.KindChildUpDown:
		if d["up"] == true {
			return "CHILD up"
		}
		return "CHILD down"
	case timeline.KindFault:
		return strings.TrimSpace(str("action") + " " + str("fault"))
	case timeline.KindRecovery, timeline.KindRemediation:
		return str("action")
	case timeline.KindExpected:
		return str("action") + " (expected)"
	case timeline.KindStep:
		return strings.TrimSpace(str("action") + " " + str("result"))
	case timeline.KindCheck:
		return "" // a failed check is named by its failMark
	case timeline.KindWrite:
		if p := str("phase"); p != "" && str("event") == "phase" {
			return "phase " + p
		}
		return strings.ReplaceAll(str("event"), "_", " ")
	}
	return str("event")
}

// failedEvent reports whether an event records a failure: a failed check
// or step, an error.
func failedEvent(kind string, d map[string]any) bool {
	if v, _ := d["verdict"].(string); v != "" && (kind == timeline.KindCheck || kind == timeline.KindStep) {
		return v != check.Pass && !skipped(v)
	}
	if s, _ := d["error"].(string); s != "" && kind != timeline.KindIOState && kind != timeline.KindSQLState {
		return true
	}
	return false
}

// faultBands shades each fault from its injection to its recovery (the
// drill's end when it was never recovered).
func faultBands(evs []timeline.Event, sc scale) []band {
	type open struct {
		t      float64
		detail string
	}
	var out []band
	opened := map[string]*open{}
	var names []string
	add := func(name string, o *open, to float64, how string) {
		x0, x1 := sc.x(o.t), sc.x(to)
		out = append(out, band{X: x0, W: math.Max(x1-x0, 1), LabelY: 11, Class: "b-fault", Label: "fault " + name,
			Title: fmt.Sprintf("fault %s in place %s–%s (%s): %s; %s", name, secsMS(o.t), secsMS(to), took(to-o.t), o.detail, how)})
	}
	for _, e := range evs {
		if e.Kind != timeline.KindFault {
			continue
		}
		f, ok := timeline.As[timeline.Fault](e)
		if !ok || f.Fault == "" {
			continue
		}
		switch f.Action {
		case "inject", "resume":
			if opened[f.Fault] == nil {
				opened[f.Fault] = &open{t: e.TMS, detail: f.Detail}
				names = append(names, f.Fault)
			}
		case "recover":
			if o := opened[f.Fault]; o != nil {
				add(f.Fault, o, e.TMS, "recovered: "+f.Detail)
				delete(opened, f.Fault)
			}
		}
	}
	for _, n := range names {
		if o := opened[n]; o != nil {
			add(n, o, sc.span, "never recovered on the timeline")
		}
	}
	return out
}

// outageBands shades the union of the intervals a tunnel was down or the
// replica's IO thread was not Yes.
func outageBands(iv [][2]float64, sc scale) []band {
	sort.Slice(iv, func(i, j int) bool { return iv[i][0] < iv[j][0] })
	var merged [][2]float64
	for _, v := range iv {
		if n := len(merged); n > 0 && v[0] <= merged[n-1][1] {
			merged[n-1][1] = math.Max(merged[n-1][1], v[1])
			continue
		}
		merged = append(merged, v)
	}
	var out []band
	for _, v := range merged {
		x0, x1 := sc.x(v[0]), sc.x(v[1])
		out = append(out, band{X: x0, W: math.Max(x1-x0, 1), LabelY: 25, Class: "b-outage",
			Label: "outage " + took(v[1]-v[0]),
			Title: fmt.Sprintf("outage %s–%s (%s): a tunnel down or the replica's IO thread not Yes", secsMS(v[0]), secsMS(v[1]), took(v[1]-v[0]))})
	}
	return out
}

// failMarks places each failed check: at the instant its verdict was
// recorded on the timeline, else at the end of the first failed step,
// else at the drill's end.
func failMarks(r *Report, p picture, sc scale) []failMark {
	var out []failMark
	var checksLane *lane
	for i := range p.Lanes {
		if p.Lanes[i].Name == "checks" {
			checksLane = &p.Lanes[i]
		}
	}
	for _, c := range r.Checks {
		if c.Passed() {
			continue
		}
		at, where := sc.span, "the drill's end (no instant recorded)"
		if t, ok := p.checkAt[c.Name]; ok {
			at, where = t, "recorded"
		} else {
			for _, st := range r.Steps {
				if st.Verdict != check.Pass && !skipped(st.Verdict) {
					at, where = st.TMS+st.DurationMS, "end of failed step "+st.Name
					break
				}
			}
		}
		x := sc.x(at)
		m := failMark{X: x, Y1: p.Top - 4, Y2: p.Bottom, Check: c.Name, Label: "✘ " + c.Name,
			Title:  fmt.Sprintf("check %s failed at %s (%s)\nexpected: %s\nobserved: %s", c.Name, secsMS(at), where, c.Expected, c.Observed),
			LabelY: p.Bottom - 8}
		if checksLane != nil {
			m.LabelY = checksLane.Mid
		}
		// Keep the label inside the picture: left of the line near the end.
		m.LabelX = x + 5
		if w := textWidth(m.Label)*1.25 + 8; x+w > picWidth { // bold and larger
			m.LabelX = x - w
		}
		out = append(out, m)
	}
	return out
}

// ticks are the time axis's marks at a round step.
func ticks(sc scale) []axisTick {
	step := niceStep(sc.span / 10)
	var out []axisTick
	for t := 0.0; t <= sc.span+step/1000; t += step {
		var lbl string
		switch {
		case step >= 1000:
			lbl = fmt.Sprintf("%gs", math.Round(t/1000*100)/100)
		case step >= 1:
			lbl = fmt.Sprintf("%gs", math.Round(t)/1000)
		default:
			lbl = fmt.Sprintf("%gms", math.Round(t*1000)/1000)
		}
		out = append(out, axisTick{X: sc.x(t), Label: lbl})
	}
	return out
}

// niceStep is the smallest 1, 2 or 5 × 10ⁿ not below raw.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if raw <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}
