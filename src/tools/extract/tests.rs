use super::focus::field_words;
use super::*;
use crate::providers::llm::fake::{MockTurn, ScriptedModel};

fn args() -> ExtractArgs {
    ExtractArgs {
        passages: vec![
            Passage {
                id: "p1".into(),
                text: "Orbit 4 is rated for **19 hours** of field use. Price (MSRP, USD): $1,199."
                    .into(),
            },
            Passage {
                id: "p2".into(),
                text: "The VPN uses UDP 51820.".into(),
            },
        ],
        fields: vec![
            FieldSpec {
                name: "battery_hours".into(),
                kind: FieldKind::Number,
                unit: Some("hours".into()),
                description: "battery life".into(),
            },
            FieldSpec {
                name: "price".into(),
                kind: FieldKind::Number,
                unit: Some("USD".into()),
                description: "list price".into(),
            },
        ],
        about: None,
    }
}

#[test]
fn focus_keeps_the_lines_about_the_fields() {
    let table = "Orbit 3 > Overview > Spec table:\n\n| Spec | Orbit 3 |\n|------|--------|\n\
                 | Model number | PT3-1025 |\n| Battery life | 14 hours |\n\
                 | Price (MSRP, USD) | $1,349 |\n| Weight | 1,140 g |\n| Display | 10.1-inch |";
    let fields = args().fields;
    let focused = focus(table, &fields);
    assert_eq!(
        focused,
        "Orbit 3 > Overview > Spec table:\n| Spec | Orbit 3 |\n| Battery life | 14 hours |\n\
         | Price (MSRP, USD) | $1,349 |"
    );
    // A word inside another word is no match: a passage about something else stays
    // whole, so the model sees there is nothing to extract.
    let vpn = "VPN > Settings:\n| Setting | Value |\n|---|---|\n| MTU | 1380 |\n\
               | Peer key lifetime | 180 days |";
    assert_eq!(focus(vpn, &fields), vpn);
    // Nothing about the fields, or too short to bother: the passage stays whole.
    let other = "Office\nThe VPN uses UDP 51820.\nPort 443 too.\nAsk IT.";
    assert_eq!(focus(other, &fields), other);
    assert_eq!(focus("a\nb", &fields), "a\nb");
    // Names and units first; descriptions (without proper names and function words) only
    // where no line has a name's word.
    let lead = [FieldSpec {
        name: "lead_time".into(),
        kind: FieldKind::Number,
        unit: Some("weeks".into()),
        description: "lead time of the Nadir LX-104B panel".into(),
    }];
    assert_eq!(field_words(&lead, false), ["lead", "time", "weeks"]);
    assert_eq!(field_words(&lead, true), ["lead", "time", "panel"]);
    let panel = "Parts\nScreens come from one supplier.\nThe panel ships in 12 weeks.\nAsk IT.";
    assert_eq!(focus(panel, &lead), "Parts\nThe panel ships in 12 weeks.");
    let by_description = "Parts\nScreens come from one supplier.\nOne panel per box.\nAsk IT.";
    assert_eq!(focus(by_description, &lead), "Parts\nOne panel per box.");
}

fn tool(turns: Vec<&str>) -> (Extractor, Arc<ScriptedModel>) {
    let model = Arc::new(ScriptedModel::new(
        turns
            .into_iter()
            .map(|t| MockTurn::Text(t.into()))
            .collect(),
    ));
    (Extractor::new(model.clone()), model)
}

#[tokio::test]
async fn verified_values_pass_and_units_normalise() {
    let (tool, model) = tool(vec![
        r#"{"battery_hours":{"passage":"p1","quote":"rated for 19 hours","value":19,"unit":"hours"},
            "price":{"passage":"p1","quote":"$1,199","value":1199,"unit":"$"}}"#,
    ]);
    let (x, calls) = tool.extract(&args()).await.unwrap();
    assert_eq!(calls.len(), 1);
    let b = x.values["battery_hours"].as_ref().unwrap();
    assert_eq!(
        (b.value.clone(), b.unit.as_deref()),
        (json!(19.0), Some("hours"))
    );
    let p = x.values["price"].as_ref().unwrap();
    assert_eq!(
        (p.value.clone(), p.unit.as_deref()),
        (json!(1199.0), Some("USD"))
    );
    // The schema the decoder got restricts passage ids to the given ones.
    let seen = model.seen.lock().unwrap();
    let schema = &seen[0].schema.as_ref().unwrap().schema;
    assert_eq!(
        schema["properties"]["price"]["properties"]["passage"]["enum"],
        json!(["p1", "p2", "none"])
    );
}

