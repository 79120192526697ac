package audit

import (
	"fmt"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHash(t *testing.T) {
	if Hash(nil) != "" {
		t.Fatal("hash of nothing must be empty")
	}
	// sha256("abc")
	if got := Hash([]byte("abc")); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("Hash(abc) = %s", got)
	}
}

func TestMemoryQueryScopesByTenantAndKeepsNewest(t *testing.T) {
	m := NewMemory(4)
	for i := 0; i < 6; i++ {
		tenant := "a"
		if i%2 == 1 {
			tenant = "b"
		}
		m.Record(Entry{Kind: KindToolCall, Tenant: tenant, Tool: fmt.Sprint(i)})
	}
	// The ring keeps 2..5; tenant a has 2 and 4.
	got := m.Query("a", "", 0)
	if len(got) != 2 || got[0].Tool != "2" || got[1].Tool != "4" {
		t.Fatalf("tenant a = %+v", got)
	}
	if got[0].Seq >= got[1].Seq || got[0].Time.IsZero() {
		t.Fatalf("records not stamped in order: %+v", got)
	}
	if got := m.Query("b", "", 1); len(got) != 1 || got[0].Tool != "5" {
		t.Fatalf("limit 1 of b = %+v", got)
	}
	if got := m.Query("c", "", 0); len(got) != 0 {
		t.Fatalf("unknown tenant sees %+v", got)
	}
	if got := m.Query("a", KindApproval, 0); len(got) != 0 {
		t.Fatalf("kind filter = %+v", got)
	}
}

func TestMemoryConcurrentRecords(t *testing.T) {
	m := NewMemory(100000)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				m.Record(Entry{Tenant: "t", Kind: KindToolCall})
			}
		}()
	}
	wg.Wait()
	got := m.Query("t", KindToolCall, 0)
	if len(got) != 8000 {
		t.Fatalf("%d records, want 8000", len(got))
	}
	for i, e := range got {
		if e.Seq != uint64(i+1) {
			t.Fatalf("record %d has seq %d", i, e.Seq)
		}
	}
}
