package sqlprovider

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// query is a parsed named query: the SQL text split around its params.
// text has one more element than names; names[i] sits between text[i]
// and text[i+1]. A param used twice appears twice.
type query struct {
	text  []string
	names []string
}

// parseQuery finds the :name params of a MySQL/MariaDB query. It follows
// the lexical rules that matter for that: nothing inside '…' or "…"
// literals (with \ and doubled-quote escapes), `…` identifiers, # and --
// comments or /* */ comments is a param, and "::" and ":=" are operators.
// It rejects "?" placeholders (they would shift the bound values),
// statements after a ";" and unbalanced parentheses, which could let the
// query escape the derived table it is wrapped in. A trailing ";" is
// dropped. Like the server's defaults, it takes \ as an escape in
// literals; under NO_BACKSLASH_ESCAPES a literal ending in \ would confuse
// it (into rejecting the query, or into leaving a param unbound, which
// the server reports).
func parseQuery(src string) (query, error) {
	var (
		q     query
		start int // where the current text piece begins
		depth int
		end   = len(src) // where the statement ends (a trailing ";")
	)
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			j, ok := skipQuoted(src, i)
			if !ok {
				return query{}, fmt.Errorf("unterminated %s starting at %s", quoteName(c), position(src, i))
			}
			i = j
		case c == '#' || (c == '-' && isLineComment(src, i)):
			if j := strings.IndexByte(src[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				i = len(src)
			}
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			j := strings.Index(src[i+2:], "*/")
			if j < 0 {
				return query{}, fmt.Errorf("unterminated /* comment starting at %s", position(src, i))
			}
			i += 2 + j + 2
		case c == ':':
			n := i + 1
			if n < len(src) && (src[n] == ':' || src[n] == '=') {
				i += 2 // "::" and ":=" are operators, not params
				continue
			}
			if n >= len(src) || !isIdentStart(src[n]) {
				i++
				continue
			}
			for n < len(src) && isIdentPart(src[n]) {
				n++
			}
			q.text = append(q.text, src[start:i])
			q.names = append(q.names, src[i+1:n])
			start, i = n, n
		case c == '?':
			return query{}, fmt.Errorf("'?' placeholder at %s: use named params (:name)", position(src, i))
		case c == ';':
			if !blankFrom(src, i+1) {
				return query{}, fmt.Errorf("';' at %s: the query must be a single statement", position(src, i))
			}
			end = i
			i = len(src)
		case c == '(':
			depth++
			i++
		case c == ')':
			if depth == 0 {
				return query{}, fmt.Errorf("unbalanced ')' at %s", position(src, i))
			}
			depth--
			i++
		default:
			i++
		}
	}
	if depth != 0 {
		return query{}, fmt.Errorf("%d unclosed '('", depth)
	}
	q.text = append(q.text, src[start:end])
	return q, nil
}

// skipQuoted returns the index after the literal or quoted identifier
// that opens at i.
func skipQuoted(src string, i int) (int, bool) {
	quote := src[i]
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			// Backslash escapes apply to string literals, not to `…`.
			if quote != '`' {
				j++
			}
		case quote:
			if j+1 < len(src) && src[j+1] == quote {
				j++ // a doubled quote stands for itself
				continue
			}
			return j + 1, true
		}
	}
	return 0, false
}

// isLineComment reports whether the "-" at i opens a "-- " comment: MySQL
// wants the dashes followed by whitespace, a control character or the end,
// so "1--1" stays arithmetic.
func isLineComment(src string, i int) bool {
	if i+1 >= len(src) || src[i+1] != '-' {
		return false
	}
	return i+2 >= len(src) || src[i+2] <= ' '
}

// blankFrom reports whether src[i:] holds only whitespace, semicolons and
// comments.
func blankFrom(src string, i int) bool {
	for i < len(src) {
		c := src[i]
		switch {
		case c <= ' ' || c == ';':
			i++
		case c == '#' || (c == '-' && isLineComment(src, i)):
			j := strings.IndexByte(src[i:], '\n')
			if j < 0 {
				return true
			}
			i += j + 1
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			j := strings.Index(src[i+2:], "*/")
			if j < 0 {
				return false
			}
			i += 2 + j + 2
		default:
			return false
		}
	}
	return true
}

func isIdentStart(c byte) bool {
	return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func isIdentPart(c byte) bool { return isIdentStart(c) || ('0' <= c && c <= '9') }

func quoteName(c byte) string {
	if c == '`' {
		return "quoted identifier"
	}
	return "string literal"
}

// position renders a byte offset as "line L, column C" for messages.
func position(src string, off int) string {
	line := 1 + strings.Count(src[:off], "\n")
	col := off - strings.LastIndexByte(src[:off], '\n')
	return fmt.Sprintf("line %d, column %d", line, col)
}

// render writes the query with a placeholder for each param.
func (q query) render(placeholder func(name string) string) string {
	var b strings.Builder
	for i, t := range q.text {
		b.WriteString(t)
		if i < len(q.names) {
			b.WriteString(placeholder(q.names[i]))
		}
	}
	return b.String()
}

// quoteIdent quotes an identifier in backticks. Validate admits only
// simple identifiers; doubling backticks keeps this safe regardless.
func quoteIdent(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// statements are the SQL texts a provider runs, built once by New.
type statements struct {
	first string // the first batch: no cursor
	next  string // later batches: rows after the cursor
	count string
}

// buildStatements wraps the user's query as a derived table (batchSQL).
func buildStatements(inner string, cols []Column, key string) statements {
	return statements{
		first: batchSQL(inner, cols, key, "", "?"),
		next:  batchSQL(inner, cols, key, "?", "?"),
		count: "SELECT COUNT(*) FROM (\n" + inner + "\n) AS dc_q",
	}
}

// batchSQL is a keyset batch: the rows of inner after the key value after
// (none when empty), in key order, at most limit of them; after and limit
// are placeholders or literals. The newlines around inner end a trailing
// "-- comment" before the wrapper continues.
func batchSQL(inner string, cols []Column, key, after, limit string) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("dc_q.")
		b.WriteString(quoteIdent(c.Field))
	}
	k := "dc_q." + quoteIdent(key)
	b.WriteString(" FROM (\n" + inner + "\n) AS dc_q")
	if after != "" {
		b.WriteString(" WHERE " + k + " > " + after)
	}
	b.WriteString(" ORDER BY " + k + " LIMIT " + limit)
	return b.String()
}

// sqlLiteral writes a bound value as a SQL literal that means the same in
// every sql_mode and client character set: integers and booleans as
// digits, times quoted in the connection's zone as the driver writes
// them, strings quoted with each quote doubled. A string holding a
// backslash or a NUL has no such form (a backslash escapes unless
// NO_BACKSLASH_ESCAPES is on) and is refused, as is any other type.
func sqlLiteral(v any, zone *time.Location) (string, bool) {
	switch v := v.(type) {
	case nil:
		return "NULL", true
	case int64:
		return strconv.FormatInt(v, 10), true
	case bool:
		if v {
			return "1", true
		}
		return "0", true
	case string:
		if strings.ContainsAny(v, "\\\x00") {
			return "", false
		}
		return "'" + strings.ReplaceAll(v, "'", "''") + "'", true
	case time.Time:
		if v.IsZero() {
			return "'0000-00-00'", true
		}
		t := v.In(zone)
		if t.Year() < 1 || t.Year() > 9999 {
			return "", false
		}
		return "'" + t.Format("2006-01-02 15:04:05.999999") + "'", true
	}
	return "", false
}
