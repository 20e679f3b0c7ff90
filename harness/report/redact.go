package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/drdrill/drdrill/harness/check"
	"github.com/drdrill/drdrill/harness/timeline"
)

// Redacted replaces a secret.
const Redacted = "[REDACTED]"

// Redact replaces every occurrence of each non-empty secret in s, longest
// secrets first.
func Redact(s string, secrets ...string) string {
	r := replacer(secrets)
	if r == nil {
		return s
	}
	return r.Replace(s)
}

func replacer(secrets []string) *strings.Replacer {
	var ss []string
	for _, s := range secrets {
		if s != "" && !slices.Contains(ss, s) {
			ss = append(ss, s)
		}
	}
	if len(ss) == 0 {
		return nil
	}
	// At one position the Replacer takes the first match in argument order.
	slices.SortStableFunc(ss, func(a, b string) int { return len(b) - len(a) })
	var pairs []string
	for _, s := range ss {
		pairs = append(pairs, s, Redacted)
	}
	return strings.NewReplacer(pairs...)
}

// scrubbed returns a normalised deep copy of r with every string (values
// and map keys, at any depth of a detail) redacted, and nil collections
// made empty.
//
// Fast path: the secrets are replaced in r's JSON, each in its JSON-encoded
// form. encoding/json escapes each character on its own, so a string that
// contains a secret encodes to text that contains the secret's encoding;
// a match that is not aligned with the characters starts inside an escape
// sequence (after a backslash) and leaves "\[" there, which no decoder
// accepts: the slow path (decode, redact every string, encode) then runs.
func scrubbed(r *Report, secrets []string) (*Report, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode report: %w", err)
	}
	if rep := jsonReplacer(secrets); rep != nil {
		b = []byte(rep.Replace(string(b)))
	}
	out := new(Report)
	if err := decode(b, out); err == nil {
		out.normalise()
		return out, nil
	}
	return scrubbedSlow(r, secrets)
}

// jsonReplacer replaces each secret's JSON-encoded form (without quotes).
func jsonReplacer(secrets []string) *strings.Replacer {
	var enc []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		b, err := json.Marshal(s)
		if err != nil {
			continue
		}
		enc = append(enc, string(b[1:len(b)-1]))
	}
	return replacer(enc)
}

// scrubbedSlow is scrubbed by way of a generic tree: every string value and
// key decoded, redacted, encoded again.
func scrubbedSlow(r *Report, secrets []string) (*Report, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode report: %w", err)
	}
	var v any
	if err := decode(b, &v); err != nil {
		return nil, fmt.Errorf("decode report: %w", err)
	}
	if rep := replacer(secrets); rep != nil {
		v = redactAny(v, rep)
	}
	if b, err = json.Marshal(v); err != nil {
		return nil, fmt.Errorf("encode report: %w", err)
	}
	out := new(Report)
	if err := decode(b, out); err != nil {
		return nil, fmt.Errorf("decode report: %w", err)
	}
	out.normalise()
	return out, nil
}

func decode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // keep integers exact
	return dec.Decode(v)
}

func redactAny(v any, rep *strings.Replacer) any {
	switch t := v.(type) {
	case string:
		return rep.Replace(t)
	case []any:
		for i := range t {
			t[i] = redactAny(t[i], rep)
		}
		return t
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[rep.Replace(k)] = redactAny(x, rep)
		}
		return out
	}
	return v
}

func (r *Report) normalise() {
	if r.Schema == "" {
		r.Schema = Schema
	}
	if r.Timeline == nil {
		r.Timeline = []timeline.Event{}
	}
	if r.Checks == nil {
		r.Checks = []check.Result{}
	}
	if r.Steps == nil {
		r.Steps = []Step{}
	}
	if r.Metrics.Extra == nil {
		r.Metrics.Extra = map[string]any{}
	}
	if r.Environment == nil {
		r.Environment = map[string]any{}
	}
	for i := range r.Clients {
		if r.Clients[i].ErrorsByCode == nil {
			r.Clients[i].ErrorsByCode = map[string]int{}
		}
	}
	if r.Verdict != VerdictPass && r.Diagnosis == "" {
		r.Diagnosis = Diagnose(r)
	}
}
