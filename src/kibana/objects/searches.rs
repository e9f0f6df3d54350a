//! The saved searches: all mesh logs, errors and warnings, and one per source-recipe query
//! that fits a saved search.

use serde_json::{Value, json};

use super::*;

impl Render<'_> {
    fn search_defs(&self) -> Vec<SearchDef> {
        let base = || {
            vec![
                TIME_FIELD.to_string(),
                app("level"),
                app("service.name"),
                app("msg"),
            ]
        };
        let with = |extra: &[&str]| {
            let mut c = base();
            c.extend(extra.iter().map(|f| app(f)));
            c
        };
        vec![
            SearchDef {
                slug: "search-all",
                title: "MCP Mesh Logs",
                description: "Every log record of the mesh, newest first.",
                query: String::new(),
                columns: base(),
                ascending: false,
            },
            SearchDef {
                slug: "search-errors",
                title: "MCP Mesh Errors and Warnings",
                description: "Records logged at ERROR, CRITICAL or WARNING.",
                query: errors_and_warnings(),
                columns: with(&["agent.name", "exception.type", "exception.message"]),
                ascending: false,
            },
            SearchDef {
                slug: "search-slow-requests",
                title: "MCP Mesh Slow Requests",
                description: "Requests that took a second or more.",
                query: format!("{} >= 1000", app("request.duration_ms")),
                columns: with(&[
                    "agent.name",
                    "request.method",
                    "request.duration_ms",
                    "request.status",
                ]),
                ascending: false,
            },
            SearchDef {
                slug: "search-trace",
                title: "MCP Mesh Trace Lookup",
                description: "Records that carry a trace id, oldest first: add app.trace.trace_id : \"<id>\" to the query to follow one request through the mesh.",
                query: format!("{} : *", app("trace.trace_id")),
                columns: with(&["trace.trace_id", "trace.span_id", "agent.name"]),
                ascending: true,
            },
            SearchDef {
                slug: "search-auth-events",
                title: "MCP Mesh Authentication Events",
                description: "Logins, logouts and authentication failures.",
                query: format!(
                    "{} : (\"login\" or \"logout\" or \"auth_failure\")",
                    app("audit.action")
                ),
                columns: with(&["audit.action", "audit.result", "audit.user_id"]),
                ascending: false,
            },
            SearchDef {
                slug: "search-auth-failures",
                title: "MCP Mesh Authentication Failures",
                description: "Failed authentications and denied access.",
                query: auth_failures(),
                columns: with(&["audit.action", "audit.resource", "audit.user_id"]),
                ascending: false,
            },
        ]
    }

    pub(super) fn searches(&self) -> Vec<Value> {
        self.search_defs()
            .into_iter()
            .map(|d| {
                let source = json!({
                    "query": {"query": d.query, "language": "kuery"},
                    "filter": [],
                    "indexRefName": SEARCH_INDEX_REF,
                });
                let attributes = json!({
                    "title": d.title,
                    "description": self.description(d.description),
                    "columns": d.columns,
                    "sort": [[TIME_FIELD, if d.ascending { "asc" } else { "desc" }]],
                    "kibanaSavedObjectMeta": {"searchSourceJSON": source.to_string()},
                });
                self.object(
                    SEARCH,
                    d.slug,
                    attributes,
                    vec![self.data_view_reference(SEARCH_INDEX_REF)],
                )
            })
            .collect()
    }
}
