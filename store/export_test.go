package store

import "database/sql"

// DB exposes the database to the tests.
func (s *SQLite) DB() *sql.DB { return s.db }
