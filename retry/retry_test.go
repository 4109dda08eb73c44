package retry

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

var errBackend = errors.New("backend down")

func TestPermanent(t *testing.T) {
	assert.NoError(t, Permanent(nil))
	assert.False(t, IsPermanent(nil))
	assert.False(t, IsPermanent(errBackend))

	p := Permanent(errBackend)
	assert.True(t, IsPermanent(p))
	assert.ErrorIs(t, p, errBackend, "still wraps the cause")
	assert.Equal(t, errBackend.Error(), p.Error(), "marking does not change the message")
	assert.True(t, IsPermanent(fmt.Errorf("ctx: %w", p)))
	assert.Same(t, p, Permanent(p), "marking twice does not wrap twice")
}

func TestAfterAndDelay(t *testing.T) {
	assert.NoError(t, After(nil, time.Second))
	_, ok := Delay(errBackend)
	assert.False(t, ok)
	_, ok = Delay(nil)
	assert.False(t, ok)

	err := After(errBackend, 3*time.Second)
	d, ok := Delay(fmt.Errorf("ctx: %w", err))
	assert.True(t, ok)
	assert.Equal(t, 3*time.Second, d)
	assert.ErrorIs(t, err, errBackend)
	assert.Equal(t, errBackend.Error(), err.Error())

	d, ok = Delay(After(errBackend, -time.Second))
	assert.True(t, ok)
	assert.Zero(t, d, "a negative delay is treated as zero")

	d, _ = Delay(After(After(errBackend, time.Second), time.Minute))
	assert.Equal(t, time.Minute, d, "the outermost delay wins")

	both := Permanent(After(errBackend, time.Second))
	assert.True(t, IsPermanent(both))
	_, ok = Delay(both)
	assert.True(t, ok, "markers compose")
}
