package web

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"

	"github.com/switchyard-mcp/switchyard/actors"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// get is a request context for GET uri.
func get(uri string) *fasthttp.RequestCtx {
	ctx := new(fasthttp.RequestCtx)
	ctx.Request.SetRequestURI(uri)
	return ctx
}

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("id-%03d", i)
	}
	return out
}

func self(s string) string { return s }

// pages follows the cursors of a list with limit and returns the pages.
func pages(t *testing.T, items []string, limit int) [][]string {
	t.Helper()
	var out [][]string
	cursor := ""
	for range len(items) + 2 {
		page, next, err := Page(get(fmt.Sprintf("/x?limit=%d&cursor=%s", limit, url.QueryEscape(cursor))), items, self)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page)
		if next == "" {
			return out
		}
		cursor = next
	}
	t.Fatal("no last page")
	return nil
}

func TestPage(t *testing.T) {
	all := ids(250)
	got := pages(t, all, 100)
	if len(got) != 3 || len(got[0]) != 100 || len(got[1]) != 100 || len(got[2]) != 50 || got[1][0] != "id-100" || got[2][49] != "id-249" {
		t.Fatalf("pages of %d, %d, %d", len(got[0]), len(got[1]), len(got[2]))
	}
	// Without a limit the page holds DefaultPageLimit; an empty list is an
	// empty page, not nil.
	if page, next, err := Page(get("/x"), all, self); err != nil || len(page) != DefaultPageLimit || next == "" {
		t.Fatalf("default page: %d %q %v", len(page), next, err)
	}
	if page, next, err := Page(get("/x"), []string(nil), self); err != nil || page == nil || len(page) != 0 || next != "" {
		t.Fatalf("empty list: %v %q %v", page, next, err)
	}
	// An exact multiple ends without a cursor to an empty page.
	if got := pages(t, ids(200), 100); len(got) != 2 {
		t.Fatalf("%d pages of 200 by 100", len(got))
	}
	if got := pages(t, ids(5), MaxPageLimit); len(got) != 1 || len(got[0]) != 5 {
		t.Fatalf("the largest limit: %v", got)
	}
}

func TestPageAfterChanges(t *testing.T) {
	all := ids(10)
	_, next, err := Page(get("/x?limit=4"), all, self)
	if err != nil {
		t.Fatal(err)
	}
	cur := "/x?limit=4&cursor=" + next
	for _, c := range []struct {
		name  string
		items []string
		first string
	}{
		{"unchanged", all, "id-004"},
		{"an item added before", append([]string{"new"}, all...), "id-004"},
		{"an item removed before", append(append([]string{}, all[:1]...), all[2:]...), "id-004"},
		{"the last served removed", append(append([]string{}, all[:3]...), all[4:]...), "id-004"},
		{"all after it removed", all[:4], ""},
	} {
		page, _, err := Page(get(cur), c.items, self)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if first := ""; len(page) > 0 {
			first = page[0]
			if first != c.first {
				t.Errorf("%s: page starts at %q, want %q", c.name, first, c.first)
			}
		} else if c.first != "" {
			t.Errorf("%s: empty page, want one starting at %q", c.name, c.first)
		}
	}
}

func TestPageRefusesBadQueries(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, q := range []string{
		"limit=0", "limit=1001", "limit=-5", "limit=", "limit=abc", "limit=2.5", "limit=99999999999999999999",
		"cursor=***", "cursor=" + enc("12"), "cursor=" + enc("x:id-001"), "cursor=" + enc("0:id-001"),
		"cursor=" + enc("-1:id-001"), "cursor=" + enc("+4:id-003"), "cursor=" + enc("04:id-003"),
		"cursor=" + enc(string(make([]byte, 2000))),
	} {
		_, _, err := Page(get("/x?"+q), ids(10), self)
		if !errors.Is(err, actors.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", q, err)
			continue
		}
		if status, kind := Classify(err); status != http.StatusBadRequest || kind != "ValidationError" {
			t.Errorf("%s: classified %d %s", q, status, kind)
		}
	}
}