#[tokio::test]
async fn invented_value_gets_one_correction_then_is_dropped() {
    let invented = r#"{"battery_hours":{"passage":"p2","quote":"UDP 51820","value":24,"unit":"hours"},"price":{"passage":"none","quote":"","value":0,"unit":""}}"#;
    let (tool, model) = tool(vec![invented, invented]);
    let (x, calls) = tool.extract(&args()).await.unwrap();
    assert_eq!(calls.len(), 2, "one retry");
    assert_eq!(x.values["battery_hours"], None);
    assert_eq!(x.values["price"], None);
    assert!(x.notes[0].contains("unverifiable"), "{:?}", x.notes);
    let correction = model.last_message(1);
    assert!(correction.contains("battery_hours"), "{correction}");
}

#[tokio::test]
async fn without_corrections_an_invented_value_is_dropped_at_once() {
    let invented = r#"{"battery_hours":{"passage":"p2","quote":"UDP 51820","value":24,"unit":"hours"},"price":{"passage":"none","quote":"","value":0,"unit":""}}"#;
    let (tool, model) = tool(vec![invented, invented]);
    let tool = tool.with_corrections(false);
    let (x, calls) = tool.extract(&args()).await.unwrap();
    assert_eq!(calls.len(), 1, "no correction round");
    assert_eq!(model.seen.lock().unwrap().len(), 1);
    assert_eq!(x.values["battery_hours"], None);
    assert!(x.notes[0].contains("unverifiable"), "{:?}", x.notes);
}

#[tokio::test]
async fn a_value_stated_for_another_thing_is_sent_back_and_then_dropped() {
    let passages = vec![
        Passage {
            id: "p1".into(),
            text: "Perks > Home office: - Desk grant: $400 once.\n- Gym allowances of $45 per month."
                .into(),
        },
        Passage {
            id: "p2".into(),
            text: "Quillon Mk2 > Pricing: | Model | Price |\n|---|---|\n| Quillon Mk2 | $880 |"
                .into(),
        },
        Passage {
            id: "p3".into(),
            text: "Fleet specs: | Spec | Quillon Mk1 | Vantor |\n|---|---|---|\n| Price | $610 | $700 |"
                .into(),
        },
        Passage {
            id: "p4".into(),
            text: "Vantor 7 > Batteries: - Spare packs sell for $79 each.\n- A cable for 8 units costs $7."
                .into(),
        },
    ];
    let field = |name: &str| FieldSpec {
        name: name.into(),
        kind: FieldKind::Number,
        unit: Some("USD".into()),
        description: name.into(),
    };
    let ask = |about: &str| ExtractArgs {
        passages: passages.clone(),
        fields: vec![field("amount")],
        about: Some(about.into()),
    };
    // The desk grant's figure for the gym allowance: sent back, and dropped when repeated.
    let wrong =
        r#"{"amount":{"passage":"p1","quote":"Desk grant: $400 once.","value":400,"unit":"USD"}}"#;
    let (extractor, model) = tool(vec![wrong, wrong]);
    let (x, calls) = extractor.extract(&ask("gym allowance")).await.unwrap();
    assert_eq!((calls.len(), &x.values["amount"]), (2, &None));
    assert!(
        model
            .last_message(1)
            .contains("does not name gym allowance"),
        "{}",
        model.last_message(1)
    );
    // A name split between the heading and the quote ("Vantor" above, "8" below) names
    // nothing: Vantor 8's figure is not Vantor 7's line.
    let split = r#"{"amount":{"passage":"p4","quote":"A cable for 8 units costs $7.","value":7,"unit":"USD"}}"#;
    let (extractor, _) = tool(vec![split, split]);
    let (x, _) = extractor.extract(&ask("Vantor 8")).await.unwrap();
    assert_eq!(x.values["amount"], None, "{:?}", x.notes);
    // Named in the quote (a plural counts), in the heading, in the row a quoted cell is in, in
    // the table's header row, or, for plain words, by the heading and the quote together
    // ("Batteries" over "Spare packs").
    for (about, quote, value) in [
        ("gym allowance", "Gym allowances of $45 per month.", 45),
        ("Quillon Mk2", "| Quillon Mk2 | $880 |", 880),
        ("Quillon Mk1", "| Price | $610 | $700 |", 610),
        ("Quillon Mk2", "$880", 880),
        ("spare battery pack", "Spare packs sell for $79 each.", 79),
    ] {
        let passage = passages.iter().find(|p| p.text.contains(quote)).unwrap();
        let answer = json!({"amount": {"passage": passage.id, "quote": quote, "value": value, "unit": "USD"}});
        let (extractor, _) = tool(vec![&answer.to_string()]);
        let (x, calls) = extractor.extract(&ask(about)).await.unwrap();
        assert_eq!(calls.len(), 1, "{about}: {:?}", x.notes);
        let got = x.values["amount"].as_ref().and_then(|v| v.value.as_f64());
        assert_eq!(got, Some(f64::from(value)), "{about}");
    }
}

