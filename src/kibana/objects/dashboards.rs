//! The two dashboards, "MCP Mesh Log Analysis" and "MCP Mesh Security Audit", laid out as
//! the source recipe intends.

use serde_json::{Value, json};

use super::*;

impl Render<'_> {
    fn dashboard(&self, slug: &str, title: &str, what: &str, panels: &[Panel]) -> Value {
        let mut panel_json = Vec::new();
        let mut references = Vec::new();
        for (i, p) in panels.iter().enumerate() {
            let index = (i + 1).to_string();
            let (x, y, w, h) = p.grid;
            panel_json.push(json!({
                "version": self.v.version.to_string(),
                "type": p.kind,
                "gridData": {"x": x, "y": y, "w": w, "h": h, "i": index},
                "panelIndex": index,
                "embeddableConfig": {"enhancements": {}},
                "title": p.title,
                "panelRefName": format!("panel_{index}"),
            }));
            references.push(json!({
                "type": p.kind,
                "id": self.id(p.slug),
                "name": format!("{index}:panel_{index}"),
            }));
        }
        let attributes = json!({
            "title": title,
            "description": self.description(what),
            "panelsJSON": Value::Array(panel_json).to_string(),
            "optionsJSON": json!({"useMargins": true, "syncColors": false, "syncCursor": true, "syncTooltips": false, "hidePanelTitles": false}).to_string(),
            "timeRestore": true,
            "timeFrom": "now-24h",
            "timeTo": "now",
            "refreshInterval": {"pause": false, "value": 30000},
            "kibanaSavedObjectMeta": {
                "searchSourceJSON": json!({"query": {"query": "", "language": "kuery"}, "filter": []}).to_string(),
            },
        });
        self.object(DASHBOARD, slug, attributes, references)
    }

    /// The recipe's "MCP Mesh Log Analysis": the error timeline across the top, logs by agent
    /// next to the log table, then the services with most errors and request latency.
    pub(super) fn log_dashboard(&self) -> Value {
        self.dashboard(
            super::LOG_DASHBOARD,
            "MCP Mesh Log Analysis",
            "Log analysis for the MCP Mesh: errors over time, logs by agent, the noisiest services, request latency and the logs themselves.",
            &[
                Panel { slug: "lens-error-timeline", kind: LENS, title: "Error Timeline", grid: (0, 0, 48, 15) },
                Panel { slug: "lens-logs-by-agent", kind: LENS, title: "Logs by Agent", grid: (0, 15, 24, 15) },
                Panel { slug: "search-all", kind: SEARCH, title: "MCP Mesh Logs", grid: (24, 15, 24, 30) },
                Panel { slug: "lens-top-error-services", kind: LENS, title: "Top Services by Errors", grid: (0, 30, 24, 15) },
                Panel { slug: "lens-latency-percentiles", kind: LENS, title: "Request Latency Percentiles", grid: (0, 45, 48, 15) },
                Panel { slug: "search-errors", kind: SEARCH, title: "Errors and Warnings", grid: (0, 60, 48, 20) },
            ],
        )
    }

    /// The recipe's "MCP Mesh Security Audit": authentication events, failures by user over
    /// time, and failures by user and source service (the log schema has no client address,
    /// so the recipe's map becomes a table).
    pub(super) fn security_dashboard(&self) -> Value {
        self.dashboard(
            "dashboard-security",
            "MCP Mesh Security Audit",
            "Security audit of the MCP Mesh: authentication events, failures by user over time, and failures by user and source service.",
            &[
                Panel { slug: "lens-auth-failures-over-time", kind: LENS, title: "Authentication Failures over Time", grid: (0, 0, 48, 15) },
                Panel { slug: "lens-auth-failures-by-user", kind: LENS, title: "Failures by User and Source", grid: (0, 15, 24, 20) },
                Panel { slug: "search-auth-events", kind: SEARCH, title: "Authentication Events", grid: (24, 15, 24, 20) },
                Panel { slug: "search-auth-failures", kind: SEARCH, title: "Failed Access Attempts", grid: (0, 35, 48, 20) },
            ],
        )
    }
}
