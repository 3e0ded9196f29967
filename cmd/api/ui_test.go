package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/cmd/internal/proctest"
)

// chromium is the headless browser of the page tests: Debian's chromium,
// installed by deploy/services/chromium.sh when missing (make test runs
// it first; a test run on a fresh machine runs it here).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	out, err := exec.Command("bash", "../../deploy/services/chromium.sh").Output()
	require.NoError(t, err, "deploy/services/chromium.sh could not install chromium")
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

// page is one headless Chromium tab on the page, failing the test with a
// screenshot (saved in the test's temp dir) when a step fails.
type page struct {
	t         *testing.T
	ctx       context.Context
	downloads string
	shots     string
}

func openPage(t *testing.T, url string, width, height int) *page {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(width, height),
		chromedp.Flag("lang", "en-US"))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	p := &page{t: t, ctx: ctx, downloads: t.TempDir(), shots: t.TempDir()}
	// The first run starts the browser, which lives as long as the
	// context of that run: no timeout on this one.
	p.check("start chromium", chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))))
	_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: p.downloads})
	p.check("allow downloads", err)
	p.do("open "+url, chromedp.Navigate(url))
	return p
}

// check fails the test on err, after saving a screenshot of the page.
func (p *page) check(step string, err error) {
	p.t.Helper()
	if err == nil {
		return
	}
	p.fail(step + ": " + err.Error())
}

func (p *page) fail(msg string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		path := filepath.Join(p.shots, "failure.png")
		if os.WriteFile(path, shot, 0o644) == nil {
			p.t.Logf("screenshot of the page: %s", path)
		}
	}
	if text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`)); err == nil {
		p.t.Logf("page text:\n%s", text)
	}
	p.t.Fatal(msg)
}

func (p *page) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	p.check(step, chromedp.Do(ctx, actions...))
}

func eval[T any](p *page, js string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	p.check("evaluate "+js, err)
	return v
}

// waitFor polls the JavaScript condition until it is true.
func (p *page) waitFor(what, js string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for !eval[bool](p, js) {
		if time.Now().After(deadline) {
			p.fail(fmt.Sprintf("%s: not within %s (%s)", what, timeout, js))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// row is a JavaScript expression for the list item of the task named name.
func row(name string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('li.task')].find((li) => li.querySelector('.task-name').textContent === %q)`, name)
}

// click clicks, with the mouse as a person would, the control of the
// task named name.
func (p *page) click(name, action string) {
	p.t.Helper()
	id := eval[string](p, fmt.Sprintf(`(%s || {dataset: {}}).dataset.id || ""`, row(name)))
	if id == "" {
		p.fail("no task " + name + " on the page")
	}
	p.do("click "+action+" of "+name, chromedp.Click(chromedp.CSS(fmt.Sprintf(`li[data-id="%s"] [data-action="%s"]`, id, action))))
}

