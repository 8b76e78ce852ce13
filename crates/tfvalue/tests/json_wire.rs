//! cty's JSON encoding: raw state as Terraform stores it, and what we write.

use std::collections::BTreeMap;
use tfvalue::{Number, Type, Value, ValueErrorKind};

fn object(entries: &[(&str, Value)]) -> Value {
    Value::Object(
        entries
            .iter()
            .map(|(name, value)| (name.to_string(), value.clone()))
            .collect(),
    )
}

fn state_type() -> Type {
    Type::object([
        ("id", Type::String),
        ("port", Type::Number),
        ("ratio", Type::Number),
        ("enabled", Type::Bool),
        ("tags", Type::set(Type::String)),
        ("labels", Type::map(Type::String)),
        ("extra", Type::Dynamic),
        ("pair", Type::tuple([Type::String, Type::Number])),
    ])
}

#[test]
fn reads_raw_state_json() {
    let state = br#"{
        "id": "cluster-1",
        "port": 6443,
        "ratio": 0.1,
        "enabled": true,
        "tags": ["b", "a"],
        "labels": {"role": "controller"},
        "extra": {"value": [1, "x"], "type": ["tuple", ["number", "string"]]},
        "pair": ["k", 123456789012345678901234567890]
    }"#;
    let value = Value::from_json(state, &state_type()).unwrap();
    assert_eq!(
        value,
        object(&[
            ("id", "cluster-1".into()),
            ("port", 6443.into()),
            ("ratio", Value::Number("0.1".parse().unwrap())),
            ("enabled", true.into()),
            ("tags", Value::Set(vec!["a".into(), "b".into()])),
            (
                "labels",
                Value::Map(BTreeMap::from([("role".to_string(), "controller".into())]))
            ),
            ("extra", Value::Tuple(vec![1.into(), "x".into()])),
            (
                "pair",
                Value::Tuple(vec![
                    "k".into(),
                    Value::Number("123456789012345678901234567890".parse().unwrap())
                ])
            ),
        ])
    );
    // 0.1 stays the decimal 0.1, not the nearest binary fraction.
    assert_ne!(value.get_attr("ratio"), &Value::from(0.1));
}

#[test]
fn missing_attributes_read_as_null_and_null_reads_for_any_type() {
    let value = Value::from_json(br#"{"id": "x", "extra": null}"#, &state_type()).unwrap();
    assert_eq!(value.get_attr("id"), &Value::from("x"));
    let entries = value.as_entries().unwrap();
    assert_eq!(entries.len(), 8);
    assert!(entries
        .iter()
        .filter(|(name, _)| *name != "id")
        .all(|(_, value)| value.is_null()));
    assert_eq!(
        Value::from_json(b"null", &state_type()).unwrap(),
        Value::Null
    );
}

#[test]
fn attributes_outside_the_type_are_an_error_unless_ignored() {
    let state = br#"{"id": "x", "removed_in_v2": 1}"#;
    let error = Value::from_json(state, &state_type()).unwrap_err();
    assert_eq!(
        error.kind(),
        &ValueErrorKind::UnsupportedAttribute("removed_in_v2".into())
    );
    let value = Value::from_json_ignoring_undefined_attributes(state, &state_type()).unwrap();
    assert_eq!(value.get_attr("id"), &Value::from("x"));
    assert!(value.as_entries().unwrap().get("removed_in_v2").is_none());
}

#[test]
fn primitives_convert_like_cty() {
    assert_eq!(
        Value::from_json(br#""42""#, &Type::Number).unwrap(),
        Value::from(42)
    );
    assert_eq!(
        Value::from_json(br#"1.50"#, &Type::String).unwrap(),
        Value::from("1.50")
    );
    assert_eq!(
        Value::from_json(br#"true"#, &Type::String).unwrap(),
        Value::from("true")
    );
    assert_eq!(
        Value::from_json(br#""false""#, &Type::Bool).unwrap(),
        Value::from(false)
    );
    assert!(Value::from_json(br#""yes""#, &Type::Bool).is_err());
    assert!(Value::from_json(br#""12abc""#, &Type::Number).is_err());
    let error = Value::from_json(br#"[1]"#, &Type::String).unwrap_err();
    assert_eq!(error.to_string(), "expected string, found array");
}

#[test]
fn writes_compact_json_with_exact_numbers() {
    let value = object(&[
        ("id", "cluster-1".into()),
        ("port", 6443.into()),
        ("ratio", Value::Number("0.1".parse().unwrap())),
        ("enabled", false.into()),
        ("tags", Value::Set(vec!["a".into()])),
        ("labels", Value::Map(BTreeMap::new())),
        ("extra", Value::List(vec![1.into(), 2.into()])),
        ("pair", Value::Tuple(vec!["k".into(), Value::from(0.5)])),
    ]);
    let json = value.to_json(&state_type()).unwrap();
    assert_eq!(
        String::from_utf8(json.clone()).unwrap(),
        r#"{"enabled":false,"extra":{"value":[1,2],"type":["list","number"]},"id":"cluster-1","labels":{},"pair":["k",0.5],"port":6443,"ratio":0.1,"tags":["a"]}"#
    );
    assert_eq!(Value::from_json(&json, &state_type()).unwrap(), value);
}

#[test]
fn absent_attributes_are_written_as_null() {
    let ty = Type::object([("a", Type::String), ("b", Type::list(Type::Number))]);
    let json = object(&[("a", "x".into())]).to_json(&ty).unwrap();
    assert_eq!(json, br#"{"a":"x","b":null}"#);
}

#[test]
fn binary_fractions_are_written_exactly_so_they_read_back_equal() {
    let value = Value::from(0.1);
    let json = value.to_json(&Type::Number).unwrap();
    assert_eq!(
        json,
        b"0.1000000000000000055511151231257827021181583404541015625"
    );
    assert_eq!(Value::from_json(&json, &Type::Number).unwrap(), value);
}

#[test]
fn unknowns_and_infinities_cannot_be_json() {
    let ty = Type::object([("hosts", Type::list(Type::String))]);
    let value = object(&[("hosts", Value::List(vec!["a".into(), Value::Unknown]))]);
    let error = value.to_json(&ty).unwrap_err();
    assert_eq!(
        error.to_string(),
        "hosts[1]: an unknown value cannot be written as JSON"
    );
    let error = Value::Number(Number::from(f64::INFINITY))
        .to_json(&Type::Number)
        .unwrap_err();
    assert!(error.to_string().contains("infinity"), "{error}");
}

#[test]
fn dynamic_values_carry_their_type() {
    assert_eq!(
        Value::from("a").to_json(&Type::Dynamic).unwrap(),
        br#"{"value":"a","type":"string"}"#
    );
    assert_eq!(Value::Null.to_json(&Type::Dynamic).unwrap(), b"null");
    let read = Value::from_json(br#"{"type":"number","value":"7"}"#, &Type::Dynamic).unwrap();
    assert_eq!(read, Value::from(7));
    for bad in [
        &br#"{"value":1}"#[..],
        br#"{"type":"number"}"#,
        br#"{"type":"number","value":1,"other":2}"#,
        br#"[1]"#,
    ] {
        assert!(
            Value::from_json(bad, &Type::Dynamic).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn errors_name_the_path() {
    let ty = Type::object([("nodes", Type::map(Type::object([("port", Type::Number)])))]);
    let error = Value::from_json(br#"{"nodes": {"w1": {"port": "high"}}}"#, &ty).unwrap_err();
    assert_eq!(
        error.to_string(),
        r#"nodes["w1"].port: "high" is not a valid number"#
    );
}
