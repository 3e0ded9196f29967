package domain

import (
	"context"
	"errors"
	"io/fs"
	"time"
)

// LinkRequest describes the download a file link is for.
type LinkRequest struct {
	// ContentDisposition and ContentType are what the download answers
	// with: the name the client saves the file as, and its media type.
	ContentDisposition string
	ContentType        string
	// Until is when the link stops working; zero means the store's default.
	Until time.Time
}

// FileLinker is implemented by file stores that clients can fetch from
// themselves (a bucket): a download answers with a redirect to the link
// instead of streaming the file through the API. A store that clients
// cannot reach is used without it, and downloads stream.
type FileLinker interface {
	// Link returns a URL that serves the committed file name; a missing
	// file is an fs.ErrNotExist.
	Link(ctx context.Context, name string, req LinkRequest) (string, error)
}

// PendingDiscarder is implemented by file stores whose unfinished files
// cost until someone removes them (multipart uploads in a bucket) and can
// be found by their final name. The scheduler discards the unfinished file
// of an attempt as soon as it knows that attempt's writer is gone, instead
// of waiting for the age-based RemoveStaleTemp.
type PendingDiscarder interface {
	// DiscardPending drops every unfinished file that would become name
	// and reports how many there were.
	DiscardPending(ctx context.Context, name string) (int, error)
}

// discardAttemptFiles removes what the attempt of t that just ended without
// success may have left in files: its unfinished upload (when the store
// tracks those by name) and a file it committed but never recorded. Both
// are garbage once the attempt lost the task: no later Succeed of that
// attempt can win. Failures are only logged; the age-based sweep and
// the bucket's lifecycle rule are the backstop.
func (s *Scheduler) discardAttemptFiles(ctx context.Context, t *Task) {
	if s.Files == nil {
		return
	}
	// A store that does not answer must not hold up the rest of the sweep.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	name := FileName(t)
	log := s.Log.With("task_id", t.ID, "attempt", t.Attempts, "file", name)
	if d, ok := s.Files.(PendingDiscarder); ok {
		n, err := d.DiscardPending(ctx, name)
		switch {
		case err != nil:
			log.Warn("discard the unfinished file of an ended attempt", "err", err)
		case n > 0:
			log.Info("discarded the unfinished file of an ended attempt", "count", n)
		}
	}
	if err := s.Files.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Warn("remove the file of an ended attempt", "err", err)
	}
}