// openSession asks for a session of user and returns the page's url.
func openSession(t *testing.T, c *proctest.Client, user string) string {
	t.Helper()
	res, err := c.HTTP.Post(c.Base+"/api/v1/sessions", "application/json", strings.NewReader(fmt.Sprintf(`{"user":%q,"ttl":"1h"}`, user)))
	require.NoError(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	require.Equal(t, http.StatusCreated, res.StatusCode, string(b))
	var s struct {
		URL string `json:"url"`
	}
	require.NoError(t, json.Unmarshal(b, &s))
	return c.Base + s.URL
}

// TestPageInBrowser drives the download center page in headless Chromium
// against a real embedded dc-api, at a desktop size and at 390×844: the
// session's user sees their two exports and none of another user's,
// watches the running one's progress bar advance, downloads a file (the
// same bytes as the API's /file), cancels the running export, retries it,
// creates one through the form (with a column left out and two swapped),
// and switches the page to Chinese.
func TestPageInBrowser(t *testing.T) {
	data := t.TempDir()
	_, c := embedded(t, data, map[string]string{"DC_EVENTS_POLL": "200ms", "DC_WORKER_SLOTS": "4"})
	for _, size := range []struct {
		name          string
		width, height int
	}{{"desktop", 1280, 900}, {"phone", 390, 844}} {
		t.Run(size.name, func(t *testing.T) {
			user := "alice-" + size.name
			done := c.CreateFor(t, user, `{"name":"Orders Q3 `+size.name+`","type":"demo","format":"csv","params":{"rows":3000}}`)
			c.WaitStatus(t, done.ID, time.Minute, "SUCCESS")
			slow := c.CreateFor(t, user, `{"name":"Slow export `+size.name+`","type":"demo","format":"csv","params":{"rows":400000,"delay_ms":250}}`)
			c.CreateFor(t, "bob", `{"name":"Bob payroll `+size.name+`","type":"demo","format":"csv","params":{"rows":10}}`)
			c.WaitStatus(t, slow.ID, time.Minute, "EXECUTING")

			p := openPage(t, openSession(t, c, user), size.width, size.height)
			p.waitFor("both exports listed", fmt.Sprintf(`!!(%s) && !!(%s)`, row("Orders Q3 "+size.name), row("Slow export "+size.name)), 20*time.Second)
			require.False(t, eval[bool](p, `document.body.innerText.includes("Bob payroll")`), "another user's export on the page")
			require.Equal(t, 2, eval[int](p, `document.querySelectorAll('li.task').length`))
			require.Equal(t, "", eval[string](p, `location.hash`), "the token left the address bar")

			// The running export's bar advances with no reload.
			bar := row("Slow export "+size.name) + `.querySelector('progress')`
			p.waitFor("a progress bar with a value", bar+` && `+bar+`.value > 0`, 20*time.Second)
			first := eval[float64](p, bar+`.value`)
			p.waitFor("the progress bar advancing", fmt.Sprintf(`%s && %s.value > %v`, bar, bar, first), 20*time.Second)
			require.Regexp(t, `of 400,000 rows \(\d+%\)`, eval[string](p, row("Slow export "+size.name)+`.innerText`))

			// DC_UPDATE_SCREENSHOT=1 remakes the README's picture of the page.
			if size.name == "desktop" && os.Getenv("DC_UPDATE_SCREENSHOT") != "" {
				eval[bool](p, `window.scrollTo(0, 0), document.activeElement.blur(), true`)
				p.do("settle", chromedp.Sleep(300*time.Millisecond))
				shot, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
				p.check("screenshot", err)
				require.NoError(t, os.WriteFile("../../docs/page.png", shot, 0o644))
			}

			// Download: the browser saves the same bytes as the API serves.
			p.click("Orders Q3 "+size.name, "download")
			var got []byte
			deadline := time.Now().Add(20 * time.Second)
			for got == nil && time.Now().Before(deadline) {
				if b, err := os.ReadFile(filepath.Join(p.downloads, "Orders Q3 "+size.name+".csv")); err == nil && len(b) > 0 {
					got = b
				}
				time.Sleep(100 * time.Millisecond)
			}
			if got == nil {
				entries, _ := os.ReadDir(p.downloads)
				p.fail(fmt.Sprintf("no download in %s (%d entries)", p.downloads, len(entries)))
			}
			want, _ := c.Download(t, done.ID, t.TempDir())
			wantBytes, err := os.ReadFile(want)
			require.NoError(t, err)
			require.True(t, bytes.Equal(wantBytes, got), "downloaded file differs from GET /file (%d vs %d bytes)", len(got), len(wantBytes))

			// Cancel the running export, then retry it.
			p.click("Slow export "+size.name, "cancel")
			p.waitFor("the export cancelled", row("Slow export "+size.name)+`.dataset.status === "CANCELLED"`, 20*time.Second)
			require.Equal(t, "CANCELLED", c.Get(t, slow.ID).Status)
			p.click("Slow export "+size.name, "retry")
			p.waitFor("the export running again", `["NOT_EXECUTED","EXECUTING"].includes(`+row("Slow export "+size.name)+`.dataset.status)`, 20*time.Second)
			require.Contains(t, []string{"NOT_EXECUTED", "EXECUTING"}, c.Get(t, slow.ID).Status)
			require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, c.Act(t, slow.ID, "cancel"), "stop it again, to spare the machine")

			// A new export through the form: demo type, 25 rows, without the
			// id column, with order_no after customer.
			name := "From the form " + size.name
			p.do("open the form", chromedp.Click(chromedp.CSS(`#create-box summary`)))
			p.waitFor("the form built from the types", `!!document.querySelector('#params [data-param="rows"]') && document.querySelectorAll('#columns li').length === 10`, 10*time.Second)
			// Every control has an accessible name (a label, aria-label or its text).
			unnamed := eval[[]string](p, `[...document.querySelectorAll('input, select, button, a[href]')].filter((e) => e.offsetParent !== null && !((e.labels && e.labels.length) || e.getAttribute('aria-label') || e.textContent.trim())).map((e) => e.outerHTML)`)
			require.Empty(t, unnamed, "controls without an accessible name")
			p.do("fill the form",
				chromedp.SendKeys(chromedp.CSS(`#f-name`), name),
				chromedp.SendKeys(chromedp.CSS(`#params [data-param="rows"]`), "25"),
				chromedp.Click(chromedp.CSS(`#columns li[data-field="id"] input`)),
				chromedp.Click(chromedp.CSS(`#columns li[data-field="order_no"] [data-move="1"]`)))
			require.Equal(t, "csv", eval[string](p, `(document.getElementById('f-format').value = 'csv', 'csv')`))
			p.do("submit", chromedp.Click(chromedp.CSS(`#form button[type=submit]`)))
			p.waitFor("the new export listed and done", `!!(`+row(name)+`) && `+row(name)+`.dataset.status === "SUCCESS"`, time.Minute)
			id := eval[string](p, row(name)+`.dataset.id`)
			res, err := c.HTTP.Get(c.Base + "/api/v1/tasks/" + id)
			require.NoError(t, err)
			var made struct {
				Owner   string `json:"owner"`
				Format  string `json:"format"`
				Params  map[string]any
				Columns []struct {
					Field string `json:"field"`
				} `json:"columns"`
				File struct {
					Rows int64 `json:"rows"`
				} `json:"file"`
			}
			require.NoError(t, json.NewDecoder(res.Body).Decode(&made))
			_ = res.Body.Close()
			require.Equal(t, user, made.Owner)
			require.Equal(t, "csv", made.Format)
			require.Equal(t, int64(25), made.File.Rows)
			var fields []string
			for _, col := range made.Columns {
				fields = append(fields, col.Field)
			}
			require.Equal(t, []string{"customer", "order_no", "city", "status", "quantity", "unit_price", "amount", "paid", "created_at"}, fields)

			// Nothing sticks out sideways, at either size.
			require.LessOrEqual(t, eval[int](p, `document.documentElement.scrollWidth`), size.width, "the page scrolls sideways")

			// Simplified Chinese, from the switch.
			p.do("switch to Chinese", chromedp.SetValue(chromedp.CSS(`#lang`), "zh-CN"))
			eval[bool](p, `document.getElementById('lang').dispatchEvent(new Event('change')), true`)
			p.waitFor("the page in Chinese", `document.body.innerText.includes("我的导出") && document.body.innerText.includes("下载") && !document.body.innerText.includes("Your exports") && !document.body.innerText.includes("Download")`, 5*time.Second)
			require.Equal(t, "zh-CN", eval[string](p, `document.documentElement.lang`))
			eval[bool](p, `localStorage.removeItem('dc.lang'), true`)
		})
	}
}

