package xlsx

import (
	"archive/zip"
	"bytes"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	kzip "github.com/klauspost/compress/zip"
)

// Chunks deflated apart and joined are one deflate stream that another
// implementation (the standard library's, which also checks the CRC and
// the sizes of the data descriptor) reads back exactly, whatever the
// number of compressors, chunk sizes and sheets.
func TestSheetDeflaterJoinsChunks(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	var xml bytes.Buffer
	for i := range 8_000 {
		xml.WriteString(`<row r="` + strconv.Itoa(i) + `"><c t="inlineStr"><is><t>`)
		for range rng.IntN(40) {
			xml.WriteByte(byte(' ' + rng.IntN(95)))
		}
		xml.WriteString(`</t></is></c></row>`)
	}
	data := xml.Bytes()
	for _, workers := range []int{1, 2, 3} {
		for _, chunk := range []int{1 << 10, 64 << 10, len(data)} {
			var file bytes.Buffer
			zw := kzip.NewWriter(&file)
			d := newSheetDeflater(1)
			d.workers = workers
			names := []string{"a.xml", "b.xml"}
			for _, name := range names {
				fh := sheetHeader(name)
				part, err := zw.CreateRaw(fh)
				require.NoError(t, err)
				d.start(part, fh)
				buf := make([]byte, 0, chunk)
				for off := 0; off < len(data); off += chunk {
					buf = append(buf[:0], data[off:min(off+chunk, len(data))]...)
					buf, err = d.write(buf, off+chunk >= len(data))
					require.NoError(t, err)
				}
				require.NoError(t, d.finish())
			}
			require.NoError(t, zw.Close())
			d.stop()

			zr, err := zip.NewReader(bytes.NewReader(file.Bytes()), int64(file.Len()))
			require.NoError(t, err)
			require.Len(t, zr.File, len(names))
			for i, f := range zr.File {
				require.Equal(t, names[i], f.Name)
				require.Equal(t, zip.Deflate, f.Method)
				rc, err := f.Open()
				require.NoError(t, err)
				got, err := io.ReadAll(rc) // checks the CRC at the end
				require.NoError(t, err, "workers %d, chunk %d", workers, chunk)
				require.NoError(t, rc.Close())
				require.True(t, bytes.Equal(data, got), "workers %d, chunk %d: %d bytes back of %d", workers, chunk, len(got), len(data))
				require.EqualValues(t, len(data), f.UncompressedSize64)
			}
		}
	}
}

// A sheet's compressors are waited for on stop, also after an abandoned
// sheet, and an error writing the entry sticks.
func TestSheetDeflaterStopAndErrors(t *testing.T) {
	t.Parallel()
	d := newSheetDeflater(1)
	d.workers = 2
	d.start(failingWriter{}, sheetHeader("x.xml"))
	buf := bytes.Repeat([]byte("<row/>"), 10_000)
	next, err := d.write(buf, false)
	require.NoError(t, err)
	_, err = d.write(append(next[:0], buf...), false)
	require.NoError(t, err)
	_, err = d.write(bytes.Clone(buf), false) // waits for the first: its write fails
	require.ErrorIs(t, err, errFailingWriter)
	_, err = d.write(bytes.Clone(buf), true)
	require.ErrorIs(t, err, errFailingWriter, "the error sticks")
	require.ErrorIs(t, d.finish(), errFailingWriter)
	d.stop()
	require.Empty(t, d.queue)
}

var errFailingWriter = io.ErrShortWrite

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errFailingWriter }
