// Command gen generates the provisioned Grafana dashboard,
// deploy/grafana/dashboards/steadylog.json, with the Grafana Foundation SDK.
// The JSON file is committed (Grafana's file provider reads it as is); this
// program is its source. After changing a panel here, regenerate it:
//
//	go generate ./deploy/grafana/gen
//
// or, from the repository root:
//
//	go run ./deploy/grafana/gen -o deploy/grafana/dashboards/steadylog.json
//
// Without -o the dashboard is written to standard output. TestCommittedDashboardIsCurrent
// fails when the committed file differs from what this program writes.
package main

// The SDK marks the classic dashboard model deprecated in favour of
// dashboardv2, the v2 schema of Grafana 12's dashboard API; the pinned
// grafana/grafana:11.3.0 provisions classic dashboard JSON from files, and
// that is what the integration tests read.
//lint:file-ignore SA1019 the classic dashboard model is the one Grafana 11.3 provisions

//go:generate go run . -o ../dashboards/steadylog.json

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

const (
	// dashboardUID is the dashboard's uid: links and the README name it.
	dashboardUID = "steadylog"
	// datasourceUID is the uid of the datasource provisioned in
	// deploy/grafana/provisioning/datasources/prometheus.yaml.
	datasourceUID = "prometheus"
	// schemaVersion is the dashboard schema version written to the file.
	// The SDK defaults to a newer one than the pinned grafana/grafana:11.3.0
	// knows; Grafana migrates an older version up when it loads the file.
	schemaVersion = 39

	panelWidth  = 12 // two panels per row of the 24-column grid
	panelHeight = 8
)

// target is one PromQL query of a panel.
type target struct {
	refID, expr, legend string
}

// panel is one time-series panel of the dashboard.
type panel struct {
	title, description string
	unit               string // Grafana unit id; "" for Grafana's default
	targets            []target
}

// histogramQuantiles returns the p50, p95 and p99 targets of a histogram
// named by its _bucket series. (The refIds are those the dashboard has had
// since p95 was added between p50 and p99.)
func histogramQuantiles(bucket string) []target {
	q := func(refID, quantile, legend string) target {
		return target{refID, fmt.Sprintf("histogram_quantile(%s, sum by (le) (rate(%s[1m])))", quantile, bucket), legend}
	}
	return []target{q("A", "0.5", "p50"), q("C", "0.95", "p95"), q("B", "0.99", "p99")}
}

