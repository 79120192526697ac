package supervisor

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestGaveUpError(t *testing.T) {
	other := errors.New("other")
	tests := []struct {
		name    string
		err     error
		target  error
		wantIs  bool
		wantMsg string
	}{
		{"value", GaveUpError{Restarts: 5, Window: time.Minute}, ErrGaveUp, true, "5 restarts within 1m0s: giving up"},
		{"pointer", &GaveUpError{Restarts: 3, Window: 10 * time.Second}, ErrGaveUp, true, "3 restarts within 10s: giving up"},
		{"wrapped", fmt.Errorf("provider fs: %w", GaveUpError{Restarts: 5, Window: time.Minute}), ErrGaveUp, true, "provider fs: 5 restarts within 1m0s: giving up"},
		{"other target", GaveUpError{Restarts: 5, Window: time.Minute}, other, false, "5 restarts within 1m0s: giving up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errors.Is(tt.err, tt.target); got != tt.wantIs {
				t.Errorf("errors.Is(%v, %v) = %v, want %v", tt.err, tt.target, got, tt.wantIs)
			}
			if got := tt.err.Error(); got != tt.wantMsg {
				t.Errorf("Error() = %q, want %q", got, tt.wantMsg)
			}
		})
	}
}

func TestGaveUpErrorAs(t *testing.T) {
	err := fmt.Errorf("wrap: %w", GaveUpError{Restarts: 2, Window: time.Second})
	var ge GaveUpError
	if !errors.As(err, &ge) {
		t.Fatalf("errors.As failed for %v", err)
	}
	if ge.Restarts != 2 || ge.Window != time.Second {
		t.Fatalf("got %+v", ge)
	}
}
