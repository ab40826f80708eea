//go:build linux

package pollrt_test

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/pollnet/pollnet/pollrt"
	"golang.org/x/sys/unix"
)

// A reader with a deadline on a pipe: the first read finds nothing before
// its deadline, the second is woken by a write.
func ExamplePollDesc_pipe() {
	r, w, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	defer r.Close()
	defer w.Close()

	// Fd hands the descriptor over in blocking mode; pollrt needs it
	// non-blocking. r keeps owning it and closes it after pd.Close.
	fd := int(r.Fd())
	if err := unix.SetNonblock(fd, true); err != nil {
		panic(err)
	}
	pd, err := pollrt.Open(fd)
	if err != nil {
		panic(err)
	}
	defer pd.Close()

	// read is the loop: Prepare, then read until the pipe has data,
	// waiting whenever it says EAGAIN.
	read := func() (string, error) {
		if err := pd.Prepare(pollrt.Read); err != nil {
			return "", err
		}
		buf := make([]byte, 64)
		for {
			n, err := unix.Read(fd, buf)
			if err != unix.EAGAIN {
				return string(buf[:max(n, 0)]), err
			}
			if err := pd.Wait(pollrt.Read); err != nil {
				return "", err
			}
		}
	}

	pd.SetDeadline(time.Now().Add(20*time.Millisecond), pollrt.Read)
	_, err = read()
	fmt.Println("nothing written:", errors.Is(err, pollrt.ErrTimeout))

	pd.SetDeadline(time.Time{}, pollrt.Read) // no deadline
	go w.Write([]byte("hello"))
	s, err := read()
	fmt.Println("written:", s, err)
	// Output:
	// nothing written: true
	// written: hello <nil>
}
