package xlsx

import (
	"bytes"
	"hash/crc32"
	"io"
	"math"
	"runtime"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zip"
)

// sheetDeflater compresses a sheet's XML in chunks, several at once, and
// writes them in order into the sheet's raw zip entry, as pigz does: each
// chunk is deflated on its own goroutine, ends with a sync flush (an empty
// stored block, so the next chunk starts on a byte boundary) and the
// sheet's last with the final block, so the chunks joined are one deflate
// stream. Deflating was the largest part of an xlsx export's CPU (four
// tenths at level 1) and ran on one goroutine: with the database, the
// fetch and the formatting waiting on it, a second core stood idle.
//
// Each chunk starts without the previous one's window, which costs a
// little ratio at each boundary; chunks are large enough (chunkSize) for
// that to stay small, and spared the time of priming a dictionary.
// Buffers take turns: the writer fills one while up to workers are being
// compressed, so memory is fixed. Only the goroutine that owns the Writer
// calls its methods.
type sheetDeflater struct {
	level   int
	workers int

	part io.Writer       // the sheet's raw entry
	fh   *zip.FileHeader // its header: CRC and sizes set by finish
	crc  uint32
	in   uint64
	out  uint64

	queue []*deflateChunk // being compressed, oldest first
	free  []*deflateChunk
	err   error
}

// chunkSize is how much sheet XML a chunk holds: large enough that a
// chunk's cold start costs little ratio, small enough that the buffers
// (workers+1 of them) stay a small part of the export's memory.
const chunkSize = 256 << 10

// deflateChunk is one chunk's input, its compressed output and the
// compressor, which stays with the chunk to be reset for the next.
type deflateChunk struct {
	in   []byte
	out  bytes.Buffer
	fw   *flate.Writer
	last bool
	done chan error
}

func newSheetDeflater(level int) *sheetDeflater {
	return &sheetDeflater{level: level, workers: max(1, min(runtime.GOMAXPROCS(0), 4))}
}

// sheetHeader is the zip header of a streamed sheet: deflated, sizes and
// CRC in a data descriptor after the data, as zip.Writer.Create writes.
func sheetHeader(name string) *zip.FileHeader {
	return &zip.FileHeader{Name: name, Method: zip.Deflate, Flags: 0x8, CreatorVersion: 20, ReaderVersion: 20}
}

// start begins a sheet written into part, the raw entry of fh.
func (d *sheetDeflater) start(part io.Writer, fh *zip.FileHeader) {
	d.part, d.fh, d.crc, d.in, d.out = part, fh, 0, 0, 0
}

// write hands buf to a compressor and returns the buffer to fill next;
// last says buf ends the sheet. An error is that of an earlier chunk, or
// of writing into the entry.
func (d *sheetDeflater) write(buf []byte, last bool) ([]byte, error) {
	if d.err != nil {
		return nil, d.err
	}
	if len(d.queue) == d.workers {
		if err := d.drainOne(); err != nil {
			return nil, err
		}
	}
	d.crc = crc32.Update(d.crc, crc32.IEEETable, buf)
	d.in += uint64(len(buf))
	var c *deflateChunk
	if n := len(d.free); n > 0 {
		c, d.free = d.free[n-1], d.free[:n-1]
	} else {
		c = &deflateChunk{in: make([]byte, 0, cap(buf)), done: make(chan error, 1)}
	}
	next := c.in[:0]
	c.in, c.last = buf, last
	d.queue = append(d.queue, c)
	go c.compress(d.level)
	return next, nil
}

// compress deflates the chunk into out.
func (c *deflateChunk) compress(level int) {
	c.out.Reset()
	if c.fw == nil {
		var err error
		if c.fw, err = flate.NewWriter(&c.out, level); err != nil {
			c.done <- err
			return
		}
	} else {
		c.fw.Reset(&c.out)
	}
	_, err := c.fw.Write(c.in)
	if err == nil {
		if c.last {
			err = c.fw.Close()
		} else {
			err = c.fw.Flush()
		}
	}
	c.done <- err
}

// drainOne waits for the oldest chunk and writes it into the entry.
func (d *sheetDeflater) drainOne() error {
	c := d.queue[0]
	d.queue = d.queue[1:]
	err := <-c.done
	d.free = append(d.free, c)
	if err == nil {
		var n int
		n, err = d.part.Write(c.out.Bytes())
		d.out += uint64(n)
	}
	if err != nil && d.err == nil {
		d.err = err
	}
	return d.err
}

// finish writes every chunk and completes the sheet's header, which the
// zip writes after the data when the next entry starts.
func (d *sheetDeflater) finish() error {
	for len(d.queue) > 0 {
		if err := d.drainOne(); err != nil {
			return err
		}
	}
	d.fh.CRC32 = d.crc
	d.fh.CompressedSize64, d.fh.UncompressedSize64 = d.out, d.in
	// The zip writes a raw entry's data descriptor and central directory
	// record from the 32-bit fields (CreateRaw copies them only when the
	// entry starts), so they are set too, deprecated or not.
	//lint:ignore SA1019 read by zip.Writer for raw entries
	d.fh.CompressedSize = uint32(min(d.out, math.MaxUint32))
	//lint:ignore SA1019 read by zip.Writer for raw entries
	d.fh.UncompressedSize = uint32(min(d.in, math.MaxUint32))
	return nil
}

// spareWriter returns an idle chunk's compressor, reset to write to w at
// level, for the workbook's other parts once the sheets are done: one
// compressor fewer alive (each holds about 800 KiB at level 1). It is nil
// when no chunk has one.
func (d *sheetDeflater) spareWriter(w io.Writer) *flate.Writer {
	for _, c := range d.free {
		if c.fw != nil {
			c.fw.Reset(w)
			return c.fw
		}
	}
	return nil
}

// stop waits for the chunks in flight, so no goroutine outlives the
// writer.
func (d *sheetDeflater) stop() {
	for _, c := range d.queue {
		<-c.done
		d.free = append(d.free, c)
	}
	d.queue = nil
}
