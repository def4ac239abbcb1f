use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::check::*;
use super::evidence::*;
use super::*;
use crate::tools::step::{Evidence, EvidenceSet, StepOutput};

fn shown(n: usize) -> Vec<Citation> {
    (1..=n)
        .map(|i| Citation {
            n: i,
            source: format!("p{i}.md"),
            heading: "h".into(),
            title: "t".into(),
            text: String::new(),
        })
        .collect()
}

#[test]
fn a_question_about_a_name_no_passage_has_is_refused_with_the_pages_nearby() {
    let ev = |title: &str, text: &str| Evidence {
        source: "p.md".into(),
        heading: title.into(),
        title: title.into(),
        text: text.into(),
        chunk_index: 0,
    };
    let found = [
        ev("Orbit 4 spec", "The Orbit 4 costs $1,199."),
        ev("Lineup", "Orbit 3 and Orbit 4 are sold now."),
    ];
    assert!(absent_names("How much does the Orbit 4 cost?", &found).is_empty());
    // "Orbit 40" is not "Orbit 4"; "In 4 days" is a figure, not a name.
    assert_eq!(
        absent_names("How much will the Orbit 5 cost, and the Orbit 40?", &found),
        vec!["Orbit 5".to_string(), "Orbit 40".to_string()]
    );
    assert!(absent_names("Can I return it In 4 days?", &found).is_empty());
    // A code the question names that no passage has: the wiki says nothing about it.
    assert_eq!(
        absent_names("How many Orbit 4 did we sell in Q3 2026?", &found),
        vec!["Q3".to_string(), "2026".to_string()]
    );
    let quarter = [ev("Sales", "Orbit 4 sold 900 units in Q3 2026.")];
    assert!(absent_names("How many Orbit 4 did we sell in Q3 2026?", &quarter).is_empty());
    // A year no passage mentions: the figures found are for other years.
    assert_eq!(
        absent_names("What will the Orbit 4 cost in 2028?", &quarter),
        vec!["2028".to_string()]
    );
    let mut near = shown(2);
    near[0].title = "Orbit 4 spec".into();
    near[1].title = "Lineup".into();
    let text = names_not_found(&["Orbit 5".into()], &near);
    assert_eq!(
        text,
        "The wiki does not say: no page found mentions Orbit 5. The nearest pages are: \
         Orbit 4 spec; Lineup."
    );
    let checked = check(&text, &near);
    assert!(!checked.answered);
    assert!(checked.citations.is_empty());
}

/// The seed example's plan after execution: two searches, two extractions, a comparison.
fn seed_prepared() -> Prepared {
    use crate::agent::plan::{Plan, Step, validate};
    use crate::search::Hit;
    use crate::tools::compare::{CompareArgs, Quantity, compare};
    use crate::tools::step::CompareRow;
    let step = |id: &str, tool: &str, args: Value, deps: &[&str]| Step {
        id: id.into(),
        tool: tool.into(),
        args,
        depends_on: deps.iter().map(|d| d.to_string()).collect(),
    };
    let fields = json!({"fields": [
        {"name": "battery_hours", "type": "number", "unit": "hours", "description": "battery"},
        {"name": "price", "type": "number", "unit": "USD", "description": "price"}]});
    let mut e1 = fields.clone();
    e1["from"] = json!(["s1"]);
    let mut e2 = fields;
    e2["from"] = json!(["s2"]);
    let plan = validate(
        &Plan {
            steps: vec![
                step("s1", "search", json!({"query": "Orbit 3"}), &[]),
                step("s2", "search", json!({"query": "Orbit 4"}), &[]),
                step("s3", "extract", e1, &["s1"]),
                step("s4", "extract", e2, &["s2"]),
                step(
                    "s5",
                    "compare",
                    json!({"a": "s3", "b": "s4"}),
                    &["s3", "s4"],
                ),
            ],
        },
        8,
    )
    .unwrap();
    let evidence = EvidenceSet::default();
    let hit = |source: &str, text: &str| Hit {
        score: 1.0,
        source: source.into(),
        heading: "Specs".into(),
        text: text.into(),
        title: source.into(),
        chunk_index: 0,
    };
    let a = evidence.add(&hit(
        "products/orbit-3.md",
        "Battery 14 hours, price $1,349",
    ));
    let b = evidence.add(&hit(
        "products/orbit-4.md",
        "Battery 19 hours, price $1,199",
    ));
    let row = |field: &str, x: f64, y: f64, unit: &str| CompareRow {
        field: field.into(),
        a_label: format!("Orbit 3 {field}"),
        b_label: format!("Orbit 4 {field}"),
        result: compare(&CompareArgs {
            a: Quantity {
                label: "Orbit 3".into(),
                value: x,
                unit: Some(unit.into()),
            },
            b: Quantity {
                label: "Orbit 4".into(),
                value: y,
                unit: Some(unit.into()),
            },
        })
        .unwrap(),
        evidence: vec![a, b],
    };
    let mut outputs = BTreeMap::new();
    outputs.insert(
        "s5".to_string(),
        StepOutput::Compare {
            rows: vec![
                row("battery_hours", 14.0, 19.0, "hours"),
                row("price", 1349.0, 1199.0, "USD"),
            ],
        },
    );
    prepare(&plan, &outputs, &evidence, 6, 400)
}

