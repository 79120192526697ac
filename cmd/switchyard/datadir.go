package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// dataDir is the gateway's state directory, locked for the life of one
// serve so two gateways never share it (and never remove each other's
// containers as leftovers).
// storeFile is the event store's database in the data dir.
const storeFile = "switchyard.db"

type dataDir struct {
	lock  *os.File
	owner string // the gateway's persistent id, kept in the dir
}

func openDataDir(path string) (*dataDir, error) {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	lf, err := os.OpenFile(filepath.Join(path, "switchyard.lock"), os.O_RDWR|os.O_CREATE, 0o600) // #nosec G304 -- the operator's --data-dir
	if err != nil {
		return nil, fmt.Errorf("data dir lock: %w", err)
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(lf.Name())
		_ = lf.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data dir %s is in use by another switchyard (pid %s)", path, strings.TrimSpace(string(holder)))
		}
		return nil, fmt.Errorf("data dir lock: %w", err)
	}
	_ = lf.Truncate(0)
	_, _ = fmt.Fprintf(lf, "%d\n", os.Getpid())
	d := &dataDir{lock: lf}
	if d.owner, err = persistentID(filepath.Join(path, "owner-id")); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// persistentID reads an id from file, creating it on first use.
func persistentID(file string) (string, error) {
	if b, err := os.ReadFile(file); err == nil { // #nosec G304 -- a file in the operator's --data-dir
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	}
	id := randomID()
	if err := os.WriteFile(file, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("data dir: %w", err)
	}
	return id, nil
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (d *dataDir) close() {
	_ = syscall.Flock(int(d.lock.Fd()), syscall.LOCK_UN)
	_ = d.lock.Close()
}
