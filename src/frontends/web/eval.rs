//! `/eval`: the latest `skiff eval --out` report (report.json + chart.svg) as a page, and its
//! data at `/api/eval` (token-protected like every other API route).

use std::path::Path;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::WebState;
use super::api::asset;
use crate::eval::{CHART_FILE, REPORT_FILE, Report};
use crate::frontends::http::ApiError;

const EVAL_HTML: &str = include_str!("page/eval.html");
const EVAL_JS: &str = include_str!("page/eval.js");

pub async fn page_html() -> Response {
    asset(EVAL_HTML, "text/html; charset=utf-8")
}

pub async fn page_js() -> Response {
    asset(EVAL_JS, "text/javascript; charset=utf-8")
}

/// `{"report": Report, "chart_svg": "<svg…"}` from the eval folder.
pub async fn data(State(state): State<Arc<WebState>>) -> Result<Response, ApiError> {
    let Some(dir) = state.eval_dir.as_deref() else {
        return Err(no_report("this server has no eval folder"));
    };
    let report = read(dir, REPORT_FILE).await?;
    let report: Report = serde_json::from_slice(&report).map_err(|e| {
        tracing::warn!("{}: {e}", dir.join(REPORT_FILE).display());
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "bad_report",
            format!("the eval report is unreadable: {e}"),
        )
    })?;
    let chart = String::from_utf8_lossy(&read(dir, CHART_FILE).await?).into_owned();
    Ok(Json(serde_json::json!({ "report": report, "chart_svg": chart })).into_response())
}

async fn read(dir: &Path, name: &str) -> Result<Vec<u8>, ApiError> {
    tokio::fs::read(dir.join(name)).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            no_report(&format!(
                "no eval report yet: run `skiff eval FILE.jsonl --out {}`",
                dir.display()
            ))
        } else {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "io",
                format!("cannot read {name}: {e}"),
            )
        }
    })
}

fn no_report(message: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no_report", message.to_string())
}
