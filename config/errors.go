package config

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// File is the file name; empty when the input was not a file.
	File string
	// Line is the 1-based line; 0 when unknown.
	Line int
	// Column is the 1-based column; 0 when unknown.
	Column int
	// Path is the dotted field path, such as providers.everything.mode;
	// empty for problems with the document as a whole.
	Path string
	// Msg describes the problem.
	Msg string
}

// String renders the problem as "file:line:col: path: msg", leaving out the
// parts that are unknown.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		if p.File != "" {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(p.Line))
		if p.Column > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Column))
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error is the error returned for an invalid configuration. It holds every
// problem found, not just the first.
type Error struct {
	// Problems lists the problems in file order.
	Problems []Problem
}

// Error returns the problems one per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sortProblems orders problems by position, keeping the order of problems at
// the same position. Problems without a line come last.
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		if (a.Line == 0) != (b.Line == 0) {
			if a.Line == 0 {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
}

// problems collects problems with paths relative to a prefix.
type problems struct {
	list []Problem
}

func (ps *problems) add(path, format string, args ...any) {
	ps.list = append(ps.list, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// join builds a dotted path. An empty name is shown as "".
func join(prefix, name string) string {
	if name == "" {
		name = `""`
	}
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// index builds an indexed path.
func index(prefix string, i int) string {
	return prefix + "[" + strconv.Itoa(i) + "]"
}

func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &Error{Problems: ps.list}
}