#[test]
fn computed_differences_the_answer_left_out_are_added_with_citations() {
    let p = seed_prepared();
    assert_eq!(p.computed.len(), 2);
    assert!(
        p.facts_text
            .contains("Orbit 4 battery_hours minus Orbit 3 battery_hours = 5 hours (+35.71%);"),
        "{}",
        p.facts_text
    );
    assert!(
        p.computed[0]
            .sentence
            .starts_with("Battery hours: Orbit 4 19 hours"),
        "{:?}",
        p.computed
    );
    // The small model restated the inputs and dropped the differences.
    let (text, notes) = complete(
        "The Orbit 3 lasts 14 hours and costs $1,349 [1]; the Orbit 4 lasts 19 hours and costs $1,199 [2].",
        &p.computed,
    );
    assert!(
        text.contains("a difference of 5 hours (Orbit 4 higher, +35.71%) [1][2]."),
        "{text}"
    );
    assert!(
        text.contains("a difference of 150 USD (Orbit 4 lower, -11.12%) [1][2]."),
        "{text}"
    );
    assert_eq!(notes.len(), 1);
    // Every marker the sentences carry is valid evidence.
    let checked = check(&text, &p.shown);
    assert!(
        checked.notes.iter().all(|n| !n.contains("removed")),
        "{:?}",
        checked.notes
    );
    assert_eq!(checked.citations.len(), 2);
}

#[test]
fn an_answer_that_states_the_results_is_left_alone_and_a_refusal_is_replaced() {
    let p = seed_prepared();
    let said = "The Orbit 4 lasts 19 hours, 5 more than the Orbit 3's 14, and costs $1,199, \
                $150 less than the Orbit 3's $1,349 [1][2].";
    assert_eq!(complete(said, &p.computed), (said.to_string(), Vec::new()));
    // The difference alone is not the comparison: the two values are added.
    let (text, _) = complete(
        "The Orbit 4 lasts 5 hours longer and costs $150 less [1][2].",
        &p.computed,
    );
    assert!(
        text.contains("Orbit 4 19 hours against Orbit 3 14 hours"),
        "{text}"
    );
    let (text, _) = complete(NOT_IN_WIKI, &p.computed);
    assert!(!text.contains("does not say"), "{text}");
    assert!(
        text.starts_with("Battery hours:") && text.contains("Price:"),
        "{text}"
    );
    assert!(check(&text, &p.shown).answered);
    assert_eq!(complete("Anything.", &[]).0, "Anything.");
}

