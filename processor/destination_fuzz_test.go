package processor

import (
	"context"
	"fmt"
	"github.com/steadylog/steadylog/memguard"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/retry"
)

// Modes of a modalExporter, cycled by the fuzz program.
const (
	modeOK = iota
	modeTransient
	modePermanent
	modeGated // Export blocks until the mode changes: a destination that falls behind
	numModes
)

// modalExporter behaves according to a mode the fuzz program changes, and
// records the sequence numbers it exported.
type modalExporter struct {
	mu   sync.Mutex
	mode int
	gate chan struct{} // open while not gated
	got  []int
}

func newModalExporter() *modalExporter {
	g := make(chan struct{})
	close(g)
	return &modalExporter{gate: g}
}

func (e *modalExporter) next() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mode == modeGated {
		close(e.gate)
	}
	e.mode = (e.mode + 1) % numModes
	if e.mode == modeGated {
		e.gate = make(chan struct{})
	}
}

func (e *modalExporter) open() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mode == modeGated {
		close(e.gate)
		e.mode = modeOK
	}
}

func (e *modalExporter) Export(ctx context.Context, recs []sdklog.Record) error {
	e.mu.Lock()
	mode, gate := e.mode, e.gate
	e.mu.Unlock()
	switch mode {
	case modeTransient:
		return errBackend
	case modePermanent:
		return retry.Permanent(errBackend)
	case modeGated:
		<-gate // ignores ctx: a hang, until the program moves on
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range recs {
		n, _ := strconv.Atoi(recs[i].Body().AsString())
		e.got = append(e.got, n)
	}
	return nil
}
func (e *modalExporter) ForceFlush(context.Context) error { return nil }
func (e *modalExporter) Shutdown(context.Context) error   { return nil }

// checkStore walks the store and checks that its counters, and every
// destination's, agree with what it holds. p.mu must not be held.
func checkStore(t *testing.T, p *Processor) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.st
	held, pinned, lostHeld, lostPinned := 0, 0, 0, 0
	var heldBytes, pinnedBytes int64
	pending := make([]int, len(p.dests))
	pendingBytes := make([]int64, len(p.dests))
	prevEnd := uint64(0)
	var prev *chunk
	for c := st.first; c != nil; c = c.next {
		require.Same(t, prev, c.prev, "chunk links")
		require.GreaterOrEqual(t, c.base, prevEnd, "chunks in sequence order")
		prevEnd = c.base + uint64(c.tail)
		done, pins := 0, 0
		for i := 0; i < c.tail; i++ {
			m := c.meta[i]
			if m.pins > 0 {
				pins++
			}
			if m.state != slotLive {
				done++
				require.Zero(t, m.pins*uint16(boolInt(m.state == slotDead)), "a dead slot is never pinned")
				continue
			}
			require.GreaterOrEqual(t, i, c.head, "a live slot before the head")
			held++
			heldBytes += m.size
			if m.pins > 0 {
				pinned++
				pinnedBytes += m.size
			}
			if m.lost != 0 {
				lostHeld++
				if m.pins > 0 {
					lostPinned++
				}
			}
			seq := c.base + uint64(i)
			for k, d := range p.dests {
				if !d.abandoned && seq >= d.next {
					pending[k]++
					pendingBytes[k] += m.size
				}
			}
		}
		require.Equal(t, done, c.done, "chunk done count")
		require.Equal(t, pins, c.pins, "chunk pin count")
		require.False(t, c.unlinked, "an unlinked chunk on the list")
		prev = c
	}
	require.Same(t, prev, st.last)
	require.Equal(t, held, st.held)
	require.Equal(t, heldBytes, st.heldBytes)
	require.Equal(t, pinned, st.pinned)
	require.Equal(t, pinnedBytes, st.pinnedBytes)
	require.Equal(t, lostHeld, st.lostHeld, "live records a destination dropped")
	require.Equal(t, lostPinned, st.lostPinned, "and of them, pinned")
	require.LessOrEqual(t, st.queued(), p.cfg.maxQueueSize)
	require.LessOrEqual(t, st.heldBytes, p.cfg.maxQueueBytes)
	for k, d := range p.dests {
		require.Equal(t, pending[k], d.pending, "destination %d pending", k)
		require.Equal(t, pendingBytes[k], d.pendingBytes, "destination %d pending bytes", k)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// FuzzDestinations runs random programs, each under DropOldest, DropNewest
// and Block, against a processor with one to three destinations that fail, fail permanently, hang and recover
// independently: emits with random severities, flushes with a short
// deadline, and mode changes. After every step it checks the accounting
// identity of the store and of each destination, and walks the store to
// check its counters against what it holds; at the end, that each
// destination exported every record at most once and in order, that its
// count agrees with its exporter's, and that the store-wide exported count
// is the number of records every destination exported.
func FuzzDestinations(f *testing.F) {
	f.Add([]byte{0x25, 0, 1, 2, 3, 4, 5, 250, 6, 7, 8, 9, 210, 10, 11, 240, 12, 13, 14, 251, 15, 16})
	f.Add([]byte{0x4a, 252, 252, 252, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 201, 253, 18, 19})
	f.Add([]byte{0x13, 250, 3, 3, 3, 3, 3, 3, 3, 3, 3, 251, 3, 3, 201, 3, 3, 252, 3, 3, 3, 202, 250})
	f.Add([]byte{0xff, 1, 2, 3, 250, 251, 252, 4, 5, 6, 250, 251, 252, 7, 8, 9, 250, 251, 252, 10, 11, 210})
	f.Add(packingProgram())
	f.Fuzz(func(t *testing.T, program []byte) {
		if len(program) == 0 {
			return
		}
		for _, policy := range []OverflowPolicy{DropOldest(), DropNewest(), Block(100 * time.Microsecond)} {
			runDestinationsProgram(t, program, policy)
		}
	})
}

func runDestinationsProgram(t *testing.T, program []byte, policy OverflowPolicy) {
	{
		cfg := program[0]
		queue := int(cfg%8) + 1
		ndest := int(cfg/8)%3 + 1
		exps := make([]*modalExporter, ndest)
		dests := make([]Destination, ndest)
		for i := range exps {
			exps[i] = newModalExporter()
			dests[i] = Destination{Exporter: exps[i]}
		}
		opts := []Option{
			WithMaxQueueSize(queue),
			WithExportMaxBatchSize(int(cfg/32)%queue + 1),
			WithExportInterval(time.Hour),
			WithExportTimeout(time.Hour),
			WithErrorHandler(func(error) {}),
			WithoutDropAlerts(),
			WithRetryBackoff(time.Microsecond, time.Microsecond),
			WithRetryMaxElapsed(time.Millisecond),
			WithOverflow(policy),
		}
		if cfg&0x80 != 0 {
			opts = append(opts, WithSeverityEviction(log.SeverityWarn))
		}
		if cfg&0x40 != 0 {
			// A byte budget of three records as they arrive: it binds
			// before the count, and the store packs (even ops emit
			// records that pack; odd ones, records that do not).
			opts = append(opts, WithMaxQueueBytes(3*memguard.RecordSize(packableRecord("0", log.SeverityInfo))))
		}
		p, err := NewWithDestinations(dests, opts...)
		require.NoError(t, err)
		emitted := 0
		for _, op := range program[1:] {
			switch {
			case op < 200:
				sev := log.Severity(op%24) + 1
				r := record(strconv.Itoa(emitted), sev)
				if op%2 == 0 {
					r = packableRecord(strconv.Itoa(emitted), sev)
				}
				require.NoError(t, p.OnEmit(context.Background(), r))
				emitted++
			case op < 250:
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Millisecond)
				_ = p.ForceFlush(ctx)
				cancel()
			default:
				exps[int(op-250)%ndest].next()
			}
			s := p.Stats()
			requireInvariant(t, s)
			checkStore(t, p)
		}
		for _, e := range exps {
			e.open()
		}
		_ = p.Shutdown(context.Background())
		packedTotal.Add(p.Stats().Packed)
		checkStore(t, p)
		s := p.Stats()
		requireInvariant(t, s)
		require.Equal(t, uint64(emitted), s.Received)
		require.Zero(t, s.Queued)
		require.Zero(t, s.InFlight)
		everywhere := map[int]int{}
		for k, e := range exps {
			d := s.Destinations[k]
			require.Equal(t, d.Exported, uint64(len(e.got)), "destination %d", k)
			require.Zero(t, d.Queued+d.InFlight)
			for i := 1; i < len(e.got); i++ {
				require.Less(t, e.got[i-1], e.got[i], "destination %d exported out of order or twice: %v", k, e.got)
			}
			for _, n := range e.got {
				everywhere[n]++
			}
		}
		all := 0
		for _, c := range everywhere {
			if c == ndest {
				all++
			}
		}
		require.Equal(t, uint64(all), s.Exported, "store-wide exported: the records every destination exported")
		require.Equal(t, fmt.Sprint(s.Received-s.Exported), fmt.Sprint(s.TotalDropped()))
	}
}

// packedTotal counts the records the programs' processors packed.
var packedTotal atomic.Uint64

// packingProgram hangs and fails the destinations in turn while records
// arrive under a byte budget (cfg 0x40): the store packs.
func packingProgram() []byte {
	prog := []byte{0x47}
	for range 6 {
		prog = append(prog, 250, 251, 252)
	}
	for i := range 60 {
		prog = append(prog, byte(i*2%200))
	}
	for range 6 {
		prog = append(prog, 250, 251, 252)
	}
	return prog
}

// TestDestinationsProgramPacks keeps FuzzDestinations honest about
// packing: one of its programs makes the store pack records, and every
// check of the program holds under every policy. Whether a record is
// packed depends on which batches the workers have pinned at that moment
// (a pinned chunk is not packed; under DropNewest and Block the hung
// destinations may pin all that fits), so the program runs until it has
// packed, at most ten times.
func TestDestinationsProgramPacks(t *testing.T) {
	before := packedTotal.Load()
	for range 10 {
		for _, policy := range []OverflowPolicy{DropOldest(), DropNewest(), Block(100 * time.Microsecond)} {
			runDestinationsProgram(t, packingProgram(), policy)
		}
		if packedTotal.Load() > before {
			return
		}
	}
	t.Fatal("nothing was packed")
}
