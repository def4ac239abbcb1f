//! The plan: typed steps (id, tool, args, depends_on) the planner writes, the JSON schema that
//! constrains its decoder, and validation (known tools, args typed per tool, references that
//! resolve, no cycles, bounded size). Step arguments are what the manifests in tools/ describe:
//! the planner only ever sees the manifests.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::tools::calculate::{Calculate, CalculateStep, Operand};
use crate::tools::compare::{Compare, CompareStep};
use crate::tools::extract::{Extract, ExtractStep};
use crate::tools::search::{Search, SearchStep};
use crate::tools::step::{ref_field, ref_step};
use crate::tools::{Tool, ToolKind};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub id: String,
    pub tool: String,
    pub args: Value,
    #[serde(default)]
    pub depends_on: Vec<String>,
}

/// A step's arguments, typed.
#[derive(Debug, Clone)]
pub enum Action {
    Search(SearchStep),
    Extract(ExtractStep),
    Compare(CompareStep),
    Calculate(CalculateStep),
}

impl Action {
    /// Step ids this action reads.
    fn references(&self) -> Vec<String> {
        match self {
            Action::Search(_) => Vec::new(),
            Action::Extract(e) => e.from.clone(),
            Action::Compare(c) => vec![ref_step(&c.a), ref_step(&c.b)],
            Action::Calculate(c) => c
                .values
                .iter()
                .filter_map(|v| match v {
                    Operand::Ref(r) => Some(ref_step(r)),
                    Operand::Number(_) => None,
                })
                .collect(),
        }
    }
}

/// The argument schema of a tool's steps, as the code defines it.
pub fn step_schema(kind: ToolKind) -> Value {
    match kind {
        ToolKind::Search => Search::args_schema(),
        ToolKind::Extract => Extract::args_schema(),
        ToolKind::Compare => Compare::args_schema(),
        ToolKind::Calculate => Calculate::args_schema(),
    }
}

/// A plan that passed validation: steps typed and in an order where every step comes after
/// the steps it depends on.
#[derive(Debug, Clone)]
pub struct ValidPlan {
    pub steps: Vec<ValidStep>,
}

#[derive(Debug, Clone)]
pub struct ValidStep {
    pub id: String,
    pub action: Action,
    /// Declared dependencies plus every step the arguments reference.
    pub depends_on: Vec<String>,
}

impl ValidStep {
    pub fn kind(&self) -> ToolKind {
        match self.action {
            Action::Search(_) => ToolKind::Search,
            Action::Extract(_) => ToolKind::Extract,
            Action::Compare(_) => ToolKind::Compare,
            Action::Calculate(_) => ToolKind::Calculate,
        }
    }

    pub fn tool(&self) -> &'static str {
        self.kind().name()
    }
}

/// Why a plan was refused; the message goes back to the planner for its one repair round.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

pub fn validate(plan: &Plan, max_steps: usize) -> Result<ValidPlan, PlanError> {
    let err = |m: String| Err(PlanError(m));
    if plan.steps.is_empty() {
        return err("the plan has no steps".into());
    }
    if plan.steps.len() > max_steps {
        return err(format!(
            "the plan has {} steps; at most {max_steps} are allowed",
            plan.steps.len()
        ));
    }
    let mut typed: Vec<ValidStep> = Vec::new();
    let mut ids = BTreeSet::new();
    for step in &plan.steps {
        let id = step.id.trim().to_string();
        if id.is_empty() || id.contains('.') {
            return err(format!(
                "step id {:?} is not usable (use s1, s2, ...)",
                step.id
            ));
        }
        if !ids.insert(id.clone()) {
            return err(format!("two steps have the id {id}"));
        }
        let action = typed_args(&id, &step.tool, &step.args)?;
        let mut depends_on: Vec<String> = step.depends_on.iter().map(|d| ref_step(d)).collect();
        for r in action.references() {
            if !depends_on.contains(&r) {
                depends_on.push(r);
            }
        }
        typed.push(ValidStep {
            id,
            action,
            depends_on,
        });
    }
    let by_id: BTreeMap<&str, &ValidStep> = typed.iter().map(|s| (s.id.as_str(), s)).collect();
    for step in &typed {
        for d in &step.depends_on {
            if d == &step.id {
                return err(format!("step {} depends on itself", step.id));
            }
            if !by_id.contains_key(d.as_str()) {
                return err(format!(
                    "step {} refers to step {d}, which does not exist",
                    step.id
                ));
            }
        }
        check_references(step, &by_id)?;
    }
    let order = topological(&typed)?;
    let mut steps = typed;
    steps.sort_by_key(|s| order.get(&s.id).copied().unwrap_or(usize::MAX));
    Ok(ValidPlan { steps })
}