#[test]
fn uncited_sentences_get_the_passage_that_states_them() {
    let mut ev = shown(2);
    ev[0].text = "Orbit 3: Battery life | 14 hours | price $1,349".into();
    ev[1].text = "Nadir Optics makes the Orbit 4 panels; lead time 12 weeks.".into();
    let c = check(
        "Orbit 3 lasts 14 hours. Nadir Optics makes the panels. It is great.",
        &ev,
    );
    assert_eq!(
        c.text,
        "Orbit 3 lasts 14 hours [1]. Nadir Optics makes the panels [2]. It is great."
    );
    assert_eq!(c.citations.len(), 2);
    // A number no passage states gets no citation.
    let c = check("It costs $999.", &ev);
    assert!(c.citations.is_empty());
}

#[test]
fn keeps_valid_citations_and_drops_invented_ones() {
    let c = check(
        "Orbit 4 lasts 19 hours [2] and costs $1,199 [2][7]. Orbit 3 [1, 9].",
        &shown(2),
    );
    assert_eq!(
        c.text,
        "Orbit 4 lasts 19 hours [2] and costs $1,199 [2]. Orbit 3 [1]."
    );
    assert_eq!(
        c.citations.iter().map(|c| c.n).collect::<Vec<_>>(),
        vec![2, 1]
    );
    assert!(c.answered);
    assert_eq!(c.notes.len(), 2);
    let plain = check("Look at [the page] for more.", &shown(1));
    assert_eq!(plain.text, "Look at [the page] for more.");
}

