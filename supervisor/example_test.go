package supervisor_test

import (
	"fmt"
	"time"

	"github.com/switchyard-mcp/switchyard/supervisor"
)

func ExampleRestarter() {
	clock := supervisor.NewFakeClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	r := supervisor.NewRestarter(supervisor.RestartPolicy{
		MaxRestarts: 3,
		Jitter:      supervisor.NoJitter,
	}, clock, nil)

	for range 4 {
		d := r.Failed()
		fmt.Println(d.Action, d.Delay, d.Attempt)
	}
	fmt.Println(r.Err())
	// Output:
	// restart 0s 1
	// restart 500ms 2
	// restart 1s 3
	// give_up 0s 4
	// 3 restarts within 1m0s: giving up
}

func ExampleRestartPolicy_Backoff() {
	p := supervisor.RestartPolicy{Jitter: supervisor.NoJitter}
	for attempt := 1; attempt <= 8; attempt++ {
		fmt.Print(p.Backoff(attempt, 0), " ")
	}
	fmt.Println()
	// Output:
	// 500ms 1s 2s 4s 8s 16s 30s 30s
}
