package setting_test

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/steadylog/steadylog/internal/setting"
)

var errInvalid = errors.New("pkg: invalid option")

func TestResolveOrder(t *testing.T) {
	env := map[string]string{"N": "7", "BAD": "x", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	var warned []error
	warn := func(err error) { warned = append(warned, err) }
	parse := strconv.Atoi

	if got := setting.Of(3).Resolve(1, setting.Env(lookup, "N", parse, warn)); got != 3 {
		t.Errorf("option: got %d, want 3", got)
	}
	var unset setting.Value[int]
	if got := unset.Resolve(1, setting.Env(lookup, "N", parse, warn)); got != 7 {
		t.Errorf("environment: got %d, want 7", got)
	}
	for _, key := range []string{"MISSING", "EMPTY", "BAD"} {
		if got := unset.Resolve(1, setting.Env(lookup, key, parse, warn)); got != 1 {
			t.Errorf("%s: got %d, want the default 1", key, got)
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0].Error(), `BAD="x"`) {
		t.Errorf("warnings = %v, want one naming BAD", warned)
	}
	if v, ok := unset.Get(); ok || v != 0 || unset.IsSet() {
		t.Errorf("unset Value: %d, %v", v, ok)
	}
}

func TestChecks(t *testing.T) {
	e := setting.NewErrors(errInvalid)
	ok := []bool{
		setting.Positive(e, "WithA", 1),
		setting.Positive(e, "WithB", time.Duration(0)),
		setting.NonNegative(e, "WithC", int64(-1)),
		setting.NonNegative(e, "WithD", 0),
		setting.Between(e, "WithE", 0.5, 0, 1),
		setting.Between(e, "WithF", math.NaN(), 0, 1),
		setting.NotNil(e, "WithG", (*int)(nil)),
		setting.NotNil(e, "WithH", func() {}),
	}
	want := []bool{true, false, false, true, true, false, false, true}
	for i := range want {
		if ok[i] != want[i] {
			t.Errorf("check %d = %v, want %v", i, ok[i], want[i])
		}
	}
	err := e.Err()
	if !errors.Is(err, errInvalid) {
		t.Fatalf("err = %v, want it to wrap the sentinel", err)
	}
	for _, name := range []string{"WithB(0s)", "WithC(-1)", "WithF(NaN)", "WithG(nil)"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("%q does not name %s", err, name)
		}
	}
	if (&setting.Errors{}).Err() != nil {
		t.Error("no rejections, yet an error")
	}
}

type option interface{ apply(*int) }
type optionFunc func(*int)

func (f optionFunc) apply(n *int) { f(n) }

func TestApplyRejectsNilOptions(t *testing.T) {
	e := setting.NewErrors(errInvalid)
	n := 0
	inc := optionFunc(func(n *int) { *n++ })
	setting.Apply(e, []option{inc, nil, inc}, func(o option) { o.apply(&n) })
	if n != 2 {
		t.Errorf("applied %d options, want 2", n)
	}
	if err := e.Err(); !errors.Is(err, errInvalid) || !strings.Contains(err.Error(), "option 1 is nil") {
		t.Errorf("err = %v", err)
	}
}