#[test]
fn drafts_are_settled_against_the_evidence() {
    let mut ev = shown(2);
    ev[0].text = "| Protocol / port | **UDP 51820** |".into();
    ev[1].text = "Tether to your phone.".into();
    let draft = |quotes: Vec<(usize, &str)>, answer: &str| Draft {
        quotes: quotes
            .into_iter()
            .map(|(evidence, q)| DraftQuote {
                evidence,
                quote: q.into(),
            })
            .collect(),
        answer: answer.into(),
    };
    // A quote attributed to the wrong passage counts for the right one.
    let (text, _) = settle(
        &draft(vec![(2, "UDP 51820")], "Open UDP 51820."),
        &ev,
        false,
        "",
    );
    assert_eq!(text, "Open UDP 51820 [1].");
    // An uncited answer cites the passage stating each figure, not the quote's for all.
    let mut two = shown(3);
    two[0].text = "Renew the VPN key every 180 days.".into();
    two[1].text = "Lunch is at noon.".into();
    two[2].text = "An SSH certificate expires after 16 hours.".into();
    let (text, _) = settle(
        &draft(
            vec![(1, "Renew the VPN key every 180 days")],
            "Renew the VPN key every 180 days. The SSH certificate lasts 16 hours.",
        ),
        &two,
        false,
        "",
    );
    assert_eq!(
        text,
        "Renew the VPN key every 180 days [1]. The SSH certificate lasts 16 hours [3]."
    );
    // Markdown and table bars in the passage do not fail a faithful quote.
    let (text, _) = settle(
        &draft(vec![(1, "Protocol / port UDP 51820")], "UDP 51820 [1]."),
        &ev,
        false,
        "",
    );
    assert_eq!(text, "UDP 51820 [1].");
    // An invented quote: the wiki does not say, whatever the answer claims.
    let (text, notes) = settle(
        &draft(vec![(1, "TCP 443")], "Open TCP 443 [1]."),
        &ev,
        false,
        "",
    );
    assert_eq!(text, NOT_IN_WIKI);
    assert_eq!(notes.len(), 1);
    // The note says a quote was dropped without repeating it (it may be injected text).
    assert!(
        notes[0].contains("[1]") && !notes[0].contains("TCP 443"),
        "{notes:?}"
    );
    // Two sentences run together and cut short: no quote, but no invention either, so an
    // answer whose figures the evidence states stands.
    let mut lakes = shown(1);
    lakes[0].text =
        "Levels are read monthly at the dam. Orla Tarn holds 6,100 ML. Vela Mere holds 3,900 ML."
            .into();
    let glued = |answer: &str| draft(vec![(1, "read monthly at the dam Orla Tarn holds")], answer);
    let (text, notes) = settle(&glued("Orla Tarn holds 6,100 ML."), &lakes, false, "");
    assert_eq!(text, "Orla Tarn holds 6,100 ML.");
    assert!(notes[0].contains("joins or cuts"), "{notes:?}");
    // ... and one whose figure it does not state is not answered.
    let (text, _) = settle(&glued("Orla Tarn holds 6,400 ML."), &lakes, false, "");
    assert_eq!(text, NOT_IN_WIKI);
    // A refusal stays one, whatever was quoted: a verified quote from a nearby passage
    // never turns it into an answer.
    let (text, _) = settle(
        &draft(vec![(1, "UDP 51820")], "The wiki does not say."),
        &ev,
        false,
        "",
    );
    assert_eq!(text, NOT_IN_WIKI);
    // No quotes, but every number of the answer is stated by the evidence: it stands.
    let (text, notes) = settle(&draft(vec![], "Open UDP port 51820."), &ev, false, "");
    assert_eq!(text, "Open UDP port 51820.");
    assert_eq!(notes.len(), 1);
    // A quote copied from the conversation (an earlier answer) is no quote, and no invention:
    // the answer stands when the evidence states its figures, as without quotes.
    let said = "Q: What is the SSH port?\nA: The SSH port is 2222 [1].";
    let copied = draft(
        vec![(1, "The SSH port is 2222 [1].")],
        "Open UDP port 51820 [1].",
    );
    let (text, notes) = settle(&copied, &ev, false, said);
    assert_eq!(text, "Open UDP port 51820 [1].");
    assert!(notes[0].contains("from the conversation"), "{notes:?}");
    let (text, _) = settle(&copied, &ev, false, "");
    assert_eq!(text, NOT_IN_WIKI);
    let copied = draft(
        vec![(1, "The SSH port is 2222")],
        "Open UDP port 51821 [1].",
    );
    assert_eq!(settle(&copied, &ev, false, said).0, NOT_IN_WIKI);
    // No quotes and a number no passage states, or no number to check: not in the wiki.
    let (text, _) = settle(&draft(vec![], "Open UDP port 51821."), &ev, false, "");
    assert_eq!(text, NOT_IN_WIKI);
    let (text, _) = settle(&draft(vec![], "Tether to your phone."), &ev, false, "");
    assert_eq!(text, NOT_IN_WIKI);
    // A stated figure given for a model the evidence does not name: not in the wiki.
    let (text, _) = settle(&draft(vec![], "Orbit 5 uses UDP 51820."), &ev, false, "");
    assert_eq!(text, NOT_IN_WIKI);
    // The number of a name is not a figure.
    ev[1].text = "Orbit 3 is discontinued.".into();
    let (text, _) = settle(
        &draft(vec![], "The Orbit 3 band is the top one."),
        &ev,
        false,
        "",
    );
    assert_eq!(text, NOT_IN_WIKI);
    // Computed facts stand on their own.
    let (text, _) = settle(&draft(vec![], "It is 5 hours longer [1]."), &ev, true, "");
    assert_eq!(text, "It is 5 hours longer [1].");
}

