package sqlprovider

import (
	"bufio"
	"context"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
)

// This file is the wire path: a batch's query written to the connection's
// socket and its text result set read off it here, straight into the
// batch's TextRows. The driver still dials, authenticates, sets the
// session up (time zone, session variables from the DSN), pools and
// health-checks the connection; between two of its own commands the
// connection is idle, and a text query is one packet out and a result set
// back, which this file reads as the protocol defines it (MySQL and
// MariaDB alike, with or without the deprecated EOF packets).
//
// Why: go-sql-driver hands each cell over as a driver.Value, boxing every
// []byte into an interface (one allocation a cell) and parsing every
// integer, which the export then formats back into the text the server
// sent. Profiles of a 1M-row export put the driver's row reading at a
// third of dc-api's CPU, most of it that boxing, its garbage and the
// conversions; read here, a cell costs a length prefix and a copy.
//
// The path is taken only where the socket carries the plain protocol: the
// provider's own TCP dialer (so the socket is known), no TLS and no
// compression. Anything it does not expect (a second result set, a LOCAL
// INFILE request, a malformed packet, a cancel in the middle of a
// result) leaves the connection's state unknown, so the pool drops it; a
// server error ends the result cleanly and the connection stays.

// socketSlot carries, through the driver's Connect, the socket the
// provider's dialer opens, so the connection can be paired with it.
type socketSlot struct{ sock *bufferedConn }

type socketSlotKey struct{}

// wireConnector is the driver's connector with each connection it makes
// paired with its socket (wireConn).
type wireConnector struct {
	driver.Connector
	// readable says the connections speak the plain protocol on their
	// sockets: no TLS, no compression.
	readable bool
}

// newWireConnector wraps the driver's connector for cfg.
func newWireConnector(cfg *mysqldriver.Config) (driver.Connector, error) {
	c, err := mysqldriver.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	return wireConnector{Connector: c, readable: wireReadable(cfg)}, nil
}

// wireReadable tells whether connections made with cfg carry the plain
// protocol on a socket the provider's dialer opens. Compression is not a
// field of the driver's config, only of its DSN.
func wireReadable(cfg *mysqldriver.Config) bool {
	return cfg.TLS == nil && cfg.Net == "tcp" &&
		!strings.Contains(cfg.FormatDSN(), "compress=true")
}

// Connect implements driver.Connector.
func (c wireConnector) Connect(ctx context.Context) (driver.Conn, error) {
	slot := &socketSlot{}
	dc, err := c.Connector.Connect(context.WithValue(ctx, socketSlotKey{}, slot))
	if err != nil {
		return nil, err
	}
	wc := &wireConn{Conn: dc}
	if c.readable {
		wc.sock = slot.sock
	}
	return wc, nil
}

// wireConn is a driver connection and, when the wire path can read it,
// its socket. It passes every optional interface database/sql uses on to
// the driver's connection.
type wireConn struct {
	driver.Conn
	sock *bufferedConn // nil: the wire path is off for this connection
	// broken says the wire path left the connection in an unknown state;
	// the pool must not hand it out again.
	broken bool
	seq    byte
	// big holds a packet longer than the socket's read buffer.
	big []byte
}

var (
	_ driver.QueryerContext     = (*wireConn)(nil)
	_ driver.ExecerContext      = (*wireConn)(nil)
	_ driver.ConnPrepareContext = (*wireConn)(nil)
	_ driver.ConnBeginTx        = (*wireConn)(nil)
	_ driver.Pinger             = (*wireConn)(nil)
	_ driver.SessionResetter    = (*wireConn)(nil)
	_ driver.Validator          = (*wireConn)(nil)
	_ driver.NamedValueChecker  = (*wireConn)(nil)
)

func (c *wireConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if q, ok := c.Conn.(driver.QueryerContext); ok {
		return q.QueryContext(ctx, query, args)
	}
	return nil, driver.ErrSkip
}

func (c *wireConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if e, ok := c.Conn.(driver.ExecerContext); ok {
		return e.ExecContext(ctx, query, args)
	}
	return nil, driver.ErrSkip
}

func (c *wireConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		return p.PrepareContext(ctx, query)
	}
	return c.Prepare(query)
}

func (c *wireConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := c.Conn.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	return nil, fmt.Errorf("driver connection %T cannot begin a transaction with a context", c.Conn)
}

