package sqlprovider

import (
	"bufio"
	"context"
	"net"
	"syscall"
	"time"
)

// readBufferSize is how much a provider's connection reads from the socket
// at once. The driver asks for 4 KiB at a time, which for an export is a
// system call every ~40 rows; profiles put system calls at 5-7% of an
// export's CPU. A streamed window (stream.go) keeps the socket full, so a
// larger buffer still takes fewer calls: 256 KiB ran a little faster than
// 64 KiB, at 256 KiB of memory per open connection.
const readBufferSize = 256 << 10

// bufferedConn reads its connection through a larger buffer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// SyscallConn gives the driver's liveness check the socket, which it
// reads only between queries, when the buffer holds nothing: every answer
// has been read by then.
func (c *bufferedConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

// dialBuffered dials TCP as the driver does (keep-alive on) and buffers
// reads.
func dialBuffered(timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: timeout, KeepAlive: 15 * time.Second}
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if _, ok := conn.(syscall.Conn); !ok {
			return conn, nil
		}
		bc := &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, readBufferSize)}
		if slot, ok := ctx.Value(socketSlotKey{}).(*socketSlot); ok {
			slot.sock = bc // for the wire path (wire.go)
		}
		return bc, nil
	}
}