#[test]
fn refusals_are_marked_unanswered() {
    let c = check("The wiki does not say.", &shown(3));
    assert!(!c.answered);
    assert!(c.citations.is_empty());
    let c = check("The evidence does not mention a door code.", &shown(3));
    assert!(!c.answered);
    // A page that says something is not published yet states a fact: that is an answer.
    let c = check("The new rate is not published until May [1].", &shown(3));
    assert!(c.answered);
    let mut ev = shown(1);
    ev[0].text = "Nadir Optics: standard lead time 12 weeks.".into();
    let partial = check(
        "The lead time is 12 weeks. The wiki does not say who pays.",
        &ev,
    );
    assert!(partial.answered, "a partial answer is an answer");
    // The pages a refusal lists as nearest get no citation, whatever words they share.
    let refusal = "The wiki does not say. The nearest pages are: Nadir Optics lead time.";
    assert_eq!(check(refusal, &ev).text, refusal);
    assert_eq!(
        partial.text,
        "The lead time is 12 weeks [1]. The wiki does not say who pays."
    );
    let uncited = check("It is 12 weeks.", &shown(1));
    assert!(uncited.citations.is_empty());
    assert!(uncited.answered);
    assert!(
        uncited
            .notes
            .iter()
            .any(|n| n.contains("cites no evidence"))
    );
}

#[test]
fn a_quote_may_begin_with_the_heading_it_was_shown_under() {
    let mut ev = shown(1);
    ev[0].heading = "Quarry depot > Gate".into();
    ev[0].text = "The gate opens at 06:15 on weekdays.".into();
    let draft = Draft {
        quotes: vec![DraftQuote {
            evidence: 1,
            quote: "Gate: The gate opens at 06:15 on weekdays.".into(),
        }],
        answer: "It opens at 06:15.".into(),
    };
    let (text, notes) = settle(&draft, &ev, false, "");
    assert_eq!(text, "It opens at 06:15 [1].", "{notes:?}");
    // ... or put that heading before a later line, which it does not stand before.
    ev[0].text = "Weekdays | 06:15\nSaturdays | 08:00".into();
    for quote in [
        "t > Quarry depot > Gate: Saturdays | 08:00",
        "Gate: Saturdays | 08:00",
    ] {
        let draft = Draft {
            quotes: vec![DraftQuote {
                evidence: 1,
                quote: quote.into(),
            }],
            answer: "On Saturdays it opens at 08:00.".into(),
        };
        let (text, notes) = settle(&draft, &ev, false, "");
        assert_eq!(
            text, "On Saturdays it opens at 08:00 [1].",
            "{quote}: {notes:?}"
        );
    }
    // A line the passage does not have is still invented, label or not.
    let draft = Draft {
        quotes: vec![DraftQuote {
            evidence: 1,
            quote: "Gate: Sundays | 09:00".into(),
        }],
        answer: "On Sundays it opens at 09:00.".into(),
    };
    assert_eq!(settle(&draft, &ev, false, "").0, NOT_IN_WIKI);
}

