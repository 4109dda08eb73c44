package segmentlog_test

import (
	"fmt"
	"os"

	"github.com/steadylog/steadylog/internal/segmentlog"
)

func Example() {
	dir, err := os.MkdirTemp("", "spool")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	l, rec, err := segmentlog.Open(dir, segmentlog.Options{Consumers: []string{"primary"}})
	if err != nil {
		panic(err)
	}
	fmt.Println("recovered:", rec.Records)

	// The writer appends batches and syncs from time to time.
	first, removed, err := l.Append([]byte("batch 0"), []byte("batch 1"))
	if err != nil {
		panic(err)
	}
	fmt.Println("first:", first, "removed:", len(removed))
	if err := l.Sync(); err != nil {
		panic(err)
	}

	// A consumer reads from its acknowledged position, exports, and acks.
	from, _ := l.Acked("primary")
	c := l.NewCursor(from)
	defer c.Close()
	recs, err := c.Next(100, 1<<20)
	if err != nil {
		panic(err)
	}
	for _, r := range recs {
		fmt.Printf("%d %s\n", r.Seq, r.Payload)
	}
	if err := l.Ack("primary", recs[len(recs)-1].Seq+1); err != nil {
		panic(err)
	}
	fmt.Println("still live:", l.Stats().Records)
	if err := l.Close(); err != nil {
		panic(err)
	}
	// Output:
	// recovered: 0
	// first: 0 removed: 0
	// 0 batch 0
	// 1 batch 1
	// still live: 0
}