fn typed_args(id: &str, tool: &str, args: &Value) -> Result<Action, PlanError> {
    fn parse<T: serde::de::DeserializeOwned>(
        id: &str,
        tool: &str,
        args: &Value,
    ) -> Result<T, PlanError> {
        serde_path_to_error::deserialize(args.clone()).map_err(|e| {
            PlanError(format!(
                "step {id} ({tool}): args at `{}`: {}",
                e.path(),
                e.inner()
            ))
        })
    }
    let Some(kind) = ToolKind::parse(tool) else {
        return Err(PlanError(format!(
            "step {id}: unknown tool {tool:?} (tools: {})",
            ToolKind::list()
        )));
    };
    let action = match kind {
        ToolKind::Search => {
            let s: SearchStep = parse(id, tool, args)?;
            if s.query.trim().is_empty() {
                return Err(PlanError(format!("step {id} (search): the query is empty")));
            }
            Action::Search(s)
        }
        ToolKind::Extract => {
            let e: ExtractStep = parse(id, tool, args)?;
            if e.from.is_empty() {
                return Err(PlanError(format!(
                    "step {id} (extract): `from` names no search step"
                )));
            }
            if e.fields.is_empty() {
                return Err(PlanError(format!("step {id} (extract): no fields")));
            }
            let mut names = BTreeSet::new();
            for f in &e.fields {
                if f.name.trim().is_empty() || !names.insert(f.name.as_str()) {
                    return Err(PlanError(format!(
                        "step {id} (extract): field names must be non-empty and distinct ({:?})",
                        f.name
                    )));
                }
            }
            Action::Extract(e)
        }
        ToolKind::Compare => Action::Compare(parse(id, tool, args)?),
        ToolKind::Calculate => {
            let c: CalculateStep = parse(id, tool, args)?;
            if c.values.is_empty() {
                return Err(PlanError(format!("step {id} (calculate): no values")));
            }
            Action::Calculate(c)
        }
    };
    Ok(action)
}

/// References must point at a step that produces that kind of value.
fn check_references(step: &ValidStep, by_id: &BTreeMap<&str, &ValidStep>) -> Result<(), PlanError> {
    let id = &step.id;
    let field_of = |r: &str, what: &str| -> Result<(), PlanError> {
        let target = ref_step(r);
        let Some(t) = by_id.get(target.as_str()) else {
            return Err(PlanError(format!(
                "step {id}: {what} {r:?} refers to a missing step"
            )));
        };
        match (&t.action, ref_field(r)) {
            (Action::Extract(e), Some(f)) => {
                if e.fields.iter().any(|x| x.name == f) {
                    Ok(())
                } else {
                    Err(PlanError(format!(
                        "step {id}: {what} {r:?}: step {target} extracts no field {f:?}"
                    )))
                }
            }
            (Action::Extract(_), None) if what == "compare" => Ok(()),
            (Action::Calculate(_), None) => Ok(()),
            (Action::Compare(_), Some("difference" | "ratio" | "percent_change")) => Ok(()),
            _ => Err(PlanError(format!(
                "step {id}: {what} {r:?} does not name a number (use \"sN.field\" of an \
                 extract step, or a calculate step)"
            ))),
        }
    };
    match &step.action {
        Action::Search(_) => Ok(()),
        Action::Extract(e) => {
            for f in &e.from {
                let target = ref_step(f);
                match by_id.get(target.as_str()).map(|s| &s.action) {
                    Some(Action::Search(_)) => {}
                    _ => {
                        return Err(PlanError(format!(
                            "step {id} (extract): `from` {f:?} is not a search step"
                        )));
                    }
                }
            }
            Ok(())
        }
        Action::Compare(c) => {
            field_of(&c.a, "compare")?;
            field_of(&c.b, "compare")
        }
        Action::Calculate(c) => {
            for v in &c.values {
                if let Operand::Ref(r) = v {
                    field_of(r, "calculate operand")?;
                }
            }
            Ok(())
        }
    }
}