#[test]
fn figures_no_passage_states_are_invented() {
    let mut ev = shown(2);
    ev[0].text = "The depot desk is staffed 07:45–17:30 on weekdays.".into();
    ev[1].heading = "Vessel 7 > Crew".into();
    ev[1].text = "Each shift has 4 deckhands.".into();
    let none: Vec<String> = Vec::new();
    assert_eq!(
        invented_figures("The desk opens at 07:45 and closes at 17:30 [1].", &ev, ""),
        none
    );
    // The same times on a 12-hour clock, and a name's number, are not invented.
    assert_eq!(
        invented_figures(
            "From 7:45 am to 5:30 pm; Vessel 7 has 4 deckhands.",
            &ev,
            ""
        ),
        none
    );
    assert_eq!(
        invented_figures(
            "We sold 212 units in Q3 2025 [2].",
            &ev,
            "How many in Q3 2025?"
        ),
        vec!["212".to_string()]
    );
    // A refusal states nothing.
    assert_eq!(
        invented_figures("The wiki does not say 212.", &ev, ""),
        none
    );
    assert_eq!(
        vet("Each shift has 5 deckhands [2].", &ev, Some(""), &[]),
        Vetted::Invented(vec!["5".into()])
    );
    // A zero or a fraction with a unit is a claim too; a bare fraction is not.
    assert_eq!(
        invented_figures("The depot paid out $0 in refunds [1].", &ev, ""),
        vec!["0".to_string()]
    );
    assert_eq!(
        invented_figures("Deckhands are paid $0.65 per hour [2].", &ev, ""),
        vec!["0.65".to_string()]
    );
    assert_eq!(
        invented_figures("About 0.5 of the crew is on shift [2].", &ev, ""),
        none
    );
    // With facts the plan read, their figures are given, and arithmetic of the model's own
    // over them is not.
    let given = "A 3-night stay?\n\nFacts computed from the evidence:\n- berth, fee: 250 USD [1]";
    assert_eq!(
        vet("A berth costs 250 USD a night [1].", &ev, Some(given), &[]),
        Vetted::Supported
    );
    assert_eq!(
        vet("Three nights cost 750 USD [1].", &ev, Some(given), &[]),
        Vetted::Invented(vec!["750".into()])
    );
    // Arithmetic written out is checked by code: a result that holds over stated figures is
    // known, a wrong one or one over a figure nobody stated is not.
    assert_eq!(
        vet("3 * 250 USD = 750 USD [1].", &ev, Some(given), &[]),
        Vetted::Supported
    );
    assert_eq!(
        vet("3 * 250 USD = 800 USD [1].", &ev, Some(given), &[]),
        Vetted::Invented(vec!["800".into()])
    );
    assert_eq!(
        vet("3 * 260 USD = 780 USD [1].", &ev, Some(given), &[]),
        Vetted::Invented(vec!["260".into()])
    );
}

