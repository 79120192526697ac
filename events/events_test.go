package events

import (
	"encoding/json"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPublishOrderFilterAndJSON(t *testing.T) {
	h := NewHub()
	all := h.Subscribe(nil, 16)
	defer all.Close()
	states := h.Subscribe(func(e *Event) bool { return e.Kind == "ProviderStateChanged" }, 16)
	defer states.Close()

	h.Publish("p", ProviderStateChanged{From: "cold", To: "initializing"})
	h.Publish("p", ToolInvoked{Tool: "echo", Outcome: "ok"})
	h.Publish("p", ProviderStateChanged{From: "initializing", To: "ready"})

	for i, want := range []string{"ProviderStateChanged", "ToolInvoked", "ProviderStateChanged"} {
		e := <-all.C()
		if e.Kind != want || e.Seq != uint64(i+1) || e.ProviderID != "p" {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
	if e := <-states.C(); e.Data.(ProviderStateChanged).To != "initializing" {
		t.Fatalf("filtered: %+v", e)
	}
	e := <-states.C()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	_ = json.Unmarshal(b, &back)
	data, _ := back["data"].(map[string]any)
	if back["type"] != "ProviderStateChanged" || back["provider_id"] != "p" || data["to"] != "ready" || back["timestamp"] == nil {
		t.Fatalf("wire form: %s", b)
	}
	if h.Published() != 3 || h.Subscribers() != 2 {
		t.Fatalf("published %d subscribers %d", h.Published(), h.Subscribers())
	}
}

func TestSlowSubscriberIsDroppedNotWaitedFor(t *testing.T) {
	h := NewHub()
	slow := h.Subscribe(nil, 2)
	fast := h.Subscribe(nil, 100)
	defer fast.Close()
	for i := 0; i < 10; i++ {
		h.Publish("p", ToolInvoked{Tool: "t"}) // never blocks although slow is full
	}
	select {
	case <-slow.Done():
	default:
		t.Fatal("an overflowing subscriber must be dropped")
	}
	if !slow.Dropped() || h.Subscribers() != 1 {
		t.Fatalf("dropped=%v subscribers=%d", slow.Dropped(), h.Subscribers())
	}
	if len(fast.C()) != 10 {
		t.Fatalf("fast subscriber got %d of 10", len(fast.C()))
	}
	slow.Close() // closing twice is safe
}
