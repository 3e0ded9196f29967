// Package webui holds the download center page dc-api serves at /ui/:
// plain HTML, CSS and JavaScript embedded in the binary, with no framework
// and no build step. The page is one list that updates itself, a form and
// a few buttons; a library would add a build and a dependency to keep
// current for little that the browser's own DOM and fetch do not do.
package webui

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// FS is the page's files: index.html and assets/.
var FS fs.FS = func() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err)
	}
	return sub
}()