// panels are the dashboard's panels, laid out left to right, two per row,
// in this order. Every expression is run against a real Prometheus by
// integration.TestDashboardQueriesReturnData and TestComposeStack.
var panels = []panel{
	{
		title:       "Log records processed / s",
		description: "Records that left the processor: exported, or dropped (any reason).",
		unit:        "rps",
		targets: []target{
			{"A", `sum by (otel_component_name) (rate(otel_sdk_processor_log_processed_total{error_type=""}[1m]))`, "exported {{otel_component_name}}"},
			{"B", `sum by (otel_component_name) (rate(otel_sdk_processor_log_processed_total{error_type!=""}[1m]))`, "dropped {{otel_component_name}}"},
		},
	},
	{
		title:       "Dropped log records / s by reason",
		description: "queue_full, byte_limit, record_too_large, already_shutdown, shutdown, export_failed, block_timeout, heap_pressure, shed (processor.DropReasons).",
		unit:        "rps",
		targets: []target{
			{"A", `sum by (error_type) (rate(otel_sdk_processor_log_processed_total{error_type!=""}[1m]))`, "{{error_type}}"},
		},
	},
	{
		title: "Queue length vs capacity",
		unit:  "short",
		targets: []target{
			{"A", `sum by (otel_component_name) (otel_sdk_processor_log_queue_size)`, "queued {{otel_component_name}}"},
			{"B", `sum by (otel_component_name) (otel_sdk_processor_log_queue_capacity)`, "capacity {{otel_component_name}}"},
		},
	},
	{
		title: "Queue bytes vs budget",
		unit:  "bytes",
		targets: []target{
			{"A", `sum by (otel_component_name) (steadylog_processor_queue_bytes)`, "queued {{otel_component_name}}"},
			{"B", `sum by (otel_component_name) (steadylog_processor_queue_bytes_capacity)`, "budget {{otel_component_name}}"},
		},
	},
	{
		title:   "Export duration",
		unit:    "s",
		targets: histogramQuantiles("steadylog_processor_export_duration_seconds_bucket"),
	},
	{
		title:   "Queue wait (observed → exported)",
		unit:    "s",
		targets: histogramQuantiles("steadylog_processor_queue_wait_seconds_bucket"),
	},
	{
		title:       "Circuit breaker state",
		description: "1 for the current state of each breaker.",
		unit:        "short",
		targets: []target{
			{"A", `max by (otel_component_name, state) (steadylog_breaker_state) == 1`, "{{otel_component_name}} {{state}}"},
		},
	},
	{
		title:       "Collector: log records accepted vs written / s",
		description: "The other end of the pipe: what the collector received and wrote.",
		unit:        "rps",
		targets: []target{
			{"A", `sum(rate(otelcol_receiver_accepted_log_records[1m]))`, "accepted by receiver"},
			{"B", `sum(rate(otelcol_receiver_refused_log_records[1m]))`, "refused by receiver"},
			{"C", `sum by (exporter) (rate(otelcol_exporter_sent_log_records[1m]))`, "sent by {{exporter}}"},
		},
	},
	{
		title: "Circuit breaker transitions",
		description: "State changes of each breaker over the last 5 minutes, by from → to. " +
			"A rising closed → open line is the backend failing; open → half-open → closed is recovery.",
		targets: []target{
			{"A", `sum by (otel_component_name, from, to) (increase(steadylog_breaker_transitions_total[5m]))`, "{{otel_component_name}} {{from}} → {{to}}"},
		},
	},
	{
		title: "Export errors / s by class",
		description: "Failed Export calls per second by error.type: breaker_open (refused without a call), " +
			"timeout, canceled, panic, permanent, transient.",
		targets: []target{
			{"A", `sum by (error_type) (rate(steadylog_processor_export_duration_seconds_count{error_type!=""}[1m]))`, "{{error_type}}"},
		},
	},
	{
		title: "Back-pressure",
		description: "1 while a processor's queue is above its high watermark (processor.WithBackpressure): " +
			"the signal a service can shed load on before records are dropped. " +
			"(steadylog.processor.backpressure has unit 1: Prometheus names it with a _ratio suffix.)",
		unit: "short",
		targets: []target{
			{"A", `max by (otel_component_name) (steadylog_processor_backpressure_ratio)`, "{{otel_component_name}}"},
		},
	},
	{
		title:       "In flight",
		description: "Records handed to an exporter and not yet finished, per destination (<processor>/<destination>).",
		unit:        "short",
		targets: []target{
			{"A", `sum by (otel_component_name) (otel_sdk_exporter_log_inflight)`, "{{otel_component_name}}"},
		},
	},
	{
		title: "Per-destination progress / s",
		description: "Each destination's own accounting (otel.sdk.exporter.log.exported, component <processor>/<destination>): " +
			"exported records per second, and dropped ones (any reason). Destinations progress independently over one store.",
		unit: "rps",
		targets: []target{
			{"A", `sum by (otel_component_name) (rate(otel_sdk_exporter_log_exported_total{error_type=""}[1m]))`, "exported {{otel_component_name}}"},
			{"B", `sum by (otel_component_name) (rate(otel_sdk_exporter_log_exported_total{error_type!=""}[1m]))`, "dropped {{otel_component_name}}"},
		},
	},
}

// row is a titled row of the dashboard, below the panels above, with its
// own panels laid out as those are.
type row struct {
	title  string
	panels []panel
}

