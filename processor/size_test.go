package processor

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// sizeParseCases are inputs parseSize accepts, with their values.
var sizeParseCases = []struct {
	in   string
	want int64
}{
	// Plain bytes, and the byte unit.
	{"0", 0},
	{"1", 1},
	{"67108864", 64 << 20},
	{"9223372036854775807", math.MaxInt64},
	{"007", 7},
	{"000000000000000000000000000000000001", 1},
	{"+64", 64},
	{"584B", 584},
	{"584b", 584},
	{"584 B", 584},
	{"9223372036854775807B", math.MaxInt64},

	// Binary units, long and Kubernetes short forms.
	{"64MiB", 64 << 20},
	{"512KiB", 512 << 10},
	{"1GiB", 1 << 30},
	{"1TiB", 1 << 40},
	{"64Mi", 64 << 20},
	{"512Ki", 512 << 10},
	{"1Gi", 1 << 30},
	{"1Ti", 1 << 40},
	{"0TiB", 0},
	{"8388607TiB", 8388607 << 40},
	{"8388607Ti", 8388607 << 40},
	{"8796093022207MiB", 8796093022207 << 20},

	// Case, spacing and signs.
	{"64mib", 64 << 20},
	{"64MIB", 64 << 20},
	{"64mI", 64 << 20},
	{"1kib", 1 << 10},
	{" 64 MiB ", 64 << 20},
	{"64 MiB", 64 << 20},
	{"\t64MiB\n", 64 << 20},
	{"+64MiB", 64 << 20},
	{"+64 Mi", 64 << 20},

	// Decimal units: powers of 1000.
	{"64MB", 64e6},
	{"64mb", 64e6},
	{"64 MB", 64e6},
	{"1KB", 1e3},
	{"1kb", 1e3},
	{"1K", 1e3},
	{"1k", 1e3},
	{"1M", 1e6},
	{"1G", 1e9},
	{"1GB", 1e9},
	{"1T", 1e12},
	{"1TB", 1e12},
	{"9223372036854775KB", 9223372036854775000},
	{"9223372TB", 9223372e12},
}

// sizeErrorCases are inputs parseSize refuses, with text the error must
// contain.
var sizeErrorCases = []struct {
	in   string
	want string
}{
	// Empty.
	{"", "empty"},
	{"   ", "empty"},
	{"\t\n", "empty"},

	// Signs.
	{"-1", "negative"},
	{"-0", "negative"},
	{"-64MiB", "negative"},
	{" -1 ", "negative"},
	{"+-1", "no number"},
	{"++1", "no number"},
	{"+", "no number"},

	// No number.
	{"MiB", "no number"},
	{"B", "no number"},
	{"KiB64", "no number"},
	{".", "no number"},
	{"+ 64", "no number"},
	{"\u0661\u0662", "no number"}, // Arabic-Indic digits

	// Unknown units.
	{"64XB", `unknown unit "XB"`},
	{"64 XB", `unknown unit "XB"`},
	{"8EiB", `unknown unit "EiB"`},
	{"1PiB", `unknown unit "PiB"`},
	{"1PB", `unknown unit "PB"`},
	{"1Bi", `unknown unit "Bi"`},
	{"64MiBs", `unknown unit "MiBs"`},
	{"64 MiB B", `unknown unit "MiB B"`},
	{"64\tMiB", `unknown unit "\tMiB"`},
	{"1_000", `unknown unit "_000"`},
	{"1,5GiB", `unknown unit ",5GiB"`},
	{"64e", `unknown unit "e"`},
	{"0b101", `unknown unit "b101"`},
	{"64 MiB\x00", `unknown unit "MiB\x00"`},

	// Spacing.
	{"64  MiB", "more than one space"},

	// Other notations.
	{"1e3", "exponent notation"},
	{"1E3", "exponent notation"},
	{"1e+3", "exponent notation"},
	{"1e-3", "exponent notation"},
	{"0x10", "hexadecimal"},
	{"0X10", "hexadecimal"},

	// Fractions.
	{"1.5GiB", "fractional numbers are not accepted; write 1536MiB"},
	{"1.5 Gi", "write 1536MiB"},
	{"0.5KiB", "write 512B"},
	{"64.0MiB", "write 64MiB"},
	{"1.GiB", "write 1GiB"},
	{".5KiB", "write 512B"},
	{"1.5MB", "write 1500000B"},
	{"0.3KiB", "not a whole number of bytes"},
	{"1.5", "not a whole number of bytes"},
	{"1.5B", "not a whole number of bytes"},
	{"9999999.5TiB", "overflows int64"},

	// Overflow.
	{"9223372036854775808", "overflows int64"},
	{"99999999999999999999", "overflows int64"},
	{"9223372036854775808B", "overflows int64"},
	{"8388608TiB", "overflows int64"},
	{"8388608Ti", "overflows int64"},
	{"9999999TiB", "overflows int64"},
	{"8796093022208MiB", "overflows int64"},
	{"9223372036854776KB", "overflows int64"},
	{"9223373TB", "overflows int64"},
}

func TestParseSize(t *testing.T) {
	for _, tc := range sizeParseCases {
		got, err := parseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, nil", tc.in, got, err, tc.want)
		}
	}
}

