package targetfile

import (
	"fmt"
	"strconv"
	"strings"
)

// InputError is a target file that cannot be used: one line naming the file,
// the line, the field and what is wrong ("t.yaml:14: sites.aws.db.socket:
// required"). The CLI exits 2 on it. It never carries a secret.
type InputError struct {
	File  string
	Line  int    // 0: the file as a whole
	Field string // dotted path ("sites.aws.db.socket"); "" for the file
	Msg   string
}

func (e *InputError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(oneLine(e.Msg))
	return b.String()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// errorf makes an *InputError for a field of the file being read.
func (w *walker) errorf(line int, field, format string, args ...any) *InputError {
	return &InputError{File: w.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
}