func (c *wireConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *wireConn) ResetSession(ctx context.Context) error {
	if c.broken {
		return driver.ErrBadConn
	}
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *wireConn) IsValid() bool {
	if c.broken {
		return false
	}
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *wireConn) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := c.Conn.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// brokenConnError is a failure that left the connection unusable. It
// reads as its cause, and is driver.ErrBadConn to database/sql, which then
// closes the connection instead of returning it to the pool.
type brokenConnError struct{ err error }

func (e *brokenConnError) Error() string        { return e.err.Error() }
func (e *brokenConnError) Unwrap() error        { return e.err }
func (e *brokenConnError) Is(target error) bool { return target == driver.ErrBadConn }

// breakConn marks the connection unusable: database/sql asks IsValid and
// ResetSession before it hands a connection out again, and drops this
// one, closing it through the driver (which says goodbye to the server,
// so the deadline a cancel set is cleared first).
func (c *wireConn) breakConn(err error) error {
	c.broken = true
	_ = c.sock.SetDeadline(time.Time{})
	return &brokenConnError{err: err}
}

// Protocol constants (MySQL client/server protocol; MariaDB's is the same
// for what is used here).
const (
	comQuery           = 0x03
	maxPayload         = 1<<24 - 1 // a payload this long continues in the next packet
	pktOK              = 0x00
	pktEOF             = 0xfe
	pktErr             = 0xff
	pktLocalInfile     = 0xfb
	lenencNull         = 0xfb
	statusMoreResults  = 0x0008
	typeBit            = 0x10
	flagUnsigned       = 0x20
	typeTiny           = 0x01
	typeShort          = 0x02
	typeLong           = 0x03
	typeFloat          = 0x04
	typeDouble         = 0x05
	typeLongLong       = 0x08
	typeInt24          = 0x09
	typeYear           = 0x0d
	columnDefFixedPart = 12 // charset 2, length 4, type 1, flags 2, decimals 1, filler 2
)

// wireColumn is what a column definition tells the reader.
type wireColumn struct {
	typ   byte
	flags uint16
}

// wireRows is a result set being read off the socket.
type wireRows struct {
	c    *wireConn
	r    *bufio.Reader
	cols []wireColumn
	// cells are the current row's cells, valid until the next call of
	// next; nil for NULL.
	cells [][]byte
	done  bool
	stop  func() bool // stops the watch's cancel
	// count is the number of rows read.
	count int
}

// errMalformed is a packet the reader cannot make sense of.
var errMalformed = errors.New("malformed packet from the server")

// longAgo is a deadline in the past: it interrupts a read at once.
var longAgo = time.Unix(1, 0)

// query writes query as a COM_QUERY and reads the result's header and
// column definitions, the reads bounded by ctx (watch). The caller reads
// the rows with next, then calls close, or unwatch to leave the rest of
// the result to later reads. A server error is returned as the driver's
// *mysql.MySQLError, with the connection usable; any other failure
// breaks the connection.
func (c *wireConn) query(ctx context.Context, query string) (*wireRows, error) {
	if len(query)+1 > maxPayload {
		return nil, fmt.Errorf("query of %d bytes is too long for one packet", len(query))
	}
	rows := &wireRows{c: c, r: c.sock.r}
	if err := rows.watch(ctx); err != nil {
		return nil, err
	}
	if err := rows.start(query); err != nil {
		return nil, rows.unwatch(err)
	}
	return rows, nil
}

// watch bounds the reads that follow, until unwatch, by ctx: its
// deadline is the socket's, and its end interrupts a read at once.
func (r *wireRows) watch(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	dl, _ := ctx.Deadline() // none: the zero time, no deadline
	if err := r.c.sock.SetDeadline(dl); err != nil {
		return r.c.breakConn(err)
	}
	sock := r.c.sock
	r.stop = context.AfterFunc(ctx, func() { _ = sock.SetDeadline(longAgo) })
	return nil
}

// unwatch ends watch and returns err, the outcome of the reads. A cancel
// that fired may have cut a read short, and a failure in the middle of
// the result leaves it unread, so either breaks the connection.
func (r *wireRows) unwatch(err error) error {
	c := r.c
	fired := r.stop != nil && !r.stop()
	r.stop = nil
	if c.broken {
		return err
	}
	if fired || !r.done && err != nil && !isServerError(err) {
		if err == nil {
			err = errors.New("query cancelled")
		}
		return c.breakConn(err)
	}
	if derr := c.sock.SetDeadline(time.Time{}); derr != nil {
		return c.breakConn(derr)
	}
	return err
}

// close reads what is left of the result and ends the watch: the
// connection is idle again, or broken.
func (r *wireRows) close() error {
	var err error
	for err == nil && !r.done {
		_, err = r.next()
	}
	return r.unwatch(err)
}

