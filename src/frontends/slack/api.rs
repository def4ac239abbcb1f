//! The part of Slack's Web API the bot uses: posting in threads and reading user groups.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use super::*;

/// The Web API calls the bot makes.
pub struct WebApi {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl WebApi {
    pub fn new(base: &str, token: String) -> Result<Self, SlackError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| SlackError::Http(e.to_string()))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            token,
        })
    }

    /// `chat.postMessage`; one retry after Slack's Retry-After on 429 or a 5xx.
    pub async fn post_message(&self, body: &Value) -> Result<(), SlackError> {
        let url = format!("{}/chat.postMessage", self.base);
        for attempt in 0..2 {
            let response = self
                .http
                .post(&url)
                .bearer_auth(&self.token)
                .json(body)
                .send()
                .await
                .map_err(|e| SlackError::Http(format!("chat.postMessage: {e}")))?;
            let status = response.status();
            if (status.as_u16() == 429 || status.is_server_error()) && attempt == 0 {
                let wait = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(1)
                    .min(30);
                tokio::time::sleep(Duration::from_secs(wait)).await;
                continue;
            }
            let reply: Value = response
                .json()
                .await
                .map_err(|e| SlackError::Http(format!("chat.postMessage ({status}): {e}")))?;
            if reply["ok"] != true {
                return Err(SlackError::Http(format!(
                    "chat.postMessage: {}",
                    reply["error"].as_str().unwrap_or("not ok")
                )));
            }
            return Ok(());
        }
        Err(SlackError::Http(
            "chat.postMessage: gave up after a retry".into(),
        ))
    }
}

impl WebApi {
    /// `usergroups.list` with members (scope usergroups:read): user id -> the ids of the user
    /// groups they belong to.
    pub async fn usergroups(&self) -> Result<HashMap<String, Vec<String>>, SlackError> {
        let url = format!("{}/usergroups.list?include_users=true", self.base);
        let response = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| SlackError::Http(format!("usergroups.list: {e}")))?;
        let status = response.status();
        let reply: Value = response
            .json()
            .await
            .map_err(|e| SlackError::Http(format!("usergroups.list ({status}): {e}")))?;
        if reply["ok"] != true {
            return Err(SlackError::Http(format!(
                "usergroups.list: {}",
                reply["error"].as_str().unwrap_or("not ok")
            )));
        }
        let mut members: HashMap<String, Vec<String>> = HashMap::new();
        for group in reply["usergroups"].as_array().into_iter().flatten() {
            let Some(id) = group["id"].as_str() else {
                continue;
            };
            for user in group["users"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                members
                    .entry(user.to_string())
                    .or_default()
                    .push(id.to_string());
            }
        }
        Ok(members)
    }
}
