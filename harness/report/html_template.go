package report

import (
	"html/template"
	"strconv"
	"strings"
)

// pageTemplate is report.html. html/template escapes every value; the
// page fetches nothing (no src, no url(), no link) so that it opens the
// same from a CI artifact as from disk.
var pageTemplate = template.Must(template.New(HTMLFile).Funcs(template.FuncMap{
	"n":     func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"upper": strings.ToUpper,
}).Parse(pageHTML))

const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font: 14px/1.4 "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; margin: 1.2em 2em; color: #1d1d1f; background: #fff; }
h1 { font-size: 1.5em; margin: 0 0 .3em; }
h2 { font-size: 1.15em; margin: 1.6em 0 .5em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
.verdict { display: inline-block; padding: .05em .6em; border-radius: .3em; color: #fff; font-weight: bold; }
.verdict.pass { background: #23863a; } .verdict.fail, .verdict.error { background: #c8201e; }
.why { background: #fdecea; border-left: 4px solid #c8201e; padding: .5em .8em; margin: .6em 0; }
.remedy { background: #f3ecfd; border-left: 4px solid #7a3bd1; padding: .5em .8em; margin: .6em 0; }
table { border-collapse: collapse; margin: .3em 0; }
th, td { text-align: left; vertical-align: top; padding: .2em .6em; border-bottom: 1px solid #eee; }
th { background: #f6f6f6; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.failed td { background: #fdecea; }
tr.failed td.mark { color: #c8201e; font-weight: bold; }
td.mark { color: #23863a; }
code, .mono { font-family: "DejaVu Sans Mono", monospace; font-size: .92em; }
details summary { cursor: pointer; color: #555; }
.facts td:first-child { color: #555; }
#timeline { width: 100%; height: auto; border: 1px solid #ddd; background: #fff; }
#picked { white-space: pre-wrap; font-family: "DejaVu Sans Mono", monospace; font-size: 12px; background: #f6f6f6; padding: .4em .6em; min-height: 1.4em; margin: .3em 0 0; }
.legend span { display: inline-block; margin-right: 1.2em; font-size: 12px; }
.legend i { display: inline-block; width: 1.4em; height: .8em; vertical-align: middle; margin-right: .3em; }
svg text { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 10px; fill: #222; }
svg .lane-bg { fill: #f7f7f7; }
svg .lane-name { font-size: 11px; font-weight: 600; }
svg .tick { stroke: #e3e3e3; stroke-width: 1; }
svg .tick-label { fill: #666; text-anchor: middle; }
svg .st-up { fill: #7cc58f; } svg .st-down, svg .st-bad { fill: #e57373; } svg .st-warn { fill: #f2b950; }
svg .st-refused { fill: #e57373; fill-opacity: .45; }
svg .w-ok { fill: #2e9e4f; } svg .w-bad { fill: #d32f2f; }
svg .s-pass { fill: #a5d6b3; stroke: #5f9e72; stroke-width: .5; } svg .s-fail { fill: #e53935; } svg .s-skip { fill: #ddd; }
svg .m-state { fill: #263238; } svg .m-fault { fill: #e67e00; } svg .m-remedy { fill: #7a3bd1; }
svg .m-expected { fill: #8d8d8d; } svg .m-ok { fill: #23863a; } svg .m-note { fill: #4f5b93; } svg .m-fail { fill: #d00000; }
svg .b-fault { fill: #ff9800; fill-opacity: .14; } svg .b-outage { fill: #d32f2f; fill-opacity: .09; }
svg .band-label.b-fault { fill: #b35c00; fill-opacity: 1; font-weight: 600; }
svg .band-label.b-outage { fill: #b71c1c; fill-opacity: 1; font-weight: 600; }
svg .in { font-size: 9px; fill: #123; }
svg .lbl { fill: #333; }
svg .failed-check { stroke: #d00000; stroke-width: 2; }
svg .failed-label { fill: #d00000; font-weight: bold; font-size: 11px; }
svg [data-hover]:hover { opacity: .75; }
</style>
</head>
<body>
<h1>drdrill {{.Scenario}} <span class="verdict {{.Verdict}}">{{upper .Verdict}}</span></h1>
{{with .Diagnosis}}<p class="why" id="diagnosis"><b>Why:</b> {{.}}</p>{{end}}
{{with .Remediations}}<p class="remedy"><b>Remediation needed:</b> {{range $i, $r := .}}{{if $i}}; {{end}}{{$r}}{{end}}</p>{{end}}
<table class="facts">{{range .Facts}}<tr><td>{{index . 0}}</td><td>{{index . 1}}</td></tr>{{end}}</table>

<h2>Timeline</h2>
{{with .Picture}}<svg id="timeline" viewBox="0 0 {{n .W}} {{n .H}}" role="img" aria-label="timeline of the drill, one lane per source">
{{range .Lanes}}<rect class="lane-bg" x="0" y="{{n .Y}}" width="{{n $.Picture.W}}" height="{{n .H}}"/>
{{end}}{{range .Ticks}}<line class="tick" x1="{{n .X}}" x2="{{n .X}}" y1="{{n $.Picture.Top}}" y2="{{n $.Picture.Bottom}}"/>
<text class="tick-label" x="{{n .X}}" y="{{n $.Picture.Bottom}}" dy="14">{{.Label}}</text>
{{end}}{{range .Bands}}<g class="band" data-hover="1"><rect class="{{.Class}}" x="{{n .X}}" y="0" width="{{n .W}}" height="{{n $.Picture.Bottom}}"><title>{{.Title}}</title></rect><text class="band-label {{.Class}}" x="{{n .X}}" dx="2" y="{{n .LabelY}}">{{.Label}}<title>{{.Title}}</title></text></g>
{{end}}{{range .Lanes}}<g class="lane" data-lane="{{.Name}}">
<text class="lane-name" x="6" y="{{n .Mid}}">{{.Name}}<title>{{.Title}}</title></text>
{{range .Rects}}<rect class="{{.Class}}" data-hover="1" x="{{n .X}}" y="{{n .Y}}" width="{{n .W}}" height="{{n .H}}"><title>{{.Title}}</title></rect>
{{end}}{{range .Marks}}<rect class="mk {{.Class}}" data-hover="1" x="{{n .X}}" y="{{n .Y}}" width="2" height="{{n .H}}"><title>{{.Title}}</title></rect>
{{end}}{{range .Labels}}<text class="{{.Class}}" x="{{n .X}}" y="{{n .Y}}">{{.Text}}</text>
{{end}}</g>
{{end}}{{range .Failed}}<g class="failed" data-check="{{.Check}}"><line class="failed-check" data-check="{{.Check}}" x1="{{n .X}}" x2="{{n .X}}" y1="{{n .Y1}}" y2="{{n .Y2}}"><title>{{.Title}}</title></line><path class="m-fail" d="M{{n .X}} {{n .LabelY}} m0 -11 l6 6 l-6 6 l-6 -6 z"><title>{{.Title}}</title></path><text class="failed-label" x="{{n .LabelX}}" y="{{n .LabelY}}">{{.Label}}<title>{{.Title}}</title></text></g>
{{end}}</svg>{{end}}
<p class="legend"><span><i style="background:#7cc58f"></i>up / Yes</span><span><i style="background:#f2b950"></i>Connecting, Preparing</span><span><i style="background:#e57373"></i>down / not running</span><span><i style="background:#ff9800;opacity:.35"></i>fault in place</span><span><i style="background:#d32f2f;opacity:.25"></i>outage</span><span><i style="background:#2e9e4f"></i>writes acknowledged (from below)</span><span><i style="background:#d32f2f"></i>writes failed or unknown (from above)</span><span><i style="background:#d00000"></i>failed check</span></p>
<p id="picked">Hover over the picture for details, or click a mark to show them here.</p>

<h2>Checks</h2>
{{if .Checks}}<table id="checks"><tr><th></th><th>check</th><th>at</th><th>expected</th><th>observed</th></tr>
{{range .Checks}}<tr class="{{if .Failed}}failed{{else}}passed{{end}}" data-check="{{.Name}}"><td class="mark">{{.Mark}}</td><td><b>{{.Name}}</b></td><td class="num">{{.At}}</td><td>{{.Expected}}</td><td>{{.Observed}}{{with .Detail}}<details><summary>detail</summary><code>{{.}}</code></details>{{end}}</td></tr>
{{end}}</table>{{else}}<p>No check ran.</p>{{end}}

<h2>Steps</h2>
{{if .Steps}}<table id="steps"><tr><th></th><th>step</th><th>at</th><th>took</th><th>verdict</th></tr>
{{range .Steps}}<tr class="{{if .Failed}}failed{{end}}"><td class="mark">{{.Mark}}</td><td>{{.Name}}{{with .Detail}}<br><code>{{.}}</code>{{end}}</td><td class="num">{{.At}}</td><td class="num">{{.Took}}</td><td>{{.Verdict}}</td></tr>
{{end}}</table>{{else}}<p>No step ran.</p>{{end}}

<h2>Metrics</h2>
<table id="metrics"><tr><th>metric</th><th>value</th></tr>
{{range .Metrics}}<tr><td>{{index . 0}}</td><td class="num">{{index . 1}}</td></tr>
{{end}}</table>

<h2>Environment</h2>
{{if .Environment}}<table id="environment">{{range .Environment}}<tr><td>{{index . 0}}</td><td class="mono">{{index . 1}}</td></tr>
{{end}}</table>{{else}}<p>Not described.</p>{{end}}

<h2>Events</h2>
<details{{if not .MoreEvents}} open{{end}}><summary>{{len .Events}} events{{with .MoreEvents}}; {{.}} more in report.json{{end}}</summary>
<table id="events"><tr><th>t</th><th>source</th><th>kind</th><th>detail</th></tr>
{{range .Events}}<tr{{if .Failed}} class="failed"{{end}}><td class="num">{{.At}}</td><td>{{.Source}}</td><td>{{.Kind}}</td><td class="mono">{{.Detail}}</td></tr>
{{end}}</table></details>
<script>
// Clicking a mark shows its hover text below the picture (touch screens,
// copying). Nothing else runs.
document.getElementById("timeline").addEventListener("click", function (ev) {
  for (var n = ev.target; n && n.id !== "timeline"; n = n.parentNode) {
    var t = n.querySelector && n.querySelector(":scope > title");
    if (t) { document.getElementById("picked").textContent = t.textContent; return; }
  }
});
</script>
</body>
</html>
`
