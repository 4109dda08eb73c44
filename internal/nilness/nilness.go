// Package nilness tells whether a value handed to steadylog through an
// interface is nil in a way that an == nil check misses.
package nilness

import "reflect"

// Is reports whether v is nil, or an interface value holding a nil
// pointer, map, slice, channel, function or interface. Such a typed nil
// passes v == nil and then crashes at the first method call that uses its
// receiver — long after the constructor that accepted it returned, in a
// goroutine of the library's. Constructors refuse it instead.
func Is(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Chan, reflect.Func, reflect.Interface:
		return rv.IsNil()
	}
	return false
}
