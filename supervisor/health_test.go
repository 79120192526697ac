package supervisor

import "testing"

func TestHealthTracker(t *testing.T) {
	type step struct {
		op           byte // 'F' for Fail, 'O' for OK
		want         bool // return value of Fail or OK
		wantFailures int
		wantDegraded bool
	}
	tests := []struct {
		name      string
		threshold int
		steps     []step
	}{
		{"threshold 1", 1, []step{
			{'F', true, 1, true},
			{'F', false, 2, true},
			{'O', true, 0, false},
			{'O', false, 0, false},
		}},
		{"threshold 3", 3, []step{
			{'F', false, 1, false},
			{'F', false, 2, false},
			{'F', true, 3, true},
			{'F', false, 4, true},
			{'O', true, 0, false},
		}},
		{"ok interrupts the streak", 3, []step{
			{'F', false, 1, false},
			{'F', false, 2, false},
			{'O', false, 0, false},
			{'F', false, 1, false},
			{'F', false, 2, false},
			{'F', true, 3, true},
		}},
		{"degrades again after recovery", 2, []step{
			{'F', false, 1, false},
			{'F', true, 2, true},
			{'O', true, 0, false},
			{'F', false, 1, false},
			{'F', true, 2, true},
		}},
		{"zero threshold means 1", 0, []step{
			{'F', true, 1, true},
		}},
		{"negative threshold means 1", -4, []step{
			{'O', false, 0, false},
			{'F', true, 1, true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHealthTracker(tt.threshold)
			for i, s := range tt.steps {
				var got bool
				switch s.op {
				case 'F':
					got = h.Fail()
				case 'O':
					got = h.OK()
				default:
					t.Fatalf("step %d: bad op %q", i, s.op)
				}
				if got != s.want {
					t.Errorf("step %d (%c): returned %v, want %v", i, s.op, got, s.want)
				}
				if f := h.Failures(); f != s.wantFailures {
					t.Errorf("step %d (%c): Failures() = %d, want %d", i, s.op, f, s.wantFailures)
				}
				if d := h.Degraded(); d != s.wantDegraded {
					t.Errorf("step %d (%c): Degraded() = %v, want %v", i, s.op, d, s.wantDegraded)
				}
			}
		})
	}
}
