package sqlprovider

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		query string
		names []string
		// sql is the query rendered with "?" placeholders.
		sql string
	}{
		{
			name:  "one param",
			query: "SELECT id FROM orders WHERE amount >= :min_amount",
			names: []string{"min_amount"},
			sql:   "SELECT id FROM orders WHERE amount >= ?",
		},
		{
			name:  "param used twice is bound twice",
			query: "SELECT id FROM t WHERE (:city IS NULL OR city = :city)",
			names: []string{"city", "city"},
			sql:   "SELECT id FROM t WHERE (? IS NULL OR city = ?)",
		},
		{
			name:  "params next to punctuation",
			query: "SELECT id FROM t WHERE a IN(:a,:b_2)AND c=:C",
			names: []string{"a", "b_2", "C"},
			sql:   "SELECT id FROM t WHERE a IN(?,?)AND c=?",
		},
		{
			name:  "single-quoted literal",
			query: "SELECT id FROM t WHERE s = ':not' AND x = :x",
			names: []string{"x"},
			sql:   "SELECT id FROM t WHERE s = ':not' AND x = ?",
		},
		{
			name:  "escapes inside literals",
			query: `SELECT 'it''s :no', 'back\' :no', "dq "" :no", "bs\" :no" FROM t WHERE y = :y`,
			names: []string{"y"},
			sql:   `SELECT 'it''s :no', 'back\' :no', "dq "" :no", "bs\" :no" FROM t WHERE y = ?`,
		},
		{
			name:  "quoted identifier",
			query: "SELECT `a:b`, `x``:y` FROM t WHERE z = :z",
			names: []string{"z"},
			sql:   "SELECT `a:b`, `x``:y` FROM t WHERE z = ?",
		},
		{
			name:  "comments",
			query: "SELECT id -- :c1\nFROM t # :c2\nWHERE /* :c3 */ a = :a /*! :c4 */",
			names: []string{"a"},
			sql:   "SELECT id -- :c1\nFROM t # :c2\nWHERE /* :c3 */ a = ? /*! :c4 */",
		},
		{
			name:  "double dash without space is arithmetic",
			query: "SELECT 1--:n AS id FROM t",
			names: []string{"n"},
			sql:   "SELECT 1--? AS id FROM t",
		},
		{
			name:  "operators :: and := are left alone",
			query: "SELECT @v := 1, a::b, @w:=:p FROM t",
			names: []string{"p"},
			sql:   "SELECT @v := 1, a::b, @w:=? FROM t",
		},
		{
			name:  "colon before a non-identifier",
			query: "SELECT ': ' AS s, 1 : 2, :9 FROM t",
			sql:   "SELECT ': ' AS s, 1 : 2, :9 FROM t",
		},
		{
			name:  "trailing semicolon and comment dropped",
			query: "SELECT id FROM t WHERE a = :a ; -- done\n",
			names: []string{"a"},
			sql:   "SELECT id FROM t WHERE a = ? ",
		},
		{
			name:  "unicode text",
			query: "SELECT '客户:x' AS c, id FROM t WHERE name = :名 OR n = :n",
			// ":名" is not an ASCII identifier, so it stays text.
			names: []string{"n"},
			sql:   "SELECT '客户:x' AS c, id FROM t WHERE name = :名 OR n = ?",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q, err := parseQuery(tt.query)
			require.NoError(t, err)
			require.Equal(t, tt.names, q.names)
			require.Equal(t, tt.sql, q.render(func(string) string { return "?" }))
		})
	}
}

func TestParseQueryRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, query, want string
	}{
		{"unterminated literal", "SELECT 'abc FROM t", "unterminated string literal starting at line 1, column 8"},
		{"unterminated escape at end", `SELECT 'abc\'`, "unterminated string literal"},
		{"unterminated identifier", "SELECT id FROM\n`t", "unterminated quoted identifier starting at line 2, column 1"},
		{"unterminated comment", "SELECT id /* FROM t", "unterminated /* comment"},
		{"question mark", "SELECT id FROM t WHERE a = ?", "'?' placeholder at line 1, column 28"},
		{"second statement", "SELECT id FROM t; DROP TABLE t", "';' at line 1, column 17"},
		{"escapes the derived table", "SELECT id FROM t) AS x UNION (SELECT 1", "unbalanced ')'"},
		{"unclosed paren", "SELECT id FROM (SELECT 1 AS id", "1 unclosed '('"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseQuery(tt.query)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestBuildStatements(t *testing.T) {
	t.Parallel()
	st := buildStatements("SELECT id, amount FROM orders -- tail", []Column{{Field: "id"}, {Field: "amount"}}, "id")
	require.Equal(t, "SELECT dc_q.`id`, dc_q.`amount` FROM (\nSELECT id, amount FROM orders -- tail\n) AS dc_q ORDER BY dc_q.`id` LIMIT ?", st.first)
	require.Equal(t, "SELECT dc_q.`id`, dc_q.`amount` FROM (\nSELECT id, amount FROM orders -- tail\n) AS dc_q WHERE dc_q.`id` > ? ORDER BY dc_q.`id` LIMIT ?", st.next)
	require.Equal(t, "SELECT COUNT(*) FROM (\nSELECT id, amount FROM orders -- tail\n) AS dc_q", st.count)
	require.NotContains(t, st.first, "OFFSET")
	require.Equal(t, "`a``b`", quoteIdent("a`b"))
	require.True(t, strings.HasSuffix(st.next, "LIMIT ?"))
}