// rows follow the panels above, in this order. Their queries are run like
// the others' by integration.TestDashboardQueriesReturnData; TestComposeStack
// leaves the Spool row's aside, since loadgen runs without a spool.
var rows = []row{
	{
		// The durable spool (processor.WithSpool): its metrics exist only
		// for a processor that has one, so a pipeline without a spool
		// leaves this row empty.
		title: "Spool",
		panels: []panel{
			{
				title:       "Spool on disk",
				description: "The size of each processor's spool files (steadylog.processor.spool.bytes).",
				unit:        "bytes",
				targets: []target{
					{"A", `sum by (otel_component_name) (steadylog_processor_spool_bytes)`, "{{otel_component_name}}"},
				},
			},
			{
				title: "Records in the spool",
				description: "Records in the spool that some destination has not finished yet " +
					"(steadylog.processor.spool.records): the backlog an outage builds, delivered when the backend is back.",
				unit: "short",
				targets: []target{
					{"A", `sum by (otel_component_name) (steadylog_processor_spool_records)`, "{{otel_component_name}}"},
				},
			},
			{
				title: "Oldest spooled record age",
				description: "How long ago the oldest record in the spool was written; 0 when it holds none. " +
					"Records older than processor.WithSpoolMaxAge are dropped (spool_age).",
				unit: "s",
				targets: []target{
					{"A", `max by (otel_component_name) (steadylog_processor_spool_oldest_age_seconds)`, "{{otel_component_name}}"},
				},
			},
			{
				title:       "Spool sync (fsync) duration",
				description: "The duration of each fsync of the spool, every processor.WithSpoolSyncInterval (1 s by default).",
				unit:        "s",
				targets:     histogramQuantiles("steadylog_processor_spool_sync_duration_seconds_bucket"),
			},
			{
				title: "Spool damaged records and disk errors / s",
				description: "Records lost to damaged spool files (found at start or when read back), " +
					"and the spool's disk failures: failed opens, writes and syncs.",
				unit: "short",
				targets: []target{
					{"A", `sum by (otel_component_name) (rate(steadylog_processor_spool_damaged_total[1m]))`, "damaged {{otel_component_name}}"},
					{"B", `sum by (otel_component_name) (rate(steadylog_processor_spool_errors_total[1m]))`, "errors {{otel_component_name}}"},
				},
			},
			{
				title: "Spool degraded",
				description: "1 while a disk failure stops the spool writing: the processor then works from memory, " +
					"as without a spool, and tries again every sync interval. " +
					"(steadylog.processor.spool.degraded has unit 1: Prometheus names it with a _ratio suffix.)",
				unit: "short",
				targets: []target{
					{"A", `max by (otel_component_name) (steadylog_processor_spool_degraded_ratio)`, "{{otel_component_name}}"},
				},
			},
		},
	},
}

func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr(datasourceUID)}
}

// timeseriesPanel returns the builder of panel p with id id. The
// dashboard's builder lays the panels out left to right, wrapping at the
// grid's 24 columns.
func timeseriesPanel(id uint32, p panel) *timeseries.PanelBuilder {
	tp := timeseries.NewPanelBuilder().
		Id(id).
		Title(p.title).
		Datasource(datasource()).
		Span(panelWidth).
		Height(panelHeight).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeList).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true)).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderNone))
	if p.description != "" {
		tp.Description(p.description)
	}
	if p.unit != "" {
		tp.Unit(p.unit)
	}
	for _, t := range p.targets {
		tp.WithTarget(prometheus.NewDataqueryBuilder().
			RefId(t.refID).
			Expr(t.expr).
			LegendFormat(t.legend).
			Datasource(datasource()))
	}
	return tp
}

// build returns the dashboard.
func build() (dashboard.Dashboard, error) {
	b := dashboard.NewDashboardBuilder("steadylog").
		Uid(dashboardUID).
		Tags([]string{"steadylog", "opentelemetry", "logs"}).
		Timezone(""). // the viewer's preference
		Editable().
		Refresh("5s").
		Time("now-15m", "now").
		Version(1)
	var id uint32
	for _, p := range panels {
		id++
		b.WithPanel(timeseriesPanel(id, p))
	}
	for _, r := range rows {
		// An expanded row, as Grafana writes one: the row holds no
		// panels, those below it (up to the next row) are its own.
		id++
		b.WithRow(dashboard.NewRowBuilder(r.title).Id(id))
		for _, p := range r.panels {
			id++
			b.WithPanel(timeseriesPanel(id, p))
		}
	}
	d, err := b.Build()
	if err != nil {
		return dashboard.Dashboard{}, err
	}
	d.SchemaVersion = schemaVersion
	return d, nil
}

// render returns the dashboard's JSON as committed: indented by two spaces,
// with a final newline.
func render() ([]byte, error) {
	d, err := build()
	if err != nil {
		return nil, fmt.Errorf("build the dashboard: %w", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("encode the dashboard: %w", err)
	}
	return buf.Bytes(), nil
}

func main() {
	out := flag.String("o", "", "write the dashboard to this file instead of standard output")
	flag.Parse()
	b, err := render()
	if err == nil {
		if *out == "" {
			_, err = os.Stdout.Write(b)
		} else {
			err = os.WriteFile(*out, b, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
