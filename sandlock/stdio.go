//go:build linux

package sandlock

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"
	"time"
)

// stdio is the plumbing between the caller's Stdin/Stdout/Stderr and the
// program's fds 0, 1, 2 (+ ExtraFiles), as in os/exec.
type stdio struct {
	child      []*os.File // child fd i; nil leaves it closed
	childEnds  []*os.File // files we opened for the child; closed after Create
	parentEnds []*os.File // our pipe ends; closed by the copiers or abort
	copiers    []func() error
	stdinPipe  *os.File     // our write end of the stdin pipe, if any
	feed       func() error // the stdin copier

	devNull *os.File // one O_RDWR /dev/null shared by every nil stream

	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

func (sb *Sandbox) openStdio() (s *stdio, err error) {
	s = &stdio{}
	defer func() {
		if err != nil {
			s.closeChildEnds()
			s.abort()
		}
	}()
	in, err := s.input(sb.Stdin)
	if err != nil {
		return nil, err
	}
	out, err := s.output(sb.Stdout)
	if err != nil {
		return nil, err
	}
	errf := out
	if sb.Stderr == nil || !sameWriter(sb.Stderr, sb.Stdout) {
		if errf, err = s.output(sb.Stderr); err != nil {
			return nil, err
		}
	}
	s.child = append([]*os.File{in, out, errf}, sb.ExtraFiles...)
	return s, nil
}

// sameWriter reports whether Stdout and Stderr are the same writer, in which
// case they share one pipe and their order is kept (CombinedOutput).
func sameWriter(a, b io.Writer) bool {
	defer func() { _ = recover() }() // uncomparable writer types
	return a == b
}

func (s *stdio) input(r io.Reader) (*os.File, error) {
	switch r := r.(type) {
	case nil:
		return s.null()
	case *os.File:
		return r, nil
	default:
		pr, pw, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		s.childEnds = append(s.childEnds, pr)
		s.parentEnds = append(s.parentEnds, pw)
		s.stdinPipe = pw
		s.feed = func() error {
			_, err := io.Copy(pw, r)
			if errors.Is(err, syscall.EPIPE) || errors.Is(err, fs.ErrClosed) {
				err = nil // the program exited without reading everything
			}
			pw.Close()
			return err
		}
		return pr, nil
	}
}

func (s *stdio) output(w io.Writer) (*os.File, error) {
	switch w := w.(type) {
	case nil:
		return s.null()
	case *os.File:
		return w, nil
	default:
		pr, pw, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		s.childEnds = append(s.childEnds, pw)
		s.parentEnds = append(s.parentEnds, pr)
		s.copiers = append(s.copiers, func() error {
			_, err := io.Copy(w, pr)
			pr.Close()
			if errors.Is(err, fs.ErrClosed) {
				err = nil // aborted by Close or WaitDelay
			}
			return err
		})
		return pw, nil
	}
}

// null returns the shared /dev/null, opening it on first use.
func (s *stdio) null() (*os.File, error) {
	if s.devNull == nil {
		f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			return nil, err
		}
		s.devNull = f
		s.childEnds = append(s.childEnds, f)
	}
	return s.devNull, nil
}

// childFds lists the parent's fd for each child fd (-1 = closed). The files
// stay referenced by s until closeChildEnds, so the fds stay open.
func (s *stdio) childFds() []int {
	fds := make([]int, len(s.child))
	for i, f := range s.child {
		fds[i] = -1
		if f != nil {
			fds[i] = int(f.Fd())
		}
	}
	return fds
}

// closeChildEnds closes our copies of the child's ends once the child has
// its own (or failed), so that EOF reaches the copiers when it exits.
func (s *stdio) closeChildEnds() {
	for _, f := range s.childEnds {
		f.Close()
	}
	s.childEnds = nil
}

func (s *stdio) startCopiers() {
	// The stdin copier is not waited for: once the program has exited there
	// is nothing left to feed, and the caller's reader may never end (as
	// with os/exec, the goroutine ends when that reader returns).
	if s.feed != nil {
		go s.feed()
	}
	for _, fn := range s.copiers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := fn(); err != nil {
				s.mu.Lock()
				s.errs = append(s.errs, err)
				s.mu.Unlock()
			}
		}()
	}
	s.copiers = nil
}

// wait waits for the copiers; with delay > 0 it closes our pipe ends after
// delay so that a descendant holding the child's end open cannot hang Wait.
func (s *stdio) wait(delay time.Duration) error {
	if s.stdinPipe != nil {
		s.stdinPipe.Close()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	if delay > 0 {
		select {
		case <-done:
		case <-time.After(delay):
			s.abort()
			<-done
		}
	} else {
		<-done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) > 0 {
		return s.errs[0]
	}
	return nil
}

// abort closes our pipe ends: copiers blocked on them return.
func (s *stdio) abort() {
	for _, f := range s.parentEnds {
		f.Close()
	}
}