// abandon gives up a result not read to its end: the connection cannot
// take another command, so it is broken.
func (r *wireRows) abandon() {
	if !r.done && !r.c.broken {
		_ = r.c.breakConn(errors.New("result abandoned"))
	}
}

// start sends the query and reads up to the first row.
func (r *wireRows) start(query string) error {
	c := r.c
	pkt := make([]byte, 5, 5+len(query))
	n := len(query) + 1
	pkt[0], pkt[1], pkt[2], pkt[3], pkt[4] = byte(n), byte(n>>8), byte(n>>16), 0, comQuery
	pkt = append(pkt, query...)
	if _, err := c.sock.Write(pkt); err != nil {
		return c.breakConn(err)
	}
	c.seq = 1
	data, err := c.readPacket(r.r)
	if err != nil {
		return err
	}
	switch data[0] {
	case pktErr:
		return serverError(data)
	case pktOK:
		return c.breakConn(errors.New("the statement returned no result set"))
	case pktLocalInfile:
		return c.breakConn(errors.New("the server asked for a LOCAL INFILE"))
	}
	count, n, ok := lenencInt(data)
	if !ok || count == 0 || count > 4096 {
		return c.breakConn(errMalformed)
	}
	// A MariaDB server caching metadata for the client says whether the
	// column definitions follow; for a text query they always do.
	if len(data) > n && data[n] == 0 {
		return c.breakConn(errors.New("the server sent no column definitions"))
	}
	r.cols = make([]wireColumn, count)
	for i := range r.cols {
		data, err := c.readPacket(r.r)
		if err != nil {
			return err
		}
		col, ok := readColumnDef(data)
		if !ok {
			return c.breakConn(errMalformed)
		}
		r.cols[i] = col
	}
	r.cells = make([][]byte, count)
	// Without CLIENT_DEPRECATE_EOF an EOF packet ends the definitions: 5
	// bytes, where the OK that ends an empty result set is at least 7.
	data, err = c.peekPacket(r.r)
	if err != nil {
		return err
	}
	if data[0] == pktEOF && len(data) == 5 {
		if _, err := c.readPacket(r.r); err != nil {
			return err
		}
	}
	return nil
}

// readColumnDef reads the type and flags of a column definition: six
// length-encoded strings (catalog, schema, table, original table, name,
// original name), the length of the fixed part, then the fixed part.
func readColumnDef(data []byte) (wireColumn, bool) {
	pos := 0
	for range 6 {
		n, w, ok := lenencInt(data[pos:])
		if !ok || n > uint64(len(data)-pos-w) {
			return wireColumn{}, false
		}
		pos += w + int(n)
	}
	n, w, ok := lenencInt(data[pos:])
	if !ok || n < columnDefFixedPart-2 || pos+w+int(n) > len(data) {
		return wireColumn{}, false
	}
	fixed := data[pos+w:]
	return wireColumn{typ: fixed[6], flags: binary.LittleEndian.Uint16(fixed[7:9])}, true
}

// next reads the next row into r.cells. It returns false at the end of
// the result set, which it reads to the end.
func (r *wireRows) next() (bool, error) {
	if r.done {
		return false, nil
	}
	c := r.c
	data, err := c.readPacket(r.r)
	if err != nil {
		return false, err
	}
	switch {
	case data[0] == pktEOF && len(data) < maxPayload:
		// The end: an EOF packet (5 bytes) or, with CLIENT_DEPRECATE_EOF,
		// an OK packet with the EOF header. A row cannot start so in a
		// packet this short: 0xfe opens an 8-byte length.
		r.done = true
		status, ok := endStatus(data)
		if !ok {
			return false, c.breakConn(errMalformed)
		}
		if status&statusMoreResults != 0 {
			return false, c.breakConn(errors.New("the statement returned more than one result set"))
		}
		return false, nil
	case data[0] == pktErr:
		r.done = true
		return false, serverError(data)
	}
	pos := 0
	for i := range r.cells {
		if pos >= len(data) {
			return false, c.breakConn(errMalformed)
		}
		if data[pos] == lenencNull {
			r.cells[i] = nil
			pos++
			continue
		}
		n, w, ok := lenencInt(data[pos:])
		if !ok || n > uint64(len(data)-pos-w) {
			return false, c.breakConn(errMalformed)
		}
		pos += w
		r.cells[i] = data[pos : pos+int(n) : pos+int(n)]
		pos += int(n)
	}
	if pos != len(data) {
		return false, c.breakConn(errMalformed)
	}
	r.count++
	return true, nil
}