/// Kahn's algorithm: each step's position in a valid order, or the steps caught in a cycle.
fn topological(steps: &[ValidStep]) -> Result<BTreeMap<String, usize>, PlanError> {
    let mut indegree: BTreeMap<&str, usize> = steps
        .iter()
        .map(|s| (s.id.as_str(), s.depends_on.len()))
        .collect();
    let mut order = BTreeMap::new();
    // Keep the planner's order among steps that are ready together.
    let mut ready: Vec<&str> = steps
        .iter()
        .filter(|s| s.depends_on.is_empty())
        .map(|s| s.id.as_str())
        .collect();
    while let Some(id) = (!ready.is_empty()).then(|| ready.remove(0)) {
        order.insert(id.to_string(), order.len());
        for s in steps {
            if s.depends_on.iter().any(|d| d == id)
                && let Some(n) = indegree.get_mut(s.id.as_str())
            {
                *n -= 1;
                if *n == 0 {
                    ready.push(s.id.as_str());
                }
            }
        }
    }
    if order.len() < steps.len() {
        let stuck: Vec<&str> = steps
            .iter()
            .filter(|s| !order.contains_key(&s.id))
            .map(|s| s.id.as_str())
            .collect();
        return Err(PlanError(format!(
            "the steps {} depend on each other in a cycle",
            stuck.join(", ")
        )));
    }
    Ok(order)
}

/// The safe plan used when planning fails: one search for the question itself.
pub fn fallback(question: &str) -> ValidPlan {
    ValidPlan {
        steps: vec![ValidStep {
            id: "s1".into(),
            action: Action::Search(SearchStep {
                query: question.to_string(),
            }),
            depends_on: Vec::new(),
        }],
    }
}

