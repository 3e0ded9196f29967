package httpapi

import (
	"embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// OpenAPI is the API's OpenAPI 3.1 document, kept beside the handlers it
// describes; tests check that the two agree route for route and that
// every response the tests provoke validates against it.
//
//go:embed openapi.json
var OpenAPI []byte

//go:embed docs
var docsFS embed.FS

func serveOpenAPI(c *gin.Context) {
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, "application/json", OpenAPI)
}

// serveDocs serves the reference page; its script and style are in the
// binary too, under /docs/assets/.
func serveDocs(c *gin.Context) {
	page, _ := docsFS.ReadFile("docs/index.html")
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, "text/html; charset=utf-8", page)
}

// docsTypes are the reference page's assets and their media types.
var docsTypes = map[string]string{"docs.js": "text/javascript; charset=utf-8", "docs.css": "text/css; charset=utf-8"}

func serveDocsAsset(c *gin.Context) {
	name := c.Param("file")
	ctype, ok := docsTypes[name]
	if !ok {
		writeProblem(c, http.StatusNotFound, "no such asset", nil)
		return
	}
	b, _ := docsFS.ReadFile("docs/" + name)
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, ctype, b)
}