#[tokio::test]
async fn fabricated_quote_is_caught_and_the_retry_can_fix_it() {
    let (tool, _) = tool(vec![
        r#"{"battery_hours":{"passage":"p1","quote":"lasts 20 hours","value":20,"unit":"hours"},"price":null}"#,
        r#"{"battery_hours":{"passage":"p1","quote":"19 hours","value":19,"unit":"hours"},"price":null}"#,
    ]);
    let (x, _) = tool.extract(&args()).await.unwrap();
    assert_eq!(
        x.values["battery_hours"].as_ref().unwrap().value,
        json!(19.0)
    );
}

#[tokio::test]
async fn a_value_in_the_wrong_kind_of_unit_is_another_fact() {
    // A price offered as battery life (hours) is sent back, then dropped.
    let wrong = r#"{"battery_hours":{"passage":"p1","quote":"$1,199","value":1199,"unit":"USD"},"price":null}"#;
    let (tool, model) = tool(vec![wrong, wrong]);
    let (x, _) = tool.extract(&args()).await.unwrap();
    assert_eq!(x.values["battery_hours"], None);
    let correction = model.last_message(1);
    assert!(correction.contains("measured in hours"), "{correction}");
}

#[tokio::test]
async fn the_passage_holding_the_quote_wins_over_the_id_given() {
    let (tool, _) = tool(vec![
        r#"{"battery_hours":{"passage":"none","quote":"rated for **19 hours**","value":19,"unit":"hours"},"price":{"passage":"p2","quote":"$1,199","value":1199,"unit":"USD"}}"#,
    ]);
    let (x, calls) = tool.extract(&args()).await.unwrap();
    assert_eq!(calls.len(), 1, "no correction round needed");
    assert_eq!(x.values["battery_hours"].as_ref().unwrap().passage, "p1");
    assert_eq!(x.values["price"].as_ref().unwrap().passage, "p1");
}

#[tokio::test]
async fn a_right_number_with_a_wrong_quote_is_quoted_from_its_line() {
    let (tool, _) = tool(vec![
        r#"{"battery_hours":{"passage":"p1","quote":"The box contains a charger","value":19,"unit":"hours"},"price":null}"#,
    ]);
    let (x, calls) = tool.extract(&args()).await.unwrap();
    assert_eq!(calls.len(), 1);
    let b = x.values["battery_hours"].as_ref().unwrap();
    assert_eq!(b.passage, "p1");
    assert!(b.quote.contains("19 hours"), "{}", b.quote);
    // A quote no passage has (header cells put together with the value's cell) is quoted
    // from the line that states the value.
    let (tool, _) = tool_with(vec![
        r#"{"battery_hours":{"passage":"p1","quote":"Spec | Battery | 19 hours","value":19,"unit":"hours"},"price":null}"#,
    ]);
    let (x, calls) = tool.extract(&args()).await.unwrap();
    assert_eq!(calls.len(), 1);
    let b = x.values["battery_hours"].as_ref().unwrap();
    assert!(
        b.quote.contains("19 hours") && !b.quote.contains("Spec"),
        "{}",
        b.quote
    );
    // A number no passage states next to that unit stays unverifiable.
    let (tool, _) = tool_with(vec![
        r#"{"battery_hours":{"passage":"p1","quote":"x","value":21,"unit":"hours"},"price":null}"#,
        r#"{"battery_hours":null,"price":null}"#,
    ]);
    let (x, _) = tool.extract(&args()).await.unwrap();
    assert_eq!(x.values["battery_hours"], None);
}

#[test]
fn a_value_is_quoted_only_from_a_line_with_its_unit_as_a_word() {
    let passages = [Passage {
        id: "p1".into(),
        text: "| Config | 14 GB | 00:15 |\nMass: 0 g at rest; flow 12 m³/day".into(),
    }];
    // "g" is not the "g" of "GB": the 0 of "00:15" is no value in grams.
    let (id, line) = super::verify::value_line(&passages, 0.0, Some("g"), "mass").unwrap();
    assert_eq!((id.as_str(), line.as_str()), ("p1", "Mass: 0 g at rest"));
    assert!(super::verify::value_line(&passages[..], 14.0, Some("g"), "mass").is_none());
    assert!(super::verify::value_line(&passages, 12.0, Some("m³/day"), "flow").is_some());
}

