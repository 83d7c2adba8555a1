//go:build linux

package sandlock

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestOpenerThreads: jobs run on another thread, a sequential caller
// reuses one thread, concurrent callers each get one (a blocked job does
// not hold up the others), and close ends every thread.
func TestOpenerThreads(t *testing.T) {
	runtime.LockOSThread() // so that our tid is ours alone
	defer runtime.UnlockOSThread()
	before := runtime.NumGoroutine()
	o, err := newOpener(-1)
	if err != nil {
		t.Fatal(err)
	}
	self := unix.Gettid()
	tids := map[int]bool{}
	for range 10 {
		var tid int
		if err := o.do(func() { tid = unix.Gettid() }); err != nil {
			t.Fatal(err)
		}
		if tid == self {
			t.Fatal("job ran on the caller's thread")
		}
		tids[tid] = true
	}
	if len(tids) != 1 {
		t.Errorf("sequential jobs ran on %d threads, want 1 (reuse)", len(tids))
	}
	// One job blocks until released; the others must still run.
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := o.do(func() { <-release }); err != nil {
			t.Error(err)
		}
	}()
	time.Sleep(10 * time.Millisecond) // let it take a thread (not a correctness condition)
	var mu sync.Mutex
	ran := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := o.do(func() { mu.Lock(); ran++; mu.Unlock() }); err != nil {
				t.Error(err)
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		r := ran
		mu.Unlock()
		if r == 8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 8 jobs ran while one was blocked", r)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	o.close()
	if err := o.do(func() {}); err == nil {
		t.Error("do after close succeeded")
	}
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after close", before, runtime.NumGoroutine())
		}
		time.Sleep(time.Millisecond)
	}
}
