package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// The must* helpers end the calling test (t.Fatalf) when their condition does
// not hold. They keep the kit free of assertion libraries, so that any module
// can import it with nothing but the standard library and golang.org/x/net.
// msgAndArgs, when given, is a format string and its arguments describing what
// was checked.

// describe formats msgAndArgs as a prefix for a failure message.
func describe(msgAndArgs []any) string {
	if len(msgAndArgs) == 0 {
		return ""
	}
	if format, ok := msgAndArgs[0].(string); ok {
		return fmt.Sprintf(format, msgAndArgs[1:]...) + ": "
	}
	return fmt.Sprint(msgAndArgs...) + ": "
}

func mustTrue(t testing.TB, cond bool, msgAndArgs ...any) {
	t.Helper()
	if !cond {
		t.Fatalf("%s", strings.TrimSuffix(describe(msgAndArgs), ": ")+" (want true)")
	}
}

func mustFalse(t testing.TB, cond bool, msgAndArgs ...any) {
	t.Helper()
	if cond {
		t.Fatalf("%s", strings.TrimSuffix(describe(msgAndArgs), ": ")+" (want false)")
	}
}

func mustNoError(t testing.TB, err error, msgAndArgs ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%sunexpected error: %v (%T)", describe(msgAndArgs), err, err)
	}
}

func mustError(t testing.TB, err error, msgAndArgs ...any) {
	t.Helper()
	if err == nil {
		t.Fatalf("%swant an error, got nil", describe(msgAndArgs))
	}
}

func mustEqualError(t testing.TB, err error, want string, msgAndArgs ...any) {
	t.Helper()
	if err == nil || err.Error() != want {
		t.Fatalf("%swant error %q, got %v", describe(msgAndArgs), want, err)
	}
}

func mustErrorIs(t testing.TB, err, target error, msgAndArgs ...any) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%swant an error that Is %v, got %v (%#v)", describe(msgAndArgs), target, err, err)
	}
}

func mustNotErrorIs(t testing.TB, err, target error, msgAndArgs ...any) {
	t.Helper()
	if errors.Is(err, target) {
		t.Fatalf("%swant an error that is not %v, got %v (%#v)", describe(msgAndArgs), target, err, err)
	}
}

// mustErrorAs checks errors.As(err, target); target is a pointer, as for errors.As.
func mustErrorAs(t testing.TB, err error, target any, msgAndArgs ...any) {
	t.Helper()
	if !errors.As(err, target) {
		t.Fatalf("%swant an error in whose chain is a %v, got %v (%#v)",
			describe(msgAndArgs), reflect.TypeOf(target).Elem(), err, err)
	}
}

// equal is reflect.DeepEqual, with byte slices compared by content (so that
// nil and empty are equal).
func equal(want, got any) bool {
	if w, ok := want.([]byte); ok {
		if g, ok := got.([]byte); ok {
			return bytes.Equal(w, g)
		}
	}
	return reflect.DeepEqual(want, got)
}

func mustEqual(t testing.TB, want, got any, msgAndArgs ...any) {
	t.Helper()
	if !equal(want, got) {
		t.Fatalf("%snot equal\n got: %#v\nwant: %#v", describe(msgAndArgs), got, want)
	}
}

func mustNotEqual(t testing.TB, notWant, got any, msgAndArgs ...any) {
	t.Helper()
	if equal(notWant, got) {
		t.Fatalf("%sshould not be %#v", describe(msgAndArgs), got)
	}
}

// isNil reports whether v is nil or an interface holding a nil pointer, map,
// slice, channel or func (an Addr() returning a nil *net.TCPAddr, say).
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Chan, reflect.Func, reflect.Interface, reflect.Map, reflect.Pointer, reflect.Slice:
		return rv.IsNil()
	}
	return false
}

func mustNil(t testing.TB, v any, msgAndArgs ...any) {
	t.Helper()
	if !isNil(v) {
		t.Fatalf("%swant nil, got %#v", describe(msgAndArgs), v)
	}
}

func mustNotNil(t testing.TB, v any, msgAndArgs ...any) {
	t.Helper()
	if isNil(v) {
		t.Fatalf("%swant non-nil, got %#v", describe(msgAndArgs), v)
	}
}

// isZero reports whether v is nil or its type's zero value.
func isZero(v any) bool { return v == nil || reflect.ValueOf(v).IsZero() }

func mustZero(t testing.TB, v any, msgAndArgs ...any) {
	t.Helper()
	if !isZero(v) {
		t.Fatalf("%swant the zero value, got %#v", describe(msgAndArgs), v)
	}
}

func mustNotZero(t testing.TB, v any, msgAndArgs ...any) {
	t.Helper()
	if isZero(v) {
		t.Fatalf("%swant a non-zero value, got %#v", describe(msgAndArgs), v)
	}
}
