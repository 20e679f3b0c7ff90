package harness

// Artifact is a file a drill hands to the report dir beside report.json
// (the site-loss drill's lost-writes.jsonl). The report writer writes it;
// Env only keeps it, since the report dir is known to the caller only.
type Artifact struct {
	Name string // a plain file name, no directory
	Data []byte
}

// AddArtifact keeps a file for the report dir; a later one of the same
// name replaces it.
func (e *Env) AddArtifact(name string, data []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range e.artifacts {
		if e.artifacts[i].Name == name {
			e.artifacts[i].Data = data
			return
		}
	}
	e.artifacts = append(e.artifacts, Artifact{Name: name, Data: data})
}

// Artifacts are the files kept so far, in the order added.
func (e *Env) Artifacts() []Artifact {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Artifact(nil), e.artifacts...)
}

// Artifact returns the named file's data (nil, false if none).
func (e *Env) Artifact(name string) ([]byte, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, a := range e.artifacts {
		if a.Name == name {
			return a.Data, true
		}
	}
	return nil, false
}

// AddSecret adds a string no report, log or error may carry (a password a
// drill made for itself).
func (e *Env) AddSecret(s string) {
	if s == "" {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secrets = append(e.secrets, s)
}
