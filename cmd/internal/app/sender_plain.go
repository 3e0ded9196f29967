//go:build !dupintents

package app

import "github.com/downloadcenter/dc/domain"

// WrapSender returns s: only test builds (tag dupintents) change it.
func WrapSender(s domain.IntentSender) domain.IntentSender { return s }