impl ValidPlan {
    /// The plan as the planner would have written it (for --json and --trace).
    pub fn to_plan(&self) -> Plan {
        Plan {
            steps: self
                .steps
                .iter()
                .map(|s| Step {
                    id: s.id.clone(),
                    tool: s.tool().into(),
                    args: match &s.action {
                        Action::Search(a) => serde_json::to_value(a),
                        Action::Extract(a) => serde_json::to_value(a),
                        Action::Compare(a) => serde_json::to_value(a),
                        Action::Calculate(a) => serde_json::to_value(a),
                    }
                    .unwrap_or(Value::Null),
                    depends_on: s.depends_on.clone(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::Registry;
    use serde_json::json;

    fn plan(v: Value) -> Plan {
        serde_json::from_value(v).unwrap()
    }

    fn seed_plan() -> Value {
        json!({"steps": [
            {"id": "s1", "tool": "search", "args": {"query": "Orbit 3 battery life price"}, "depends_on": []},
            {"id": "s2", "tool": "search", "args": {"query": "Orbit 4 battery life price"}, "depends_on": []},
            {"id": "s3", "tool": "extract", "args": {"from": ["s1"], "fields": [
                {"name": "battery_hours", "type": "number", "unit": "hours", "description": "battery life"},
                {"name": "price", "type": "number", "unit": "USD", "description": "launch price"}]}, "depends_on": ["s1"]},
            {"id": "s4", "tool": "extract", "args": {"from": ["s2"], "fields": [
                {"name": "battery_hours", "type": "number", "unit": "hours", "description": "battery life"},
                {"name": "price", "type": "number", "unit": "USD", "description": "launch price"}]}, "depends_on": []},
            {"id": "s5", "tool": "compare", "args": {"a": "s3", "b": "s4"}, "depends_on": ["s3", "s4"]}
        ]})
    }

    #[test]
    fn seed_plan_validates_and_references_become_dependencies() {
        let v = validate(&plan(seed_plan()), 8).unwrap();
        let s4 = v.steps.iter().find(|s| s.id == "s4").unwrap();
        assert_eq!(s4.depends_on, vec!["s2"], "from adds the dependency");
        let pos = |id: &str| v.steps.iter().position(|s| s.id == id).unwrap();
        assert!(pos("s1") < pos("s3") && pos("s2") < pos("s4") && pos("s4") < pos("s5"));
    }

    #[test]
    fn refuses_unknown_tools_bad_args_cycles_and_size() {
        let e = |v: Value| validate(&plan(v), 3).unwrap_err().0;
        let unknown = e(json!({"steps": [{"id": "s1", "tool": "shell", "args": {}}]}));
        assert!(unknown.contains("unknown tool \"shell\""), "{unknown}");
        let bad = e(
            json!({"steps": [{"id": "s1", "tool": "extract", "args": {"from": ["s1"], "fields": [{"name": "x", "type": "colour", "unit": "", "description": "d"}]}}]}),
        );
        assert!(bad.contains("fields[0].type"), "{bad}");
        let cycle = e(json!({"steps": [
            {"id": "s1", "tool": "search", "args": {"query": "a"}, "depends_on": ["s2"]},
            {"id": "s2", "tool": "search", "args": {"query": "b"}, "depends_on": ["s1"]}]}));
        assert!(cycle.contains("cycle"), "{cycle}");
        let big = e(json!({"steps": [
            {"id": "s1", "tool": "search", "args": {"query": "a"}},
            {"id": "s2", "tool": "search", "args": {"query": "b"}},
            {"id": "s3", "tool": "search", "args": {"query": "c"}},
            {"id": "s4", "tool": "search", "args": {"query": "d"}}]}));
        assert!(big.contains("at most 3"), "{big}");
        let missing = e(json!({"steps": [
            {"id": "s1", "tool": "compare", "args": {"a": "s7.price", "b": "s8.price"}}]}));
        assert!(missing.contains("does not exist"), "{missing}");
        let field = e(json!({"steps": [
            {"id": "s1", "tool": "search", "args": {"query": "a"}},
            {"id": "s2", "tool": "extract", "args": {"from": ["s1"], "fields": [{"name": "price", "type": "number", "unit": "USD", "description": "d"}]}},
            {"id": "s3", "tool": "calculate", "args": {"op": "sum", "values": ["s2.weight", 3]}}]}));
        assert!(field.contains("no field \"weight\""), "{field}");
        let from = e(json!({"steps": [
            {"id": "s1", "tool": "calculate", "args": {"op": "sum", "values": [1, 2]}},
            {"id": "s2", "tool": "extract", "args": {"from": ["s1"], "fields": [{"name": "p", "type": "number", "unit": "", "description": "d"}]}}]}));
        assert!(from.contains("not a search step"), "{from}");
    }

    /// Every manifest in tools/ describes the step arguments the code accepts. Regenerate with
    /// `SKIFF_WRITE_MANIFESTS=1 cargo test manifests_match` after changing a step type.
    #[test]
    fn manifests_match_the_code() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let registry = Registry::builtin().unwrap();
        for kind in ToolKind::ALL {
            let (name, schema) = (kind.name(), step_schema(kind));
            let mut m = registry.manifest(kind).clone();
            if std::env::var_os("SKIFF_WRITE_MANIFESTS").is_some() {
                m.args_schema = schema.clone();
                let text = serde_json::to_string_pretty(&m).unwrap() + "\n";
                std::fs::write(root.join(format!("tools/{name}.json")), text).unwrap();
            }
            assert_eq!(
                m.args_schema, schema,
                "tools/{name}.json is out of date: run SKIFF_WRITE_MANIFESTS=1 cargo test manifests_match"
            );
        }
        let files = std::fs::read_dir(root.join("tools")).unwrap().count();
        assert_eq!(
            files,
            ToolKind::ALL.len(),
            "a manifest in tools/ has no tool"
        );
    }
}
