package nilness

import "testing"

type impl struct{}

func (*impl) M() {}

type iface interface{ M() }

func TestIs(t *testing.T) {
	var nilPtr *impl
	var nilIface iface
	var typedNil iface = nilPtr
	var nilMap map[string]int
	var nilFunc func()
	for name, c := range map[string]struct {
		v    any
		want bool
	}{
		"nil":           {nil, true},
		"nil interface": {nilIface, true},
		"typed nil":     {typedNil, true},
		"nil map":       {nilMap, true},
		"nil func":      {nilFunc, true},
		"value":         {impl{}, false},
		"pointer":       {&impl{}, false},
		"zero int":      {0, false},
		"empty slice":   {[]int{}, false},
	} {
		if got := Is(c.v); got != c.want {
			t.Errorf("%s: Is = %v, want %v", name, got, c.want)
		}
	}
}
