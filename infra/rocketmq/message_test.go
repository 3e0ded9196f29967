package rocketmq

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
)

func TestNewMessage(t *testing.T) {
	tests := []struct {
		name     string
		in       domain.Intent
		wantBody string
		wantTag  string
	}{
		{name: "with type", in: domain.Intent{TaskID: 42, Type: "orders"}, wantBody: `{"task_id":42,"type":"orders"}`, wantTag: "orders"},
		{name: "without type", in: domain.Intent{TaskID: 9007199254740993}, wantBody: `{"task_id":9007199254740993}`},
		{name: "with request id", in: domain.Intent{TaskID: 7, Type: "demo", RequestID: "orders-nov-1"}, wantBody: `{"task_id":7,"type":"demo","request_id":"orders-nov-1"}`, wantTag: "demo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := newMessage("dc-task-intents", tt.in)
			require.Equal(t, "dc-task-intents", msg.Topic)
			require.JSONEq(t, tt.wantBody, string(msg.Body))
			require.Equal(t, tt.wantTag, msg.GetTags())
			require.Equal(t, strconv.FormatInt(tt.in.TaskID, 10), msg.GetKeys())

			got, err := decodeIntent(msg.Body, msg.GetTags())
			require.NoError(t, err)
			require.Equal(t, tt.in, got, "round trip")
		})
	}
}

func TestDecodeIntent(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		tag     string
		want    domain.Intent
		wantErr string
	}{
		{name: "json", body: `{"task_id":7,"type":"orders"}`, want: domain.Intent{TaskID: 7, Type: "orders"}},
		{name: "type from tag", body: `{"task_id":7}`, tag: "users", want: domain.Intent{TaskID: 7, Type: "users"}},
		{name: "body type wins over tag", body: `{"task_id":7,"type":"orders"}`, tag: "users", want: domain.Intent{TaskID: 7, Type: "orders"}},
		{name: "unknown fields ignored", body: `{"task_id":7,"v":2}`, want: domain.Intent{TaskID: 7}},
		{name: "bare id", body: "42", want: domain.Intent{TaskID: 42}},
		{name: "bare id with spaces", body: " 42\n", tag: "orders", want: domain.Intent{TaskID: 42, Type: "orders"}},
		{name: "empty", body: "", wantErr: "neither JSON nor a task id"},
		{name: "text", body: "hello", wantErr: "neither JSON nor a task id"},
		{name: "broken json", body: `{"task_id":`, wantErr: "decode intent"},
		{name: "id as string", body: `{"task_id":"7"}`, wantErr: "decode intent"},
		{name: "no id", body: `{"type":"orders"}`, wantErr: "must be positive"},
		{name: "zero id", body: "0", wantErr: "must be positive"},
		{name: "negative id", body: `{"task_id":-3}`, wantErr: "must be positive"},
		{name: "fractional id", body: `{"task_id":1.5}`, wantErr: "decode intent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeIntent([]byte(tt.body), tt.tag)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}
