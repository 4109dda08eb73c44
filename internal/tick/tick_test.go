package tick

import (
	"testing"
	"time"
)

func TestRealTickerTicks(t *testing.T) {
	tk := New(time.Millisecond)
	defer tk.Stop()
	<-tk.C()
}
