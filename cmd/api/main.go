// Command dc-api serves Download Center's REST API. With DC_MYSQL_DSN and
// DC_ROCKETMQ_NAMESRV set it stores tasks in MySQL and sends intents to
// RocketMQ for dc-worker processes; without them it is the embedded mode:
// SQLite, an in-process queue and the worker in this process.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/downloadcenter/dc/cmd/internal/app"
	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/httpapi"
	"github.com/downloadcenter/dc/infra/memqueue"
	"github.com/downloadcenter/dc/infra/prom"
	"github.com/downloadcenter/dc/infra/rocketmq"
	"github.com/downloadcenter/dc/infra/webui"
)

func main() { app.Main("dc-api", run) }

// listen opens the API's listener; tests substitute one that fails.
var listen = net.Listen

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck(ctx, getenv)
	}
	if len(args) > 0 && (args[0] == "keys" || args[0] == "tenants") {
		return admin(ctx, args, getenv, stdout)
	}
	// Cancelled also when serving fails, so the worker and scheduler stop.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg, err := app.Parse("dc-api", args, getenv, stdout)
	if err != nil {
		return err
	}
	log := cfg.Logger(stdout, "api")
	linkSecret, err := app.LinkSecret(cfg)
	if err != nil {
		return err
	}
	core, err := app.Open(ctx, cfg, getenv, log)
	if err != nil {
		return err
	}
	defer core.Close()
	keys := app.NewKeys(core.Store)
	var firstKey string
	if cfg.Embedded() {
		// A one-command demo: the first start makes a key to try it with.
		// The MySQL mode never makes keys by itself.
		if ks, err := keys.List(ctx); err != nil {
			return err
		} else if len(ks) == 0 {
			if firstKey, _, err = keys.Create(ctx, "default", "make run", domain.DefaultScopes); err != nil {
				return err
			}
		}
	}

	var sender domain.IntentSender
	var queue *memqueue.Queue
	if cfg.InProcessQueue() {
		queue = memqueue.New(100_000, time.Second)
		defer queue.Close()
		sender = queue
	} else {
		s, err := rocketmq.NewSender(rocketmq.Config{NameServer: cfg.RocketMQNamesrv, Topic: cfg.RocketMQTopic}, log)
		if err != nil {
			return err
		}
		defer s.Close()
		sender = app.WrapSender(s)
	}

	// Sent intents are recorded in batches; the batcher outlives the HTTP
	// server so the marks of the last requests are written too.
	marks := core.SentBatcher()
	metrics := prom.New()
	tasks := core.Tasks(sender)
	tasks.Marks = marks
	tasks.Observe = metrics
	marksCtx, stopMarks := context.WithCancel(context.WithoutCancel(ctx))
	marksDone := make(chan struct{})
	go func() {
		defer close(marksDone)
		marks.Run(marksCtx)
	}()
	defer func() {
		stopMarks()
		<-marksDone
	}()

	ln, err := listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	links := &httpapi.Links{Secret: linkSecret, TTL: cfg.LinkTTL, Now: time.Now}
	// The download center page: sessions signed with the links' secret,
	// live changes from this replica's database poll.
	sessions := &httpapi.Sessions{Secret: linkSecret, Now: time.Now}
	changes := core.Changes()
	corsOrigins, _ := cfg.CORSList() // validated by Parse
	var cors *httpapi.CORS
	if len(corsOrigins) > 0 {
		cors = &httpapi.CORS{Origins: corsOrigins}
	}
	srv := &http.Server{
		Handler: httpapi.New(httpapi.Config{
			Tasks: tasks, Auth: keys, Files: core.Files, Redirects: core.Links, Health: core.Store.Ping, Log: log,
			Links:   links,
			Metrics: metrics.Handler(), Observe: metrics,
			Webhooks: core.Webhooks(),
			Sessions: sessions, Changes: changes, UI: webui.FS, FrameAncestors: cfg.UIFrameAncestors, CORS: cors,
			Shutdown: ctx.Done(),
		}),
		// A request's headers and body must arrive in time: a client that
		// stops mid-body cannot hold a descriptor and its buffers for long.
		// Responses are bounded by httpapi.WriteTimeout, per stall.
		ReadHeaderTimeout: min(10*time.Second, cfg.HTTPReadTimeout),
		ReadTimeout:       cfg.HTTPReadTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	var wg sync.WaitGroup
	serveErr := make(chan error, 1)
	wg.Go(func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			serveErr <- err
		}
	})
	sched := core.Scheduler(sender)
	sched.Stats, sched.Observe = core.Store, metrics
	if queue != nil {
		// Intents queued by an earlier process died with it.
		if err := sched.ResendWaiting(ctx); err != nil {
			log.Warn("resend waiting tasks", "err", err)
		}
		runner := core.Runner()
		runner.Observe = metrics
		metrics.WatchSlots(cfg.WorkerSlots, runner.Running)
		wg.Go(func() {
			app.Consume(ctx, cfg.ShutdownGrace, func(stop, work context.Context) {
				queue.Consume(stop, work, cfg.WorkerSlots, runner.Run, log)
			})
		})
	}
	if cfg.Scheduler {
		wg.Go(func() { sched.Run(ctx, cfg.SchedulerInterval) })
		// Webhook delivery runs beside the scheduler, in every replica.
		dispatcher := core.Dispatcher(tasks, links)
		dispatcher.Observe = metrics
		wg.Go(func() { dispatcher.Run(ctx) })
	}
	wg.Go(func() { changes.Run(ctx) })
	var demoURL string
	if cfg.Embedded() {
		// A one-command demo of the page too: a session for the demo user
		// of tenant default (the first key's tenant).
		demoURL = sessions.URL("default", cfg.DemoUser, httpapi.MaxSessionTTL)
	}
	printWelcome(stdout, ln.Addr(), cfg, firstKey, demoURL)

	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("serve http: %w", err)
	}
	log.Info("shutting down", "grace", cfg.ShutdownGrace)
	shutCtx, cancelShut := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownGrace+5*time.Second)
	defer cancelShut()
	if serr := srv.Shutdown(shutCtx); serr != nil {
		log.Warn("http shutdown", "err", serr)
	}
	// Stop the scheduler and the embedded worker too: when serving failed,
	// nothing else cancelled ctx, and wg.Wait would wait for ever.
	cancel()
	wg.Wait()
	return err
}

