package rocketmq

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/downloadcenter/dc/domain"
)

// intentBody is the message body: the task id and, for readers of the
// topic, the export type (also the message's tag).
type intentBody struct {
	TaskID int64  `json:"task_id"`
	Type   string `json:"type,omitempty"`
	// RequestID is the client request's id, for the worker's logs.
	RequestID string `json:"request_id,omitempty"`
}

// newMessage builds the message of an intent. The key is the task id, so
// the broker's message index finds a task's intents (mqadmin
// queryMsgByKey); the tag is the export type.
func newMessage(topic string, in domain.Intent) *primitive.Message {
	body, _ := json.Marshal(intentBody{TaskID: in.TaskID, Type: in.Type, RequestID: in.RequestID}) // cannot fail
	msg := primitive.NewMessage(topic, body)
	msg.WithKeys([]string{strconv.FormatInt(in.TaskID, 10)})
	if in.Type != "" {
		msg.WithTag(in.Type)
	}
	return msg
}

// decodeIntent reads an intent from a message body. Besides the JSON body
// it accepts a bare task id, so an operator can send an intent by hand
// (mqadmin sendMessage -p 42). tag fills in a type the body lacks.
func decodeIntent(body []byte, tag string) (domain.Intent, error) {
	body = bytes.TrimSpace(body)
	var b intentBody
	if len(body) > 0 && body[0] == '{' {
		if err := json.Unmarshal(body, &b); err != nil {
			return domain.Intent{}, fmt.Errorf("decode intent: %w", err)
		}
	} else {
		id, err := strconv.ParseInt(string(body), 10, 64)
		if err != nil {
			return domain.Intent{}, fmt.Errorf("decode intent: body is neither JSON nor a task id: %w", err)
		}
		b.TaskID = id
	}
	if b.TaskID <= 0 {
		return domain.Intent{}, errors.New("decode intent: task id must be positive")
	}
	if b.Type == "" {
		b.Type = tag
	}
	return domain.Intent{TaskID: b.TaskID, Type: b.Type, RequestID: b.RequestID}, nil
}
