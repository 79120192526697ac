package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzLoad checks that Parse never panics, that every error is an *Error
// with at least one problem, and that a parsed configuration survives Export
// and Parse unchanged. The seed corpus is every testdata/*.yaml file plus the
// inputs below, so plain go test replays them.
func FuzzLoad(f *testing.F) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"~",
		"{}",
		"[]",
		"providers:",
		"providers: {a: }",
		"providers: {a: {mode: remote, endpoint: 'http://h'}}",
		"providers: {a: {mode: subprocess, command: [\"x\\ny\", ' lead', 'trail ', '#', '- x', '*a', '&b']}}",
		"providers: {a: {mode: subprocess, command: [x], description: \"line1\\n  line2\\n\"}}",
		"providers: {a: {mode: subprocess, command: [x], env: {A: 'multi\\nline', B: ''}}}",
		"providers: {a: {mode: docker, image: i, cpus: 0.25, read_only: false, volumes: []}}",
		"providers: {'1': {mode: subprocess, command: ['0x1F', 1e3, true, null]}}",
		"providers: &a {x: *a}",
		"a: &a [*a]",
		"providers:\n  a:\n    <<: {mode: remote}\n",
		"drain_timeout_s: 1e-3\nlimits: {call_timeout_s: 31536000}",
		"groups: {g: {members: [{id: a}]}}",
		"a: 1\n---\nb: 2",
		"\t",
		"%YAML 1.1\n---\nlisten: ':0'",
		"!!map {listen: !!str '[::1]:80'}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			var cerr *Error
			if !errors.As(err, &cerr) || len(cerr.Problems) == 0 {
				t.Fatalf("Parse error is not a non-empty *Error: %#v", err)
			}
			return
		}
		out, err := Export(c)
		if err != nil {
			t.Fatalf("Export: %v", err)
		}
		c2, err := Parse("exported.yaml", out)
		if err != nil {
			t.Fatalf("Parse(Export(c)): %v\nexported:\n%s", err, out)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed the config\nexported:\n%s", out)
		}
	})
}