#[test]
fn a_value_is_quoted_only_from_a_line_about_its_field() {
    let passages = [Passage {
        id: "p1".into(),
        text: "Orbit 7 > Build: rugged shell\n\n| Property | Value |\n|---|---|\n\
               | Weight | 412 g |\n| Ingress | IP67 |\n\nThe pack lasts 19 hours."
            .into(),
    }];
    // A number in grams given for a water rating is not quoted from the weight row.
    assert!(super::verify::value_line(&passages, 412.0, Some("g"), "water_dust_rating").is_none());
    // The row is about the weight by its own words, by its table's header row ("Property |
    // Value" for a "property value") or by the passage's heading.
    assert!(super::verify::value_line(&passages, 412.0, Some("g"), "weight").is_some());
    assert!(super::verify::value_line(&passages, 412.0, Some("g"), "property value").is_some());
    assert!(super::verify::value_line(&passages, 412.0, Some("g"), "build mass").is_some());
    // "launched" is about a launch date; words under four letters say nothing.
    assert!(super::verify::about("launch_date", "It launched on 2 May."));
    assert!(super::verify::about("per", "anything"));
    assert!(!super::verify::about(
        "battery_life",
        "The box contains a charger."
    ));
}

#[test]
fn the_number_of_a_name_is_no_value() {
    let passages = [Passage {
        id: "p1".into(),
        text: "Orbit 4 > Pricing: Orbit 4 costs $2,480 for 1–49 units.".into(),
    }];
    // "4" names the Orbit 4: it is not a count of units, however the line mentions units.
    assert!(super::verify::value_line(&passages, 4.0, Some("units"), "units").is_none());
    assert!(super::verify::value_line(&passages, 2480.0, Some("USD"), "price per unit").is_some());
}

#[tokio::test]
async fn a_quote_stating_a_value_only_in_a_name_is_rejected() {
    let mut a = args();
    a.fields[0] = FieldSpec {
        name: "units".into(),
        kind: FieldKind::Number,
        unit: Some("units".into()),
        description: "units".into(),
    };
    a.passages[0].text = "Orbit 4 ships in boxes of 10 units. Price (MSRP, USD): $1,199.".into();
    let (tool, _) = tool_with(vec![
        r#"{"units":{"passage":"p1","quote":"Orbit 4 ships in boxes","value":4,"unit":"units"},"price":null}"#,
        r#"{"units":null,"price":null}"#,
    ]);
    let (x, _) = tool.extract(&a).await.unwrap();
    assert_eq!(x.values["units"], None);
}

fn tool_with(turns: Vec<&str>) -> (Extractor, Arc<ScriptedModel>) {
    tool(turns)
}

#[test]
fn minutes_convert_to_hours_and_mismatches_are_noted() {
    let mut notes = Vec::new();
    let field = &args().fields[0];
    let raw = RawValue {
        passage: "p".into(),
        quote: "90 minutes".into(),
        value: json!(90),
        unit: Some("minutes".into()),
    };
    let out = normalise(field, raw, &mut notes);
    assert_eq!(out.value, json!(1.5));
    assert_eq!(out.unit.as_deref(), Some("hours"));
    assert_eq!(notes.len(), 1);
}

#[test]
fn a_rate_the_quote_states_is_kept_and_converted_only_to_a_rate() {
    let price = &args().fields[1];
    let raw = |unit: Option<&str>| RawValue {
        passage: "p".into(),
        quote: "Phone allowance of $60 per month".into(),
        value: json!(60),
        unit: unit.map(str::to_string),
    };
    // The model dropped the "per": the quote's rate is the value's unit; USD was asked for,
    // and a monthly amount is not one, so it is kept as stated.
    for unit in [Some("USD"), None] {
        let mut notes = Vec::new();
        let out = normalise(price, raw(unit), &mut notes);
        assert_eq!(
            (out.value, out.unit.as_deref()),
            (json!(60), Some("USD/month"))
        );
        assert_eq!(notes.len(), 1, "{notes:?}");
    }
    // Asked per year: converted.
    let yearly = FieldSpec {
        unit: Some("USD per year".into()),
        ..price.clone()
    };
    let out = normalise(&yearly, raw(Some("USD")), &mut Vec::new());
    assert_eq!(
        (out.value, out.unit.as_deref()),
        (json!(720.0), Some("USD per year"))
    );
    // A unit of another kind than the rate's is left to verification.
    let out = normalise(price, raw(Some("hours")), &mut Vec::new());
    assert_eq!(out.unit.as_deref(), Some("hours"));
}

#[tokio::test]
async fn bad_args_are_rejected_before_any_model_call() {
    let (tool, model) = tool(vec![]);
    let mut a = args();
    a.fields[1].name = "battery_hours".into();
    assert!(tool.extract(&a).await.is_err());
    a.passages.clear();
    assert!(tool.extract(&a).await.is_err());
    assert!(model.seen.lock().unwrap().is_empty());
}
