//! The Lens charts: error/warning timeline, logs by agent and level, top services by errors,
//! request latency percentiles.

use serde_json::{Value, json};

use super::*;

impl Render<'_> {
    fn chart_defs(&self) -> Vec<ChartDef> {
        let level = |label: &str, query: String| json!({"input": {"query": query, "language": "kuery"}, "label": label});
        vec![
            ChartDef {
                slug: "lens-error-timeline",
                title: "Error Timeline",
                description: "Errors and warnings over time.",
                query: String::new(),
                columns: vec![
                    ("time", date_histogram()),
                    (
                        "level",
                        json!({
                            "label": "Level",
                            "dataType": "string",
                            "operationType": "filters",
                            "isBucketed": true,
                            "scale": "ordinal",
                            "params": {"filters": [
                                level("Errors", format!("{} : (\"ERROR\" or \"CRITICAL\")", app("level"))),
                                level("Warnings", format!("{} : \"WARNING\"", app("level"))),
                            ]},
                        }),
                    ),
                    ("count", count("Records")),
                ],
                visualization: Visual::Xy {
                    series: "line",
                    x: "time",
                    y: vec!["count"],
                    split: Some("level"),
                },
            },
            ChartDef {
                slug: "lens-logs-by-agent",
                title: "Logs by Agent",
                description: "Records per agent, by level.",
                query: String::new(),
                columns: vec![
                    (
                        "agent",
                        terms("Agent", &app("agent.name"), 10, Some("count")),
                    ),
                    ("level", terms("Level", &app("level"), 5, None)),
                    ("count", count("Records")),
                ],
                visualization: Visual::Xy {
                    series: "bar_stacked",
                    x: "agent",
                    y: vec!["count"],
                    split: Some("level"),
                },
            },
            ChartDef {
                slug: "lens-top-error-services",
                title: "Top Services by Errors",
                description: "The services logging the most errors.",
                query: format!("{} : (\"ERROR\" or \"CRITICAL\")", app("level")),
                columns: vec![
                    (
                        "service",
                        terms("Service", &app("service.name"), 10, Some("count")),
                    ),
                    ("count", count("Errors")),
                ],
                visualization: Visual::Xy {
                    series: "bar_horizontal",
                    x: "service",
                    y: vec!["count"],
                    split: None,
                },
            },
            ChartDef {
                slug: "lens-latency-percentiles",
                title: "Request Latency Percentiles",
                description: "50th, 95th and 99th percentile of request durations (ms).",
                query: format!("{} : *", app("request.duration_ms")),
                columns: vec![
                    ("time", date_histogram()),
                    ("p50", percentile(50)),
                    ("p95", percentile(95)),
                    ("p99", percentile(99)),
                ],
                visualization: Visual::Xy {
                    series: "line",
                    x: "time",
                    y: vec!["p50", "p95", "p99"],
                    split: None,
                },
            },
            ChartDef {
                slug: "lens-auth-failures-over-time",
                title: "Authentication Failures over Time",
                description: "Authentication failures over time, by user.",
                query: auth_failures(),
                columns: vec![
                    ("time", date_histogram()),
                    (
                        "user",
                        terms("User", &app("audit.user_id"), 10, Some("count")),
                    ),
                    ("count", count("Failures")),
                ],
                visualization: Visual::Xy {
                    series: "bar_stacked",
                    x: "time",
                    y: vec!["count"],
                    split: Some("user"),
                },
            },
            ChartDef {
                slug: "lens-auth-failures-by-user",
                title: "Authentication Failures by User and Source",
                description: "Which users fail to authenticate, and against which service.",
                query: auth_failures(),
                columns: vec![
                    (
                        "user",
                        terms("User", &app("audit.user_id"), 20, Some("count")),
                    ),
                    (
                        "source",
                        terms("Source service", &app("service.name"), 10, Some("count")),
                    ),
                    ("count", count("Failures")),
                ],
                visualization: Visual::Table,
            },
        ]
    }

    pub(super) fn charts(&self) -> Vec<Value> {
        self.chart_defs()
            .into_iter()
            .map(|d| self.chart(d))
            .collect()
    }

    fn chart(&self, d: ChartDef) -> Value {
        // One layer per chart; its id only has to be unique within the chart.
        let layer = "layer1";
        let column_order: Vec<&str> = d.columns.iter().map(|(id, _)| *id).collect();
        let columns: Map<String, Value> = d
            .columns
            .into_iter()
            .map(|(id, c)| (id.to_string(), c))
            .collect();
        let (visualization_type, visualization) = match d.visualization {
            Visual::Xy {
                series,
                x,
                y,
                split,
            } => {
                let mut l = json!({
                    "layerId": layer,
                    "layerType": "data",
                    "seriesType": series,
                    "xAccessor": x,
                    "accessors": y,
                });
                if let Some(s) = split {
                    l["splitAccessor"] = json!(s);
                }
                (
                    "lnsXY",
                    json!({
                        "legend": {"isVisible": true, "position": "right"},
                        "valueLabels": "hide",
                        "fittingFunction": "None",
                        "preferredSeriesType": series,
                        "layers": [l],
                    }),
                )
            }
            Visual::Table => (
                "lnsDatatable",
                json!({
                    "layerId": layer,
                    "layerType": "data",
                    "columns": column_order.iter().map(|c| json!({"columnId": c})).collect::<Vec<_>>(),
                }),
            ),
        };
        let attributes = json!({
            "title": d.title,
            "description": self.description(d.description),
            "visualizationType": visualization_type,
            "state": {
                "datasourceStates": {
                    datasource_key(self.v.version): {
                        "layers": {
                            layer: {
                                "columns": columns,
                                "columnOrder": column_order,
                                "incompleteColumns": {},
                            }
                        }
                    }
                },
                "visualization": visualization,
                "query": {"query": d.query, "language": "kuery"},
                "filters": [],
            },
        });
        let reference = format!("indexpattern-datasource-layer-{layer}");
        self.object(
            LENS,
            d.slug,
            attributes,
            vec![self.data_view_reference(&reference)],
        )
    }
}

