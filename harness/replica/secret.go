package replica

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
)

// redacted replaces a secret wherever one would have been printed.
const redacted = "xxxxx"

// SecretError replaces the error of a statement that carried a secret. The
// server's text is withheld because it can quote the statement (error 1470
// "String '<password>...' is too long for MASTER_PASSWORD", syntax errors
// "near '<password>'"); the number is kept so callers can branch on it.
type SecretError struct {
	Op       string // what was attempted: "change master", "create user"
	Number   uint16 // MySQL/MariaDB error number; 0 when not a server error
	SQLState string
	Text     string // a fixed description of Number, or the scrubbed client-side error
	cause    error  // only client-side errors whose text held no secret
}

func (e *SecretError) Error() string {
	if e.Number == 0 {
		return e.Op + ": " + e.Text
	}
	return fmt.Sprintf("%s: server error %d (%s): %s", e.Op, e.Number, e.SQLState, e.Text)
}

// Unwrap exposes client-side causes (context deadline, broken connection),
// never a server error.
func (e *SecretError) Unwrap() error { return e.cause }

// knownErrors are fixed texts for server errors a secret-bearing statement
// commonly hits; they say what went wrong without quoting the statement.
var knownErrors = map[uint16]string{
	1064: "syntax error (statement text withheld)",
	1044: "access denied to the database",
	1045: "access denied",
	1142: "command denied to the user",
	1198: "the replica threads are running; stop them first",
	1200: "the server is not configured as a replica",
	1227: "access denied: the operation needs a privilege the user lacks",
	1396: "operation on the user failed (does it already exist, or not exist?)",
	1470: "a value is too long for its field (value withheld)",
	1819: "the password does not satisfy the password policy",
	3021: "the replica threads are running for this channel; stop them first",
	3081: "replica threads are running; stop them first",
}

// secretErr turns err from a statement carrying secrets into a SecretError.
func secretErr(op string, err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		text, ok := knownErrors[me.Number]
		if !ok {
			text = "message withheld because the statement carries a password"
		}
		return &SecretError{Op: op, Number: me.Number, SQLState: string(me.SQLState[:]), Text: text}
	}
	msg := oneLine(err.Error())
	clean := scrub(msg, secrets...)
	se := &SecretError{Op: op, Text: clean}
	switch {
	case clean == msg:
		se.cause = err
	case errors.Is(err, context.DeadlineExceeded):
		se.cause = context.DeadlineExceeded // the sentinel, not the chain that printed a secret
	case errors.Is(err, context.Canceled):
		se.cause = context.Canceled
	}
	return se
}

// Redact returns err with every occurrence of the given secrets replaced.
// When something was replaced the result no longer unwraps to err (whose
// text held the secret); otherwise it is err itself.
func Redact(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := scrub(msg, secrets...)
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean}
}

type redactedError struct{ msg string }

func (e *redactedError) Error() string { return e.msg }

func scrub(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, redacted)
		}
	}
	return s
}

// QuoteString returns s as a single-quoted SQL string literal. With
// noBackslashEscapes (sql_mode NO_BACKSLASH_ESCAPES) the backslash is an
// ordinary character and only the quote is doubled; otherwise backslash,
// quotes and control characters are escaped. NUL bytes and invalid UTF-8
// are refused: no credential legitimately holds them, and invalid UTF-8 is
// how multi-byte escaping tricks start. Errors never contain s.
func QuoteString(s string, noBackslashEscapes bool) (string, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return "", errors.New("quote string: contains a NUL byte")
	}
	if !utf8.ValidString(s) {
		return "", errors.New("quote string: not valid UTF-8")
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if noBackslashEscapes {
			if ch == '\'' {
				b.WriteString("''")
			} else {
				b.WriteByte(ch)
			}
			continue
		}
		switch ch {
		case '\\':
			b.WriteString(`\\`)
		case '\'':
			b.WriteString(`\'`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\x1a':
			b.WriteString(`\Z`)
		default:
			b.WriteByte(ch)
		}
	}
	b.WriteByte('\'')
	return b.String(), nil
}

// nativePasswordHash is mysql_native_password's stored form,
// "*" + HEX(SHA1(SHA1(password))), as PASSWORD() returns it.
func nativePasswordHash(password string) string {
	h1 := sha1.Sum([]byte(password))
	h2 := sha1.Sum(h1[:])
	return "*" + strings.ToUpper(hex.EncodeToString(h2[:]))
}
