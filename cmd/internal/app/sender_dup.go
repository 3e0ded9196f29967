//go:build dupintents

package app

import (
	"context"

	"github.com/downloadcenter/dc/domain"
)

// WrapSender makes every intent go out twice. Built only with the tag
// dupintents, for the fault test that proves a task never runs twice.
func WrapSender(s domain.IntentSender) domain.IntentSender { return twice{s} }

type twice struct{ domain.IntentSender }

func (t twice) Send(ctx context.Context, in domain.Intent) error {
	if err := t.IntentSender.Send(ctx, in); err != nil {
		return err
	}
	return t.IntentSender.Send(ctx, in)
}