/// A count of records. `___records___` is how Lens names "every document" (the recipe's
/// `Records` field does not exist).
fn count(label: &str) -> Value {
    json!({
        "label": label,
        "customLabel": true,
        "dataType": "number",
        "operationType": "count",
        "sourceField": "___records___",
        "isBucketed": false,
        "scale": "ratio",
        "params": {"emptyAsNull": true},
    })
}

/// Records per automatic interval of the time field.
fn date_histogram() -> Value {
    json!({
        "label": TIME_FIELD,
        "dataType": "date",
        "operationType": "date_histogram",
        "sourceField": TIME_FIELD,
        "isBucketed": true,
        "scale": "interval",
        "params": {"interval": "auto", "includeEmptyRows": true, "dropPartials": false},
    })
}

/// The top `size` values of `field`, by the column `order_by` (alphabetical when `None`).
fn terms(label: &str, field: &str, size: u32, order_by: Option<&str>) -> Value {
    let (order, direction) = match order_by {
        Some(c) => (json!({"type": "column", "columnId": c}), "desc"),
        None => (json!({"type": "alphabetical", "fallback": true}), "asc"),
    };
    json!({
        "label": label,
        "customLabel": true,
        "dataType": "string",
        "operationType": "terms",
        "sourceField": field,
        "isBucketed": true,
        "scale": "ordinal",
        "params": {
            "size": size,
            "orderBy": order,
            "orderDirection": direction,
            "otherBucket": true,
            "missingBucket": false,
        },
    })
}

/// The `p`th percentile of the request duration.
fn percentile(p: u32) -> Value {
    json!({
        "label": format!("p{p} (ms)"),
        "customLabel": true,
        "dataType": "number",
        "operationType": "percentile",
        "sourceField": app("request.duration_ms"),
        "isBucketed": false,
        "scale": "ratio",
        "params": {"percentile": p},
    })
}