func isServerError(err error) bool {
	var me *mysqldriver.MySQLError
	return errors.As(err, &me)
}

// endStatus reads the server status of the packet ending a result set.
func endStatus(data []byte) (uint16, bool) {
	if len(data) == 5 { // EOF: header, warnings, status
		return binary.LittleEndian.Uint16(data[3:5]), true
	}
	// OK with the EOF header: header, affected rows, last insert id,
	// status, warnings, info.
	_, n, ok := lenencInt(data[1:])
	if !ok {
		return 0, false
	}
	_, m, ok := lenencInt(data[1+n:])
	if !ok || len(data) < 1+n+m+2 {
		return 0, false
	}
	return binary.LittleEndian.Uint16(data[1+n+m:]), true
}

// serverError reads an ERR packet as the driver would report it, so the
// provider classifies it the same way: header, error number, "#" and the
// SQL state, message.
func serverError(data []byte) error {
	if len(data) < 3 {
		return errMalformed
	}
	me := &mysqldriver.MySQLError{Number: binary.LittleEndian.Uint16(data[1:3])}
	msg := data[3:]
	if len(msg) >= 6 && msg[0] == '#' {
		copy(me.SQLState[:], msg[1:6])
		msg = msg[6:]
	}
	me.Message = string(msg)
	return me
}

// peekPacket returns the next packet's payload without consuming it. Only
// for short packets (the end of the column definitions).
func (c *wireConn) peekPacket(r *bufio.Reader) ([]byte, error) {
	hdr, err := r.Peek(4)
	if err != nil {
		return nil, c.breakConn(err)
	}
	n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	if n == 0 {
		return nil, c.breakConn(errMalformed)
	}
	if 4+min(n, 9) > r.Size() {
		return []byte{0}, nil // long: not an EOF packet
	}
	p, err := r.Peek(4 + min(n, 9))
	if err != nil {
		return nil, c.breakConn(err)
	}
	if n > 9 {
		return p[4:5], nil // long: only the header byte matters
	}
	return p[4:], nil
}

// readPacket reads the next packet's payload, checking its sequence
// number. The bytes are valid until the next read. A payload of
// maxPayload bytes continues in the next packet; a payload longer than
// the socket's buffer is assembled in c.big.
func (c *wireConn) readPacket(r *bufio.Reader) ([]byte, error) {
	hdr, err := r.Peek(4)
	if err != nil {
		return nil, c.breakConn(err)
	}
	n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	if hdr[3] != c.seq {
		return nil, c.breakConn(fmt.Errorf("packet out of sequence: %d, want %d", hdr[3], c.seq))
	}
	c.seq++
	if n < maxPayload && 4+n <= r.Size() {
		p, err := r.Peek(4 + n)
		if err != nil {
			return nil, c.breakConn(err)
		}
		_, _ = r.Discard(4 + n) // buffered: Discard cannot fail
		if n == 0 {
			return nil, c.breakConn(errMalformed)
		}
		return p[4:], nil
	}
	c.big = c.big[:0]
	for {
		_, _ = r.Discard(4)
		start := len(c.big)
		c.big = slices.Grow(c.big, n)[:start+n]
		if _, err := io.ReadFull(r, c.big[start:]); err != nil {
			return nil, c.breakConn(err)
		}
		if n < maxPayload {
			break
		}
		if hdr, err = r.Peek(4); err != nil {
			return nil, c.breakConn(err)
		}
		n = int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
		if hdr[3] != c.seq {
			return nil, c.breakConn(fmt.Errorf("packet out of sequence: %d, want %d", hdr[3], c.seq))
		}
		c.seq++
	}
	if len(c.big) == 0 {
		return nil, c.breakConn(errMalformed)
	}
	return c.big, nil
}

// lenencInt reads a length-encoded integer: its value and width.
func lenencInt(b []byte) (uint64, int, bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch b[0] {
	case 0xfc:
		if len(b) < 3 {
			return 0, 0, false
		}
		return uint64(b[1]) | uint64(b[2])<<8, 3, true
	case 0xfd:
		if len(b) < 4 {
			return 0, 0, false
		}
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, 4, true
	case 0xfe:
		if len(b) < 9 {
			return 0, 0, false
		}
		return binary.LittleEndian.Uint64(b[1:9]), 9, true
	case 0xfb, 0xff:
		return 0, 0, false
	}
	return uint64(b[0]), 1, true
}
