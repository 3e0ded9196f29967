package domain

// Transition is one legal move of the status machine. Stores apply it as a
// single conditional update (UPDATE … WHERE id=? AND status IN From), so
// the table below is the only place the machine is defined.
type Transition struct {
	Name string
	From []Status
	To   Status
}

// The legal transitions. Anything else is refused.
var (
	// Claim: a worker takes a waiting task (optimistic: one winner).
	Claim = Transition{"claim", []Status{StatusNotExecuted}, StatusExecuting}
	// Succeed: the owning worker finished the file.
	Succeed = Transition{"succeed", []Status{StatusExecuting}, StatusSuccess}
	// Fail: the owning worker gave up on this attempt.
	Fail = Transition{"fail", []Status{StatusExecuting}, StatusFailed}
	// CancelWaiting: a user cancels a task no worker holds: one waiting
	// in the queue, or a FAILED one waiting for its automatic retry.
	CancelWaiting = Transition{"cancel", []Status{StatusNotExecuted, StatusFailed}, StatusCancelled}
	// CancelRunning: the owning worker stops at a user's request.
	CancelRunning = Transition{"cancel_running", []Status{StatusExecuting}, StatusCancelled}
	// Retry: a user, or the retry policy, sends a failed or cancelled task
	// back to the queue.
	Retry = Transition{"retry", []Status{StatusFailed, StatusCancelled}, StatusNotExecuted}
	// Remake: a user asks again for a SUCCESS task whose file expired or
	// vanished; the task runs again.
	Remake = Transition{"remake", []Status{StatusSuccess}, StatusNotExecuted}
	// Release: the owning worker hands an unfinished task back (shutdown),
	// or the scheduler rescues it from a worker whose lease lapsed.
	Release = Transition{"release", []Status{StatusExecuting}, StatusNotExecuted}
)

// Transitions lists every legal transition.
var Transitions = []Transition{Claim, Succeed, Fail, CancelWaiting, CancelRunning, Retry, Remake, Release}

// Allows reports whether the transition may start from status s.
func (t Transition) Allows(s Status) bool {
	for _, f := range t.From {
		if f == s {
			return true
		}
	}
	return false
}

// CanMove reports whether some legal transition leads from one status to
// another.
func CanMove(from, to Status) bool {
	for _, t := range Transitions {
		if t.To == to && t.Allows(from) {
			return true
		}
	}
	return false
}
