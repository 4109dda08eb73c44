package processor

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// sizeUnitNames lists the accepted units, for error messages.
const sizeUnitNames = "B, KiB, MiB, GiB, TiB, Ki, Mi, Gi, Ti, KB, MB, GB, TB, K, M, G or T"

// sizeUnitFactor returns the number of bytes in one unit u, which is
// matched without regard to case, and whether u is a unit at all. The
// empty unit is bytes.
func sizeUnitFactor(u string) (int64, bool) {
	switch strings.ToLower(u) {
	case "", "b":
		return 1, true
	case "ki", "kib":
		return 1 << 10, true
	case "mi", "mib":
		return 1 << 20, true
	case "gi", "gib":
		return 1 << 30, true
	case "ti", "tib":
		return 1 << 40, true
	case "k", "kb":
		return 1e3, true
	case "m", "mb":
		return 1e6, true
	case "g", "gb":
		return 1e9, true
	case "t", "tb":
		return 1e12, true
	}
	return 0, false
}

// parseSize parses a byte size: a non-negative integer, optionally followed by a unit.
// It reads byte sizes from environment variables (STEADYLOG_BLRP_MAX_QUEUE_BYTES).
//
// Grammar, after surrounding white space is trimmed:
//
//	size   = [ "+" ] digits [ " " ] [ unit ]
//	digits = 1*( "0"…"9" )                            ; decimal only
//	unit   = "B"
//	       | "KiB" | "MiB" | "GiB" | "TiB" | "Ki" | "Mi" | "Gi" | "Ti" ; 1024^n
//	       | "KB"  | "MB"  | "GB"  | "TB"  | "K"  | "M"  | "G"  | "T"  ; 1000^n
//
// Units are matched without regard to case. A plain number is bytes, so
// every value the variable accepted when it was a bare integer keeps its
// meaning.
//
// Decision: decimal units are accepted, as powers of 1000. That is what
// the SI prefixes mean, what Kubernetes' resource.Quantity means by k, M,
// G and T (it writes Ki, Mi, Gi, Ti for powers of 1024, and those are
// accepted here too), and what storage vendors mean; a value copied
// from a Kubernetes manifest therefore means the same number of bytes
// here. Someone who writes 64MB meaning
// 64 MiB gets a budget 4.6% smaller than intended, never a larger one,
// and the byte budget is a memory bound, so the error errs on the safe
// side. Refusing them would break exactly those copied values. Messages
// render sizes with formatSize, which uses binary units only, so the
// interpretation is visible: 64MB is shown as 62500KiB.
//
// Decision: fractions (1.5GiB) are refused. Rounding would make some
// values silently mean something other than what was written (0.3KiB is
// not a whole number of bytes), the other environment variables of the
// processor are integers, and the error names the exact replacement when
// there is one ("write 1536MiB"). Exponents (1e3), hexadecimal (0x10),
// signs other than a leading "+", digit separators, units above TiB and
// more than one space between number and unit are refused too: each error
// says what is wrong, and a value above math.MaxInt64 bytes is reported as
// overflowing int64.
func parseSize(s string) (int64, error) {
	orig := s
	fail := func(format string, args ...any) (int64, error) {
		return 0, fmt.Errorf("size %q: "+format, append([]any{orig}, args...)...)
	}

	s = strings.TrimSpace(s)
	if s == "" {
		return fail("empty; want a number of bytes, optionally followed by a unit such as MiB")
	}
	switch s[0] {
	case '-':
		return fail("negative sizes are not accepted")
	case '+':
		s = s[1:]
	}

	// The number: decimal digits, with a fraction recognised only to refuse
	// it with a useful message.
	i := 0
	for i < len(s) && isSizeDigit(s[i]) {
		i++
	}
	intPart := s[:i]
	fracPart, hasFrac := "", false
	if i < len(s) && s[i] == '.' {
		hasFrac = true
		j := i + 1
		for j < len(s) && isSizeDigit(s[j]) {
			j++
		}
		fracPart = s[i+1 : j]
		i = j
	}
	if intPart == "" && fracPart == "" {
		return fail("no number; want a number of bytes, optionally followed by a unit such as MiB")
	}

	// The unit, after at most one space.
	unit := s[i:]
	if strings.HasPrefix(unit, " ") {
		unit = unit[1:]
		if strings.HasPrefix(unit, " ") {
			return fail("more than one space between number and unit")
		}
	}
	factor, ok := sizeUnitFactor(unit)
	if !ok {
		switch {
		case !hasFrac && intPart == "0" && len(unit) > 0 && (unit[0] == 'x' || unit[0] == 'X'):
			return fail("hexadecimal numbers are not accepted; write the size in decimal")
		case isSizeExponent(unit):
			return fail("exponent notation is not accepted; write the number in full, or use a unit")
		}
		return fail("unknown unit %q; want %s", unit, sizeUnitNames)
	}

	if hasFrac {
		return fail("%s", sizeFractionAdvice(intPart, fracPart, factor))
	}

	var n int64
	for k := 0; k < len(intPart); k++ {
		d := int64(intPart[k] - '0')
		if n > (math.MaxInt64-d)/10 {
			return fail("overflows int64 (at most %d bytes)", int64(math.MaxInt64))
		}
		n = n*10 + d
	}
	if n > math.MaxInt64/factor {
		return fail("overflows int64 (at most %d bytes)", int64(math.MaxInt64))
	}
	return n * factor, nil
}

// sizeFractionAdvice explains why intPart.fracPart units of factor bytes
// each is refused, naming the whole-number spelling when there is one.
func sizeFractionAdvice(intPart, fracPart string, factor int64) string {
	fracPart = strings.TrimRight(fracPart, "0")
	num, ok := new(big.Int).SetString("0"+intPart+fracPart, 10)
	if !ok { // unreachable: both parts are ASCII digits
		return "fractional numbers are not accepted"
	}
	num.Mul(num, big.NewInt(factor))
	den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(fracPart))), nil)
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	switch {
	case r.Sign() != 0:
		return "fractional numbers are not accepted, and this one is not a whole number of bytes"
	case !q.IsInt64():
		return "fractional numbers are not accepted, and this one overflows int64 anyway"
	}
	return "fractional numbers are not accepted; write " + formatSize(q.Int64())
}

func isSizeDigit(c byte) bool { return '0' <= c && c <= '9' }

// isSizeExponent reports whether u looks like the exponent of a number in
// scientific notation: e or E, an optional sign, and digits.
func isSizeExponent(u string) bool {
	if len(u) < 2 || (u[0] != 'e' && u[0] != 'E') {
		return false
	}
	u = u[1:]
	if u[0] == '+' || u[0] == '-' {
		u = u[1:]
	}
	if u == "" {
		return false
	}
	for k := 0; k < len(u); k++ {
		if !isSizeDigit(u[k]) {
			return false
		}
	}
	return true
}

// formatSize renders n in the largest binary unit that divides it exactly
// ("32MiB", "512KiB", "1GiB", "584B"): the one byte formatter of the
// package's messages and log lines. Sizes are shown exactly, so that
// parseSize(formatSize(n)) == n for every n >= 0: a figure read in a
// message can be written back into STEADYLOG_BLRP_MAX_QUEUE_BYTES.
func formatSize(n int64) string {
	if n != 0 {
		for _, u := range [...]struct {
			shift uint
			name  string
		}{{40, "TiB"}, {30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
			if n%(1<<u.shift) == 0 {
				return strconv.FormatInt(n>>u.shift, 10) + u.name
			}
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