func TestParseSizeErrors(t *testing.T) {
	for _, tc := range sizeErrorCases {
		got, err := parseSize(tc.in)
		if err == nil {
			t.Errorf("parseSize(%q) = %d, nil; want an error containing %q", tc.in, got, tc.want)
			continue
		}
		if got != 0 {
			t.Errorf("parseSize(%q) = %d with error %v; want 0 with the error", tc.in, got, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.want) {
			t.Errorf("parseSize(%q) error %q; want it to contain %q", tc.in, msg, tc.want)
		}
		if prefix := "size " + strconv.Quote(tc.in) + ": "; !strings.HasPrefix(msg, prefix) {
			t.Errorf("parseSize(%q) error %q; want it to start with %q", tc.in, msg, prefix)
		}
	}
}

// TestParseSizeUnknownUnitListsUnits checks that an unknown unit error
// tells the user what to write instead.
func TestParseSizeUnknownUnitListsUnits(t *testing.T) {
	_, err := parseSize("64XB")
	if err == nil || !strings.Contains(err.Error(), sizeUnitNames) {
		t.Fatalf("parseSize(%q) error %v; want it to list %s", "64XB", err, sizeUnitNames)
	}
}

func TestFormatSize(t *testing.T) {
	for _, tc := range []struct {
		in   int64
		want string
	}{
		{0, "0B"},
		{1, "1B"},
		{584, "584B"},
		{1023, "1023B"},
		{1024, "1KiB"},
		{1536, "1536B"},
		{3 << 9, "1536B"},
		{3 << 10, "3KiB"},
		{512 << 10, "512KiB"},
		{32 << 20, "32MiB"},
		{1536 << 20, "1536MiB"},
		{1 << 30, "1GiB"},
		{1 << 40, "1TiB"},
		{1 << 62, "4194304TiB"},
		{64e6, "62500KiB"},
		{1e9, "1000000000B"},
		{1e12, "976562500KiB"},
		{math.MaxInt64, "9223372036854775807B"},
		{math.MaxInt64 - 1<<40 + 1, "8388607TiB"},
		// Not produced for sizes, but must not panic.
		{-1024, "-1KiB"},
		{math.MinInt64, "-8388608TiB"},
	} {
		if got := formatSize(tc.in); got != tc.want {
			t.Errorf("formatSize(%d) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// TestFormatSizeRoundTrip checks, over edge values and a deterministic
// random sample, that formatSize(n) parses back to n and uses the largest
// unit that divides n.
func TestFormatSizeRoundTrip(t *testing.T) {
	var ns []int64
	for s := range 63 {
		p := int64(1) << s
		ns = append(ns, p, p-1, p+1, 3*p, math.MaxInt64-p+1, math.MaxInt64-p)
	}
	ns = append(ns, 0, math.MaxInt64, 1e3, 1e6, 1e9, 1e12, 584)
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		// Clear a random number of low bits, to exercise every unit.
		ns = append(ns, r.Int64()&^(int64(1)<<r.IntN(63)-1))
	}
	for _, n := range ns {
		if n < 0 {
			continue
		}
		text := formatSize(n)
		got, err := parseSize(text)
		if err != nil || got != n {
			t.Fatalf("parseSize(formatSize(%d) = %q) = %d, %v; want %d, nil", n, text, got, err, n)
		}
		num, unit := splitFormattedSize(t, text)
		if unit != "TiB" && num != 0 && num%1024 == 0 {
			t.Fatalf("formatSize(%d) = %q; a larger unit divides it", n, text)
		}
	}
}

// splitFormattedSize splits formatSize's output into its number and unit.
func splitFormattedSize(t *testing.T, text string) (int64, string) {
	t.Helper()
	i := strings.IndexFunc(text, func(r rune) bool { return r < '0' || r > '9' })
	if i <= 0 {
		t.Fatalf("formatSize output %q has no number or no unit", text)
	}
	num, err := strconv.ParseInt(text[:i], 10, 64)
	if err != nil {
		t.Fatalf("formatSize output %q: %v", text, err)
	}
	switch unit := text[i:]; unit {
	case "B", "KiB", "MiB", "GiB", "TiB":
		return num, unit
	default:
		t.Fatalf("formatSize output %q has unit %q", text, unit)
	}
	return 0, ""
}

func FuzzParseSize(f *testing.F) {
	for _, tc := range sizeParseCases {
		f.Add(tc.in)
	}
	for _, tc := range sizeErrorCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseSize(s)
		if err != nil {
			if v != 0 {
				t.Fatalf("parseSize(%q) = %d with error %v; want 0", s, v, err)
			}
			if !strings.HasPrefix(err.Error(), "size "+strconv.Quote(s)+": ") {
				t.Fatalf("parseSize(%q) error %q does not name the input", s, err)
			}
		} else {
			if v < 0 {
				t.Fatalf("parseSize(%q) = %d; want >= 0", s, v)
			}
			text := formatSize(v)
			if back, err := parseSize(text); err != nil || back != v {
				t.Fatalf("parseSize(formatSize(%d) = %q) = %d, %v; want %d, nil", v, text, back, err, v)
			}
		}

		// Surrounding spaces never change the outcome.
		if v2, err2 := parseSize(" " + s + " "); v2 != v || (err2 == nil) != (err == nil) {
			t.Fatalf("parseSize(%q) = %d, %v but parseSize(%q) = %d, %v", s, v, err, " "+s+" ", v2, err2)
		}

		// Every non-negative integer the variable accepted before units
		// still means the same number of bytes.
		if n, perr := strconv.ParseInt(s, 10, 64); perr == nil && n >= 0 && !strings.HasPrefix(s, "-") {
			if err != nil || v != n {
				t.Fatalf("parseSize(%q) = %d, %v; strconv.ParseInt gives %d", s, v, err, n)
			}
		}
	})
}
