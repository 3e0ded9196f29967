package httpapi

import (
	"bytes"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// DefaultFrameAncestors is the page's CSP frame-ancestors when
// DC_UI_FRAME_ANCESTORS is not set: only pages of dc-api's own origin may
// frame it, so another site cannot overlay it (clickjacking) unless the
// operator names that site.
const DefaultFrameAncestors = "'self'"

// uiTypes are the media types of the page's assets, by extension; a file
// of another kind is not served.
var uiTypes = map[string]string{
	".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
	".svg": "image/svg+xml", ".png": "image/png",
}

// uiLanguages are the page's languages, each with the Accept-Language
// primary tag that selects it.
var uiLanguages = map[string]string{"en": "en", "zh": "zh-CN"}

// uiLang picks the page's language from Accept-Language: the supported
// language of highest q, English when none matches. Every Chinese tag
// gets Simplified Chinese, the only Chinese the page has.
func uiLang(header string) string {
	type pref struct {
		lang string
		q    float64
		at   int
	}
	var prefs []pref
	for i, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				continue
			}
			q = f
		}
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		if lang, ok := uiLanguages[primary]; ok && q > 0 {
			prefs = append(prefs, pref{lang, q, i})
		}
	}
	sort.SliceStable(prefs, func(i, j int) bool { return prefs[i].q > prefs[j].q })
	if len(prefs) == 0 {
		return "en"
	}
	return prefs[0].lang
}

// uiRedirect sends /ui to /ui/, keeping the fragment (browsers carry it
// over a redirect that names none).
func uiRedirect(c *gin.Context) {
	c.Redirect(http.StatusMovedPermanently, uiPath)
}

// uiIndex serves the page: its language from Accept-Language (the page
// offers a switch too), its framing limited by the CSP frame-ancestors.
// The page loads only its own assets and talks only to this origin.
func (s *Server) uiIndex(c *gin.Context) {
	page, err := fs.ReadFile(s.ui, "index.html")
	if err != nil {
		writeProblem(c, http.StatusNotFound, "the page is not built into this binary", nil)
		return
	}
	page = bytes.Replace(page, []byte(`<html lang="en"`), []byte(`<html lang="`+uiLang(c.GetHeader("Accept-Language"))+`"`), 1)
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors "+s.frameAncestors)
	h.Set("X-Content-Type-Options", "nosniff")
	// The page's links (downloads) need not tell anyone where they came from.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	h.Add("Vary", "Accept-Language")
	c.Data(http.StatusOK, "text/html; charset=utf-8", page)
}

// uiAsset serves one of the page's scripts, styles or images.
func (s *Server) uiAsset(c *gin.Context) {
	name := c.Param("file")
	ctype, ok := uiTypes[path.Ext(name)]
	var b []byte
	var err error
	if ok && fs.ValidPath(name) && !strings.Contains(name, "/") {
		b, err = fs.ReadFile(s.ui, "assets/"+name)
	}
	if !ok || b == nil || err != nil {
		writeProblem(c, http.StatusNotFound, "no such asset", nil)
		return
	}
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, ctype, b)
}
