package lifecycle

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// DefaultGracefulShare is the share of the remaining time that [Graceful]
// spends draining (ForceFlush) before it calls Shutdown with the rest.
//
// 0.8 leaves a fifth of the time for Shutdown itself: enough for a processor to
// count what is still queued and for a MeterProvider to export its final
// collection, which carries those counts.
const DefaultGracefulShare = 0.8

type kind uint8

const (
	kindInvalid kind = iota // the zero Strategy is invalid on purpose: a forgotten strategy is a bug
	kindImmediate
	kindFlush
	kindGraceful
)

// Strategy names how [Shutdown] spends the time it is given. It is a small
// comparable value: use the predefined [Immediate], [Flush] and [Graceful], or
// [GracefulWithin] for another drain share.
//
// The zero Strategy is not valid; [Shutdown] rejects it with
// [ErrInvalidStrategy] rather than guessing what was meant.
type Strategy struct {
	kind  kind
	share float64 // Graceful only: share of the remaining time spent draining
}

var (
	// Immediate stops at once: every component's Shutdown is called with a
	// context that has already ended, so nothing more is exported and a
	// processor that counts (such as steadylog's) counts what was still queued
	// as dropped. Shutdown returns within [AbandonMargin] plus scheduling.
	Immediate = Strategy{kind: kindImmediate}

	// Flush calls ForceFlush on every component, in order, then Shutdown on
	// every component, in order. It is bounded only by the context: without a
	// deadline it waits as long as the components take.
	Flush = Strategy{kind: kindFlush}

	// Graceful drains within a budget, then stops: ForceFlush on every
	// component with a deadline of [DefaultGracefulShare] of the context's
	// remaining time, then Shutdown on every component with whatever is left.
	// Whatever did not make it is counted by the components that count, never
	// silently lost by the strategy. Without a deadline on the context there
	// is no budget to share, and Graceful behaves like Flush.
	Graceful = Strategy{kind: kindGraceful, share: DefaultGracefulShare}
)

// GracefulWithin is [Graceful] with another share of the remaining time spent
// draining. share must be in (0, 1]; anything else (0, a negative share, NaN,
// ±Inf) yields a Strategy that [Shutdown] and [WithStrategy] reject with
// [ErrInvalidStrategy]. A tiny share skips the drain; GracefulWithin(1) drains
// until the deadline, which then ends the drain as it would with [Flush] (no
// BudgetExpired, and Shutdown gets only the ended context).
func GracefulWithin(share float64) Strategy {
	return Strategy{kind: kindGraceful, share: share}
}

// Share reports the share of the remaining time a Graceful strategy spends
// draining; it is 0 for the other strategies.
func (s Strategy) Share() float64 {
	if s.kind != kindGraceful {
		return 0
	}
	return s.share
}

// validate reports why s cannot be used, if it cannot.
func (s Strategy) validate() error {
	switch s.kind {
	case kindImmediate, kindFlush:
		return nil
	case kindGraceful:
		if math.IsNaN(s.share) || s.share <= 0 || s.share > 1 {
			return fmt.Errorf("%w: graceful share %v is not in (0, 1]", ErrInvalidStrategy, s.share)
		}
		return nil
	default:
		return fmt.Errorf("%w: the zero Strategy (use Immediate, Flush or Graceful)", ErrInvalidStrategy)
	}
}

// String returns "immediate", "flush", "graceful" (default share) or
// "graceful(0.5)"; [ParseStrategy] reads the same forms back.
func (s Strategy) String() string {
	switch s.kind {
	case kindImmediate:
		return "immediate"
	case kindFlush:
		return "flush"
	case kindGraceful:
		if s.share == DefaultGracefulShare {
			return "graceful"
		}
		return "graceful(" + strconv.FormatFloat(s.share, 'g', -1, 64) + ")"
	default:
		return "invalid"
	}
}

// ParseStrategy reads the forms [Strategy.String] writes: "immediate",
// "flush", "graceful" and "graceful(SHARE)". Case and surrounding space are
// ignored. It returns an error wrapping [ErrInvalidStrategy] for anything else,
// including a share outside (0, 1].
func ParseStrategy(text string) (Strategy, error) {
	t := strings.ToLower(strings.TrimSpace(text))
	switch t {
	case "immediate":
		return Immediate, nil
	case "flush":
		return Flush, nil
	case "graceful":
		return Graceful, nil
	}
	if inner, ok := strings.CutPrefix(t, "graceful("); ok {
		if num, ok := strings.CutSuffix(inner, ")"); ok {
			share, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			if err != nil {
				return Strategy{}, fmt.Errorf("%w: %q: %v", ErrInvalidStrategy, text, err)
			}
			s := GracefulWithin(share)
			if err := s.validate(); err != nil {
				return Strategy{}, err
			}
			return s, nil
		}
	}
	return Strategy{}, fmt.Errorf("%w: %q (want immediate, flush, graceful or graceful(SHARE))", ErrInvalidStrategy, text)
}

// MarshalText implements [encoding.TextMarshaler], so a Strategy can be a flag
// ([flag.TextVar]) or a configuration field.
func (s Strategy) MarshalText() ([]byte, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements [encoding.TextUnmarshaler] with [ParseStrategy].
func (s *Strategy) UnmarshalText(text []byte) error {
	v, err := ParseStrategy(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
