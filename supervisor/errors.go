package supervisor

import (
	"errors"
	"fmt"
	"time"
)

// ErrGaveUp reports that a provider failed too often and will not be
// restarted again without a manual start.
var ErrGaveUp = errors.New("too many restarts")

// GaveUpError describes a give-up decision; errors.Is(err, ErrGaveUp) holds
// for it.
type GaveUpError struct {
	// Restarts is the number of restarts counted inside Window.
	Restarts int
	// Window is the sliding window the restarts were counted in.
	Window time.Duration
}

// Error returns a message such as "5 restarts within 1m0s: giving up".
func (e GaveUpError) Error() string {
	return fmt.Sprintf("%d restarts within %s: giving up", e.Restarts, e.Window)
}

// Is reports whether target is ErrGaveUp.
func (e GaveUpError) Is(target error) bool {
	return target == ErrGaveUp
}
