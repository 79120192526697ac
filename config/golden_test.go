package config

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the .golden files in testdata")

// TestGolden loads every testdata/*.yaml and compares the outcome with the
// .golden file beside it: the resolved configuration as indented JSON for
// valid files, the error text for invalid ones. Files named bad_*.yaml must
// be invalid, all others valid.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no testdata/*.yaml files")
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			wantErr := strings.HasPrefix(name, "bad_")
			c, err := Load(in)
			var got []byte
			switch {
			case err != nil && !wantErr:
				t.Fatalf("Load: unexpected error:\n%v", err)
			case err == nil && wantErr:
				t.Fatalf("Load: expected an error, got none")
			case err != nil:
				var cerr *Error
				if !errors.As(err, &cerr) {
					t.Fatalf("Load: error is %T, want *Error: %v", err, err)
				}
				got = []byte(err.Error() + "\n")
			default:
				got, err = json.MarshalIndent(c, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, '\n')
				checkRoundTrip(t, c)
			}

			goldenPath := strings.TrimSuffix(in, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(goldenPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(goldenPath)
			if err != nil {
				t.Fatalf("%v (run go test ./config -update to create it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("output differs from %s (run go test ./config -update to accept)\ngot:\n%s\nwant:\n%s", goldenPath, got, want)
			}
		})
	}
}

// checkRoundTrip exports c, parses the result and requires an equal config.
func checkRoundTrip(t *testing.T, c *Config) {
	t.Helper()
	out, err := Export(c)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	c2, err := Parse("exported.yaml", out)
	if err != nil {
		t.Fatalf("Parse(Export(c)): %v\n%s", err, out)
	}
	if !reflect.DeepEqual(c, c2) {
		a, _ := json.MarshalIndent(c, "", "  ")
		b, _ := json.MarshalIndent(c2, "", "  ")
		t.Fatalf("round trip changed the config\nexported:\n%s\nbefore:\n%s\nafter:\n%s", out, a, b)
	}
}
