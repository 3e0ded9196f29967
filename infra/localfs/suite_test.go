package localfs_test

import (
	"testing"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/filestoretest"
	"github.com/downloadcenter/dc/infra/localfs"
)

func TestFileStoreSuite(t *testing.T) {
	filestoretest.Run(t, 3<<20+12345, func(t *testing.T) domain.FileStore {
		s, err := localfs.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
