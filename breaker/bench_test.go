package breaker

import "testing"

func BenchmarkAllowDone(b *testing.B) {
	br := MustNew(Config{})
	b.ReportAllocs()
	for b.Loop() {
		done, err := br.Allow()
		if err != nil {
			b.Fatal(err)
		}
		done(nil)
	}
}

func BenchmarkAllowRefused(b *testing.B) {
	br := MustNew(Config{ConsecutiveFailures: 1})
	_ = br.Execute(func() error { return errBackend })
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.Allow(); err == nil {
			b.Fatal("admitted")
		}
	}
}

func BenchmarkExecuteParallel(b *testing.B) {
	br := MustNew(Config{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = br.Execute(func() error { return nil })
		}
	})
}
