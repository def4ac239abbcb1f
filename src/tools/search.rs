//! `search`: hybrid retrieval over the wiki for one step's query (in a conversation, fused
//! with the previous question's), the named page's hits first; what it finds becomes evidence.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::step::{HitRef, Runtime, StepOutput};
use super::{Ctx, Tool, ToolError, ToolKind};
use crate::quantity::names_in;
use crate::search::{self, Hit};

/// Search the wiki for passages about one thing.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchStep {
    /// A short search query naming the thing and the facts wanted, e.g. "Orbit 4 battery life
    /// price".
    pub query: String,
}

pub struct Search;

impl Tool for Search {
    const KIND: ToolKind = ToolKind::Search;
    type Args = SearchStep;

    async fn call(&self, args: &SearchStep, ctx: &Ctx<'_, '_>) -> Result<StepOutput, ToolError> {
        search_step(&args.query, ctx.rt).await
    }
}

async fn search_step(query: &str, rt: &Runtime<'_>) -> Result<StepOutput, ToolError> {
    let mut lists = vec![rt.search(query, rt.search_k, "search").await?];
    if let Some(previous) = rt.conversation.as_deref() {
        lists.push(
            rt.search(&format!("{previous} {query}"), rt.search_k, "search")
                .await?,
        );
    }
    let hits = names_first(query, search::fuse(lists, rt.search_k));
    Ok(StepOutput::Search {
        query: query.to_string(),
        evidence: hits.iter().map(|h| rt.evidence.add(h)).collect(),
        hits: hits
            .iter()
            .map(|h| HitRef {
                source: h.source.clone(),
                heading: h.heading.clone(),
                score: h.score,
            })
            .collect(),
    })
}

/// Stable re-order: hits from pages whose title carries every name in the query come first
/// ("Orbit 3 battery life" prefers the Orbit 3 page over a repairs page that mentions Orbit 3).
pub fn names_first(query: &str, hits: Vec<Hit>) -> Vec<Hit> {
    let names = names_in(query);
    if names.is_empty() {
        return hits;
    }
    let titled = |h: &Hit| {
        let words = names_in(&h.title.replace(['\u{2014}', '|', ':'], " "));
        let lower: Vec<String> = h
            .title
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .map(str::to_string)
            .collect();
        names.iter().all(|n| lower.contains(n) || words.contains(n))
    };
    let (mut first, rest): (Vec<Hit>, Vec<Hit>) = hits.into_iter().partition(titled);
    first.extend(rest);
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(title: &str) -> Hit {
        Hit {
            score: 0.0,
            source: title.into(),
            heading: String::new(),
            text: String::new(),
            title: title.into(),
            chunk_index: 0,
        }
    }

    #[test]
    fn hits_from_the_named_page_come_first() {
        assert_eq!(
            names_in("How much does the Orbit 4 weigh?"),
            vec!["orbit", "4"]
        );
        let hits = vec![
            hit("Warranty and Repairs"),
            hit("Orbit 4 — Product Specification"),
            hit("Orbit 3 — Product Specification"),
        ];
        let order: Vec<String> = names_first("Orbit 3 battery life price", hits)
            .into_iter()
            .map(|h| h.title)
            .collect();
        assert_eq!(order[0], "Orbit 3 — Product Specification");
        assert_eq!(order[1], "Warranty and Repairs");
    }
}