#[test]
fn an_answer_from_passages_about_something_else_is_off_subject() {
    let cite = |n: usize, source: &str, title: &str, heading: &str, text: &str| Citation {
        n,
        source: source.into(),
        heading: heading.into(),
        title: title.into(),
        text: text.into(),
    };
    let ev = vec![
        cite(
            1,
            "sites/brill.md",
            "Brill yard",
            "Brill yard > Access",
            "Door code: ask the warden.",
        ),
        cite(
            2,
            "sites/kestow.md",
            "Kestow yard",
            "Kestow yard > Access",
            "Door code 4471, changed monthly.",
        ),
        cite(
            3,
            "hr/leave.md",
            "Leave",
            "Leave > Yards",
            "Brill and Kestow staff book leave in Rota.",
        ),
    ];
    let question = "What is the door code at Brill?";
    let found = subjects(question, &ev);
    assert_eq!(found, vec!["brill".to_string()]);
    assert_eq!(
        vet("The door code is 4471 [2].", &ev, Some(question), &found),
        Vetted::OffSubject(vec!["brill".into()])
    );
    assert_eq!(
        vet("Ask the warden [1].", &ev, Some(question), &found),
        Vetted::Supported
    );
    // Asked again with the passages that name the subject, renumbered from 1.
    assert_eq!(naming_all(&found, &ev), vec![1, 3]);
    let prepared = Prepared {
        evidence_text: ev.iter().map(|c| c.line(400)).collect(),
        shown: ev.clone(),
        facts_text: String::new(),
        computed: Vec::new(),
        template: None,
        looked_up: None,
    };
    let less = prepared.restricted(&[1, 3], 400).expect("a smaller set");
    assert_eq!(
        less.shown.iter().map(|c| c.n).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(less.shown[1].source, "hr/leave.md");
    assert!(
        less.evidence_text
            .starts_with("[1] Brill yard > Brill yard > Access: Door code")
    );
    assert!(less.evidence_text.contains("\n[2] Leave > Leave > Yards: "));
    // Nothing to leave out, or nothing left: no second try.
    assert!(prepared.restricted(&[1, 2, 3], 400).is_none());
    assert!(prepared.restricted(&[], 400).is_none());
    // A word of the question no title or heading has is no subject.
    assert!(subjects("Which door code does Rota use?", &ev).is_empty());
    // A section the question names whole (two words or more) is one: the gate hours answer
    // must come from the passage about the gate, not the one about the loading bay.
    let site: Vec<Citation> = [
        (1, "Loading bay", "Open 06:00–14:00."),
        (2, "Main gate", "Open 07:30–18:00."),
        (3, "Access", "Ask the warden."),
    ]
    .iter()
    .map(|(n, section, text)| {
        let heading = format!("Brill yard > {section}");
        cite(*n, "sites/brill.md", "Brill yard", &heading, text)
    })
    .collect();
    let question = "When is the main gate open at Brill?";
    let found = subjects(question, &site);
    assert_eq!(found, vec!["brill".to_string(), "main gate".to_string()]);
    assert_eq!(
        vet("It is open 06:00–14:00 [1].", &site, Some(question), &found),
        Vetted::OffSubject(vec!["main gate".into()])
    );
    assert_eq!(
        vet("It is open 07:30–18:00 [2].", &site, Some(question), &found),
        Vetted::Supported
    );
    // One word is no section name ("access" is asked about in many ways).
    assert_eq!(
        subjects("How do I get access at Brill?", &site),
        vec!["brill"]
    );
    let refusal = not_supported(&ev);
    assert!(refusal.starts_with(NOT_IN_WIKI), "{refusal}");
    assert!(!check(&refusal, &ev).answered);
}

#[test]
fn a_quote_assembled_from_one_table_row_and_its_header_holds() {
    let mut ev = shown(1);
    ev[0].text = "| Works | Source | Capacity (m³/day) |\n|---|---|---|\n\
                  | Ostry works | River Ostry | 9,800 |\n| Brae works | Brae Loch | 12,400 |\n\
                  | Mass | 412 kg |"
        .into();
    let quote = |q: &str| Draft {
        quotes: vec![DraftQuote {
            evidence: 1,
            quote: q.into(),
        }],
        answer: "It is 9,800 m³/day.".into(),
    };
    let (text, _) = settle(
        &quote("Ostry works | Capacity (m³/day) | 9,800"),
        &ev,
        false,
        "",
    );
    assert_eq!(text, "It is 9,800 m³/day [1].");
    // A row written as "label: value".
    let (text, _) = settle(&quote("Mass: 412 kg"), &ev, false, "");
    assert_eq!(text, "It is 9,800 m³/day [1].");
    // A cell from another row, or a cell the table does not have, does not hold.
    let (text, _) = settle(
        &quote("Ostry works | Capacity (m³/day) | 12,400"),
        &ev,
        false,
        "",
    );
    assert_eq!(text, NOT_IN_WIKI);
    let (text, _) = settle(
        &quote("Ostry works | Capacity (m³/day) | 9,900"),
        &ev,
        false,
        "",
    );
    assert_eq!(text, NOT_IN_WIKI);
    // Header cells alone are no row.
    let (text, _) = settle(&quote("Works | Capacity (m³/day)"), &ev, false, "");
    assert_eq!(text, NOT_IN_WIKI);
    // A row as the closest lines list it, each cell after its header, holds.
    let listed = focus::lines_of(&ev[0].text);
    assert_eq!(
        listed[0],
        "Works: Ostry works | Source: River Ostry | Capacity (m³/day): 9,800"
    );
    let (text, _) = settle(&quote(&listed[0]), &ev, false, "");
    assert_eq!(text, "It is 9,800 m³/day [1].");
}

#[test]
fn values_looked_up_are_an_answer_only_when_all_were_read_and_nothing_computed() {
    use crate::agent::plan::{Plan, Step, validate};
    use crate::search::Hit;
    use crate::tools::step::testing::extracted;
    let plan = validate(
        &Plan {
            steps: vec![
                Step {
                    id: "s1".into(),
                    tool: "search".into(),
                    args: json!({"query": "Vela depot"}),
                    depends_on: Vec::new(),
                },
                Step {
                    id: "s2".into(),
                    tool: "extract".into(),
                    args: json!({"from": ["s1"], "fields": [
                        {"name": "floor_area", "type": "number", "unit": "m2", "description": "area"},
                        {"name": "bays", "type": "number", "unit": "", "description": "bays"}]}),
                    depends_on: vec!["s1".into()],
                },
            ],
        },
        8,
    )
    .unwrap();
    let evidence = EvidenceSet::default();
    let e = evidence.add(&Hit {
        score: 1.0,
        source: "sites/vela.md".into(),
        heading: "Depot".into(),
        text: "Floor area 2,400 m2 over 12 bays.".into(),
        title: "Vela depot".into(),
        chunk_index: 0,
    });
    let read = |fields: &[(&str, f64, &str, usize)]| {
        let outputs = BTreeMap::from([("s2".to_string(), extracted("Vela depot", fields))]);
        prepare(&plan, &outputs, &evidence, 6, 400)
    };
    let both = read(&[("floor_area", 2400.0, "m2", e), ("bays", 12.0, "", e)]);
    assert_eq!(both.template, None, "nothing was computed");
    assert_eq!(
        both.looked_up.as_deref(),
        Some("Vela depot, floor area: 2400 m2 [1]. Vela depot, bays: 12 [1].")
    );
    let mut one = extracted("Vela depot", &[("floor_area", 2400.0, "m2", e)]);
    if let StepOutput::Extract { facts, .. } = &mut one {
        facts.push(crate::tools::step::Fact {
            field: "bays".into(),
            evidence: None,
            value: None,
        });
    }
    let outputs = BTreeMap::from([("s2".to_string(), one)]);
    let one = prepare(&plan, &outputs, &evidence, 6, 400);
    assert_eq!(one.looked_up, None, "bays were not read");
}

#[test]
fn a_percentage_after_a_capitalised_word_is_a_figure_the_passage_states() {
    // "Below 45%" in a table cell is a figure, not a name like "Model 45".
    let c = Citation {
        n: 1,
        source: "p.html".into(),
        heading: "Alert levels".into(),
        title: "Irrigation rules".into(),
        text: "| Level | Trigger | Action |\n| --- | --- | --- |\n| 1 | Above 70% | Notices. |\n\
               | 2 | Below 45% | Sprinklers banned. |"
            .into(),
    };
    let question = "At what storage level are sprinklers banned?";
    let answer = "Sprinklers are banned below 45% [1].";
    assert!(invented_figures(answer, &[c], question).is_empty());
}

#[test]
fn figures_for_another_year_do_not_answer_a_question_about_a_year() {
    let mut ev = shown(3);
    ev[0].text = "Ferry fares 2026: €1.87 per trip.".into();
    ev[1].text = "The pier project completes in March 2027.".into();
    ev[2].text = "Ferry fares 2027: €1.95 per trip. Crew stipend: $400 per week.".into();
    let asked = "What will the ferry fare be in 2027?";
    assert_eq!(
        years_not_stated_with("The fare will be €1.87 in 2027 [1].", asked, &ev[..2]),
        vec!["2027".to_string()]
    );
    assert!(years_not_stated_with("The fare will be €1.95 [3].", asked, &ev).is_empty());
    // One passage stating a figure and naming the year is enough, and so is one that names
    // no year at all (a standing rule); an answer with no figure of its own is not checked.
    assert!(years_not_stated_with("$400 a week [3], and €1.87 [1].", asked, &ev).is_empty());
    let mut undated = shown(2);
    undated[0].text = "Crew stipend: $400 per week.".into();
    undated[1].text = "Ferry fares 2026: €1.87 per trip.".into();
    assert!(years_not_stated_with("The stipend is $400 a week [1].", asked, &undated).is_empty());
    assert!(years_not_stated_with("Ask the harbour office.", asked, &ev).is_empty());
    let text = no_figures_for(&["2027".into()], &ev[..1]);
    assert!(text.starts_with("The wiki does not say: no passage found gives figures for 2027."));
    assert!(!check(&text, &ev).answered);
}
