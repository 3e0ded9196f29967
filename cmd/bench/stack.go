package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/demo"
	"github.com/downloadcenter/dc/infra/mysql"
	"github.com/downloadcenter/dc/infra/rocketmq"
)

// stack is the bench's share of the shared MariaDB and RocketMQ: its own
// throw-away databases (dc_bench_*) and its own topic, all removed by
// close. The topic is the bench's own because a new consumer group is
// handed every message of a topic still in the broker's memory: on the
// shared topic each fresh worker would first chew through other runs'
// intents, whose task ids collide with the bench's.
type stack struct {
	base    *mysqldriver.Config
	namesrv string
	broker  string
	topic   string
	tag     string
	log     *slog.Logger

	seq int
	dbs map[string]bool // created and not yet dropped
}

// openStack creates the bench's topic; tag makes its names unique.
func openStack(ctx context.Context, cfg Config, tag string, log *slog.Logger) (*stack, error) {
	base, err := mysqldriver.ParseDSN(cfg.MySQLDSN)
	if err != nil {
		return nil, fmt.Errorf("parse DC_MYSQL_DSN: %w", err)
	}
	s := &stack{
		base: base, namesrv: cfg.Namesrv, broker: cfg.Broker, topic: "dc-bench-" + tag, tag: tag, log: log,
		dbs: map[string]bool{},
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := rocketmq.EnsureTopic(ctx, rocketmq.Config{NameServer: s.namesrv, Topic: s.topic}, s.broker); err != nil {
		return nil, fmt.Errorf("create the bench topic: %w", err)
	}
	return s, nil
}

// exec runs one statement on the server DC_MYSQL_DSN names.
func (s *stack) exec(ctx context.Context, q string) error {
	db, err := sql.Open("mysql", s.base.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, q)
	return err
}

// newDB creates an empty database and returns its name and DSN.
func (s *stack) newDB(ctx context.Context) (name, dsn string, err error) {
	s.seq++
	name = fmt.Sprintf("dc_bench_%s_%d", s.tag, s.seq)
	if err := s.exec(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4"); err != nil {
		return "", "", fmt.Errorf("create database %s: %w", name, err)
	}
	s.dbs[name] = true
	c := s.base.Clone()
	c.DBName = name
	return name, c.FormatDSN(), nil
}

// dropDB drops a database newDB made.
func (s *stack) dropDB(ctx context.Context, name string) error {
	if !s.dbs[name] {
		return nil
	}
	if err := s.exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	delete(s.dbs, name)
	return nil
}

// close drops the remaining databases and deletes the topic.
func (s *stack) close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	var errs []error
	for name := range s.dbs {
		errs = append(errs, s.dropDB(ctx, name))
	}
	errs = append(errs, s.deleteTopic(ctx))
	return errors.Join(errs...)
}

// deleteTopic removes the bench's topic from the broker and name server.
func (s *stack) deleteTopic(ctx context.Context) error {
	adm, err := admin.NewAdmin(admin.WithResolver(primitive.NewPassthroughResolver([]string{s.namesrv})))
	if err != nil {
		return fmt.Errorf("delete topic %s: %w", s.topic, err)
	}
	defer adm.Close()
	err = adm.DeleteTopic(ctx, admin.WithTopicDelete(s.topic), admin.WithBrokerAddrDelete(s.broker),
		admin.WithNameSrvAddr([]string{s.namesrv}))
	if err != nil {
		return fmt.Errorf("delete topic %s: %w", s.topic, err)
	}
	return nil
}

// rawCreator is the floor under one create: the INSERT the API's store
// makes and one intent sent, with no HTTP, validation or bookkeeping.
type rawCreator struct {
	db      *sql.DB
	sender  *rocketmq.Sender
	params  string
	columns string
}

// insertTask is the create's INSERT, for the columns without a default.
const insertTask = `INSERT INTO tasks (name, type, format, params, column_defs, status, error, rows_total, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// newRawCreator migrates the empty database dsn names (as the API would)
// and connects to it the way the store does (infra/mysql.OpenMySQL): the
// same DSN settings and pool size, so the two differ only in what one
// create does. Keep the two in step.
func newRawCreator(ctx context.Context, dsn, namesrv, topic string, log *slog.Logger) (*rawCreator, error) {
	store, err := mysql.OpenMySQL(ctx, dsn, log)
	if err != nil {
		return nil, fmt.Errorf("migrate raw database: %w", err)
	}
	if err := store.Close(); err != nil {
		return nil, fmt.Errorf("migrate raw database: %w", err)
	}
	cfg, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse raw dsn: %w", err)
	}
	cfg.ParseTime, cfg.Loc, cfg.ClientFoundRows, cfg.InterpolateParams = true, time.UTC, true, true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, fmt.Errorf("open raw database: %w", err)
	}
	db.SetMaxOpenConns(50)
	db.SetMaxIdleConns(50)
	sender, err := rocketmq.NewSender(rocketmq.Config{NameServer: namesrv, Topic: topic}, log)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("raw sender: %w", err)
	}
	fields := demo.Fields()
	cols := make([]domain.Column, len(fields))
	for i, f := range fields {
		cols[i] = domain.Column{Field: f.Name, Header: f.Header}
	}
	colJSON, _ := json.Marshal(cols) // cannot fail
	return &rawCreator{db: db, sender: sender, params: `{"rows":1}`, columns: string(colJSON)}, nil
}

// create inserts one waiting task and sends its intent.
func (r *rawCreator) create(ctx context.Context) error {
	now := time.Now().UTC()
	res, err := r.db.ExecContext(ctx, insertTask, "raw", demo.Type, "csv", r.params, r.columns,
		string(domain.StatusNotExecuted), "", -1, now, now)
	if err != nil {
		return fmt.Errorf("raw insert: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("raw insert: %w", err)
	}
	return r.sender.Send(ctx, domain.Intent{TaskID: id, Type: demo.Type})
}

// close releases the connection pool and the producer.
func (r *rawCreator) close() error {
	return errors.Join(r.sender.Close(), r.db.Close())
}