// TestEmbeddedPrintsDemoPageLink: make run's start prints a link to the
// page for user demo of tenant default, whose token lists that user's
// exports (made with the printed key and X-DC-User: demo) and no one
// else's.
func TestEmbeddedPrintsDemoPageLink(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	p, c := embedded(t, data, nil)
	key := regexp.MustCompile(`export DC_KEY=(dck_\S+)`).FindStringSubmatch(p.Output())
	require.NotNil(t, key, p.Output())
	link := regexp.MustCompile(`(http://\S+/ui/)#token=(dcs_\S+)`).FindStringSubmatch(p.Output())
	require.NotNil(t, link, "no page link printed:\n%s", p.Output())
	require.Equal(t, c.Base+"/ui/", link[1])
	def := proctest.NewClient(c.Base, key[1])
	def.CreateFor(t, "demo", `{"name":"for demo","type":"demo","params":{"rows":1}}`)
	def.CreateFor(t, "someone", `{"name":"for someone","type":"demo","params":{"rows":1}}`)
	var list struct {
		Items []struct {
			Name string `json:"name"`
		} `json:"items"`
	}
	res, err := proctest.NewClient(c.Base, link[2]).HTTP.Get(c.Base + "/api/v1/tasks")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.NoError(t, json.NewDecoder(res.Body).Decode(&list))
	_ = res.Body.Close()
	require.Len(t, list.Items, 1)
	require.Equal(t, "for demo", list.Items[0].Name)
}

// TestPageOffersRetryForAnExpiredFile: once retention deleted a finished
// export's file (DC_FILE_TTL), the page offers Retry instead of a dead
// Download, and the retry makes the file again.
func TestPageOffersRetryForAnExpiredFile(t *testing.T) {
	t.Parallel()
	_, c := embedded(t, t.TempDir(), map[string]string{"DC_EVENTS_POLL": "200ms", "DC_FILE_TTL": "2s"})
	tk := c.CreateFor(t, "carol", `{"name":"Short-lived","type":"demo","format":"csv","params":{"rows":10}}`)
	c.WaitStatus(t, tk.ID, time.Minute, "SUCCESS")
	time.Sleep(2500 * time.Millisecond)
	p := openPage(t, openSession(t, c, "carol"), 1280, 900)
	p.waitFor("the expired export listed", `!!(`+row("Short-lived")+`)`, 20*time.Second)
	require.False(t, eval[bool](p, `!!`+row("Short-lived")+`.querySelector('[data-action="download"]')`), "a Download of a deleted file")
	require.Contains(t, eval[string](p, row("Short-lived")+`.innerText`), "Retry makes it again")
	p.click("Short-lived", "retry")
	p.waitFor("the file made again", `!!`+row("Short-lived")+`.querySelector('[data-action="download"]') || `+row("Short-lived")+`.dataset.status !== "SUCCESS"`, 20*time.Second)
	require.Greater(t, c.WaitStatus(t, tk.ID, time.Minute, "SUCCESS").Attempts, 1)
}
