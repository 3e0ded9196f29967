package rocketmq

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
)

// fakeProducer answers sends with a function.
type fakeProducer struct {
	send      func(ctx context.Context, msg *primitive.Message) (*primitive.SendResult, error)
	shutdowns int
}

func (f *fakeProducer) Start() error { return nil }

func (f *fakeProducer) Shutdown() error { f.shutdowns++; return nil }

func (f *fakeProducer) SendSync(ctx context.Context, msgs ...*primitive.Message) (*primitive.SendResult, error) {
	return f.send(ctx, msgs[0])
}

func TestSenderSend(t *testing.T) {
	tests := []struct {
		name    string
		send    func(ctx context.Context, msg *primitive.Message) (*primitive.SendResult, error)
		wantErr string
	}{
		{
			name: "stored",
			send: func(context.Context, *primitive.Message) (*primitive.SendResult, error) {
				return &primitive.SendResult{Status: primitive.SendOK}, nil
			},
		},
		{
			name: "flush timeout",
			send: func(context.Context, *primitive.Message) (*primitive.SendResult, error) {
				return &primitive.SendResult{Status: primitive.SendFlushDiskTimeout}, nil
			},
			wantErr: "send intent for task 42: broker answered FLUSH_DISK_TIMEOUT",
		},
		{
			name: "slave unavailable",
			send: func(context.Context, *primitive.Message) (*primitive.SendResult, error) {
				return &primitive.SendResult{Status: primitive.SendSlaveNotAvailable}, nil
			},
			wantErr: "send intent for task 42: broker answered SLAVE_NOT_AVAILABLE",
		},
		{
			name: "client error",
			send: func(context.Context, *primitive.Message) (*primitive.SendResult, error) {
				return nil, errors.New("CODE: 14, DESC: broker busy")
			},
			wantErr: "send intent for task 42: CODE: 14, DESC: broker busy",
		},
		{
			name: "no result",
			send: func(context.Context, *primitive.Message) (*primitive.SendResult, error) {
				return nil, nil
			},
			wantErr: "send intent for task 42: no result from the client",
		},
		{
			name: "hung client that ignores ctx",
			send: func(context.Context, *primitive.Message) (*primitive.SendResult, error) {
				time.Sleep(time.Second)
				return &primitive.SendResult{Status: primitive.SendOK}, nil
			},
			wantErr: "send intent for task 42: context deadline exceeded",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *primitive.Message
			p := &fakeProducer{send: func(ctx context.Context, msg *primitive.Message) (*primitive.SendResult, error) {
				got = msg
				return tt.send(ctx, msg)
			}}
			s := newSender(Config{Topic: "intents", SendTimeout: 100 * time.Millisecond}, p, slog.New(slog.DiscardHandler))
			start := time.Now()
			err := s.Send(context.Background(), domain.Intent{TaskID: 42, Type: "orders"})
			require.Less(t, time.Since(start), 500*time.Millisecond, "bounded by the send timeout")
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
				require.Equal(t, "intents", got.Topic)
				require.Equal(t, "42", got.GetKeys())
				require.Equal(t, "orders", got.GetTags())
			}
			require.NoError(t, s.Close())
			require.NoError(t, s.Close())
			require.Equal(t, 1, p.shutdowns)
		})
	}
}

func TestSenderHonoursCallerContext(t *testing.T) {
	p := &fakeProducer{send: func(ctx context.Context, _ *primitive.Message) (*primitive.SendResult, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	s := newSender(Config{Topic: "intents", SendTimeout: time.Minute}, p, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := s.Send(ctx, domain.Intent{TaskID: 1})
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestSenderBoundsSendsInFlight(t *testing.T) {
	release := make(chan struct{})
	p := &fakeProducer{send: func(context.Context, *primitive.Message) (*primitive.SendResult, error) {
		<-release // a client stuck past every deadline
		return &primitive.SendResult{Status: primitive.SendOK}, nil
	}}
	s := newSender(Config{Topic: "intents", SendTimeout: 50 * time.Millisecond}, p, slog.New(slog.DiscardHandler))
	s.inflight = make(chan struct{}, 2)
	for id := int64(1); id <= 2; id++ {
		require.ErrorIs(t, s.Send(context.Background(), domain.Intent{TaskID: id}), context.DeadlineExceeded)
	}
	err := s.Send(context.Background(), domain.Intent{TaskID: 3})
	require.ErrorContains(t, err, "send intent for task 3: too many sends in flight")
	close(release)
	// The stuck sends finish and free their places.
	require.Eventually(t, func() bool {
		return s.Send(context.Background(), domain.Intent{TaskID: 4}) == nil
	}, time.Second, 10*time.Millisecond)
}

// A real producer whose name server refuses connections or never answers
// fails within the send timeout, and the process lives on.
func TestSenderUnreachableNameServer(t *testing.T) {
	silent := silentServer(t)
	tests := []struct {
		name       string
		nameServer string
	}{
		{name: "refused", nameServer: "127.0.0.1:1"},
		{name: "silent", nameServer: silent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const timeout = 2 * time.Second
			s, err := NewSender(Config{NameServer: tt.nameServer, SendTimeout: timeout}, slog.New(slog.DiscardHandler))
			require.NoError(t, err, "no broker needed to start")
			defer s.Close()
			for id := int64(1); id <= 2; id++ { // the second send finds no cached state either
				start := time.Now()
				err = s.Send(context.Background(), domain.Intent{TaskID: id, Type: "orders"})
				took := time.Since(start)
				t.Logf("send %d failed after %s: %v", id, took, err)
				require.Error(t, err)
				require.Less(t, took, timeout+time.Second)
			}
		})
	}
}

// silentServer accepts connections and never answers, like a hung peer.
func silentServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestSenderLogsOnlyLateStores(t *testing.T) {
	tests := []struct {
		name    string
		delay   time.Duration
		wantErr bool
		wantLog bool
	}{
		{name: "on time", delay: 0},
		{name: "stored after the deadline", delay: 150 * time.Millisecond, wantErr: true, wantLog: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stored := make(chan struct{})
			p := &fakeProducer{send: func(context.Context, *primitive.Message) (*primitive.SendResult, error) {
				time.Sleep(tt.delay) // a client that ignores ctx
				close(stored)
				return &primitive.SendResult{Status: primitive.SendOK}, nil
			}}
			var buf syncBuffer
			s := newSender(Config{Topic: "intents", SendTimeout: 50 * time.Millisecond}, p, slog.New(slog.NewTextHandler(&buf, nil)))
			err := s.Send(context.Background(), domain.Intent{TaskID: 9})
			require.Equal(t, tt.wantErr, err != nil, "err: %v", err)
			<-stored
			// The background send is done once it gives back its place.
			require.Eventually(t, func() bool { return len(s.inflight) == 0 }, time.Second, time.Millisecond)
			if tt.wantLog {
				require.Contains(t, buf.String(), "intent stored after its send timed out")
				require.Contains(t, buf.String(), "task_id=9")
			} else {
				require.Empty(t, buf.String())
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers and readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