func printWelcome(w io.Writer, addr net.Addr, cfg app.Config, firstKey, demoURL string) {
	host := addr.String()
	if a, ok := addr.(*net.TCPAddr); ok && (a.IP.IsUnspecified() || a.IP == nil) {
		host = fmt.Sprintf("127.0.0.1:%d", a.Port)
	}
	mode := "embedded (SQLite, in-process queue and worker)"
	if !cfg.Embedded() || !cfg.InProcessQueue() {
		mode = "shared (MySQL and/or RocketMQ)"
	}
	fmt.Fprintf(w, "Download Center API listening on http://%s  mode: %s\n", host, mode)
	if firstKey != "" {
		fmt.Fprintf(w, "Made an API key for tenant default (shown only now; more with `dc-api keys create`):\n  export DC_KEY=%s\n", firstKey)
	} else {
		fmt.Fprintf(w, "Requests need an API key: export DC_KEY=<key>  (make one with: dc-api keys create --tenant default --name me)\n")
	}
	fmt.Fprintf(w, "Try:\n  curl -s -XPOST http://%s/api/v1/tasks -H \"Authorization: Bearer $DC_KEY\" -H 'Content-Type: application/json' \\\n"+
		"    -d '{\"name\":\"Orders\",\"type\":\"demo\",\"format\":\"xlsx\",\"params\":{\"rows\":50000}}'\n", host)
	if demoURL != "" {
		fmt.Fprintf(w, "The download center page for user %s of tenant default (a session of %d hours; exports made with -H 'X-DC-User: %s' show there):\n  http://%s%s\n",
			cfg.DemoUser, int(httpapi.MaxSessionTTL.Hours()), cfg.DemoUser, host, demoURL)
	}
}

// healthcheck asks the dc-api listening on DC_HTTP_ADDR for /healthz and
// fails unless it answers 200: the container health check of images that
// carry no shell or curl (`dc-api healthcheck`).
func healthcheck(ctx context.Context, getenv func(string) string) error {
	addr := getenv("DC_HTTP_ADDR")
	if addr == "" {
		addr = ":8080"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("healthcheck: DC_HTTP_ADDR %q: %w", addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: /healthz answered %s", res.Status)
	}
	return nil
}
