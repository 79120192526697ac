package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestEverything(t *testing.T) {
	tests := []struct{ name, env, want string }{
		{"unset", "", ""},
		{"set", "/opt/everything/dist/index.js", "/opt/everything/dist/index.js"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EverythingEnv, tt.env)
			if got := Everything(); got != tt.want {
				t.Fatalf("Everything() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBuildFromEnv(t *testing.T) {
	t.Cleanup(func() { setBuilt("") })
	bin := filepath.Join(t.TempDir(), "testserver")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     string
		wantErr bool
	}{
		{"existing binary", bin, false},
		{"missing binary", filepath.Join(t.TempDir(), "nope"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(TestServerEnv, tt.env)
			path, cleanup, err := Build()
			defer cleanup()
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Build() = %q, want an error", path)
				}
				return
			}
			if err != nil || path != tt.env {
				t.Fatalf("Build() = %q, %v; want %q", path, err, tt.env)
			}
			if got := TestServer(t); got != tt.env {
				t.Fatalf("TestServer = %q, want %q", got, tt.env)
			}
		})
	}
}

func TestBuildCompiles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the test server")
	}
	t.Cleanup(func() { setBuilt("") })
	t.Setenv(TestServerEnv, "")
	path, cleanup, err := Build()
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if got := TestServer(t); got != path {
		t.Fatalf("TestServer = %q, want %q", got, path)
	}
	out, err := exec.Command(path, "-h").CombinedOutput()
	if len(out) == 0 {
		t.Fatalf("%s -h printed nothing (%v)", path, err)
	}
	cleanup()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("cleanup left %s (%v)", path, err)
	}
}
