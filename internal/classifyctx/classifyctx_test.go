package classifyctx

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestWithAndFrom(t *testing.T) {
	_, ok := From(context.Background())
	assert.False(t, ok)
	_, ok = From(With(context.Background(), nil))
	assert.False(t, ok, "a nil classifier is no classifier")
	c, ok := From(With(context.Background(), func(err error) error { return fmt.Errorf("x: %w", err) }))
	assert.True(t, ok)
	assert.EqualError(t, c(errors.New("e")), "x: e")
}

func TestMarkAndDone(t *testing.T) {
	e := errors.New("e")
	assert.NoError(t, Mark(nil))
	assert.False(t, Done(nil))
	assert.False(t, Done(e))
	m := Mark(e)
	assert.True(t, Done(m))
	assert.True(t, Done(fmt.Errorf("wrapped: %w", m)))
	assert.Same(t, m, Mark(m), "marking twice does not wrap twice")
	assert.ErrorIs(t, m, e)
	assert.Equal(t, "e", m.Error())
	assert.False(t, Done(errors.Join(m, errors.New("other"))), "a combination is not classified as a whole")
}
