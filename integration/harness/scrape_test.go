package harness

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const exposition = `# HELP otelcol_exporter_sent_log_records Number of log record successfully sent to destination.
# TYPE otelcol_exporter_sent_log_records counter
otelcol_exporter_sent_log_records{exporter="file/logs",service_name="otelcol-steadylog"} 1500
otelcol_exporter_sent_log_records{exporter="debug",service_name="otelcol-steadylog"} 7
otelcol_exporter_sent_log_records_extra{exporter="file/logs"} 99
otelcol_process_uptime 12.5
`

func TestSumSamplesFiltersByLabels(t *testing.T) {
	v, err := sumSamples(strings.NewReader(exposition), "otelcol_exporter_sent_log_records", map[string]string{"exporter": "file/logs"})
	require.NoError(t, err)
	assert.InDelta(t, 1500, v, 0)

	v, err = sumSamples(strings.NewReader(exposition), "otelcol_exporter_sent_log_records", nil)
	require.NoError(t, err)
	assert.InDelta(t, 1507, v, 0, "all series, not the longer name sharing the prefix")

	v, err = sumSamples(strings.NewReader(exposition), "otelcol_process_uptime", nil)
	require.NoError(t, err)
	assert.InDelta(t, 12.5, v, 0)
}

func TestSumSamplesAbsentMetricIsZero(t *testing.T) {
	v, err := sumSamples(strings.NewReader(exposition), "nope", nil)
	require.NoError(t, err)
	assert.Zero(t, v)
}

func TestSumSamplesBadValue(t *testing.T) {
	_, err := sumSamples(strings.NewReader("m{a=\"b\"} notanumber\n"), "m", nil)
	require.Error(t, err)
}

func TestParseLabelsEscapes(t *testing.T) {
	l := parseLabels(`a="x",b="q\"uote",c="x,y"`)
	assert.Equal(t, map[string]string{"a": "x", "b": `q"uote`, "c": "x,y"}, l)
}

func TestPrometheusConfigListsTargets(t *testing.T) {
	cfg := prometheusConfig([]ScrapeTarget{{Job: "a", Addr: "127.0.0.1:1"}, {Job: "b", Addr: "127.0.0.1:2"}})
	assert.Contains(t, cfg, "scrape_interval: 1s")
	assert.Contains(t, cfg, `job_name: "a"`)
	assert.Contains(t, cfg, `targets: ["127.0.0.1:2"]`)
}
