//! Property tests: encodings round-trip for any type and value, with nulls
//! and unknowns at every level, and no input makes decoding panic.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use std::collections::BTreeMap;
use tfvalue::{from_value, to_value, Number, Type, Value};

fn arb_type() -> impl Strategy<Value = Type> {
    let leaf = prop_oneof![
        Just(Type::Bool),
        Just(Type::Number),
        Just(Type::String),
        Just(Type::Dynamic),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(Type::list),
            inner.clone().prop_map(Type::set),
            inner.clone().prop_map(Type::map),
            btree_map("[a-z_]{1,6}", inner.clone(), 0..4).prop_map(Type::Object),
            vec(inner, 0..4).prop_map(Type::Tuple),
        ]
    })
}

fn arb_decimal_text() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        "[0-9]{1,45}",
        proptest::option::of("[0-9]{1,30}"),
        -420i32..420,
    )
        .prop_map(|(negative, whole, fraction, exponent)| {
            let sign = if negative { "-" } else { "" };
            match fraction {
                Some(fraction) => format!("{sign}{whole}.{fraction}e{exponent}"),
                None => format!("{sign}{whole}e{exponent}"),
            }
        })
}

fn arb_number(infinities: bool) -> BoxedStrategy<Number> {
    let finite = prop_oneof![
        any::<i64>().prop_map(Number::from),
        any::<u64>().prop_map(Number::from),
        any::<f64>()
            .prop_filter("finite", |float| float.is_finite())
            .prop_map(Number::from),
        arb_decimal_text().prop_map(|text| text.parse::<Number>().unwrap()),
    ];
    if infinities {
        prop_oneof![
            8 => finite,
            1 => prop_oneof![Just(f64::INFINITY), Just(f64::NEG_INFINITY)].prop_map(Number::from),
        ]
        .boxed()
    } else {
        finite.boxed()
    }
}

#[derive(Clone, Copy)]
struct Shape {
    unknowns: bool,
    infinities: bool,
    /// How many more dynamic values may pick a type of their own.
    dynamic_depth: u32,
}

fn arb_value_of(ty: &Type, shape: Shape) -> BoxedStrategy<Value> {
    let known: BoxedStrategy<Value> = match ty {
        Type::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Type::Number => arb_number(shape.infinities).prop_map(Value::Number).boxed(),
        Type::String => any::<String>().prop_map(Value::String).boxed(),
        Type::Dynamic if shape.dynamic_depth == 0 => prop_oneof![
            any::<bool>().prop_map(Value::Bool),
            "\\PC{0,8}".prop_map(Value::String)
        ]
        .boxed(),
        Type::Dynamic => {
            let deeper = Shape {
                dynamic_depth: shape.dynamic_depth - 1,
                ..shape
            };
            arb_type()
                .prop_flat_map(move |ty| arb_value_of(&ty, deeper))
                .boxed()
        }
        Type::List(element) => vec(arb_value_of(element, shape), 0..4)
            .prop_map(Value::List)
            .boxed(),
        Type::Set(element) => vec(arb_value_of(element, shape), 0..4)
            .prop_map(Value::Set)
            .boxed(),
        Type::Map(element) => btree_map(any::<String>(), arb_value_of(element, shape), 0..4)
            .prop_map(Value::Map)
            .boxed(),
        Type::Object(attributes) => {
            let names: Vec<String> = attributes.keys().cloned().collect();
            let values: Vec<_> = attributes
                .values()
                .map(|ty| arb_value_of(ty, shape))
                .collect();
            values
                .prop_map(move |values| Value::Object(names.iter().cloned().zip(values).collect()))
                .boxed()
        }
        Type::Tuple(elements) => {
            let values: Vec<_> = elements.iter().map(|ty| arb_value_of(ty, shape)).collect();
            values.prop_map(Value::Tuple).boxed()
        }
    };
    if shape.unknowns {
        prop_oneof![1 => Just(Value::Null), 1 => Just(Value::Unknown), 6 => known].boxed()
    } else {
        prop_oneof![1 => Just(Value::Null), 7 => known].boxed()
    }
}

fn arb_typed_value(shape: Shape) -> impl Strategy<Value = (Type, Value)> {
    arb_type().prop_flat_map(move |ty| {
        let values = arb_value_of(&ty, shape);
        (Just(ty), values)
    })
}

const ANY: Shape = Shape {
    unknowns: true,
    infinities: true,
    dynamic_depth: 2,
};

const JSON_REPRESENTABLE: Shape = Shape {
    unknowns: false,
    infinities: false,
    dynamic_depth: 2,
};

fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(position, byte, kind) in edits {
        if bytes.is_empty() {
            bytes.push(byte);
            continue;
        }
        let position = position % bytes.len();
        match kind % 3 {
            0 => bytes[position] = byte,
            1 => bytes.insert(position, byte),
            _ => bytes.truncate(position),
        }
    }
    bytes
}

// 256 cases each by default; set PROPTEST_CASES for a longer run.
proptest! {
    #[test]
    fn msgpack_round_trips((ty, value) in arb_typed_value(ANY)) {
        let bytes = value.to_msgpack(&ty).unwrap();
        prop_assert_eq!(Value::from_msgpack(&bytes, &ty).unwrap(), value);
    }

    #[test]
    fn json_round_trips_known_values((ty, value) in arb_typed_value(JSON_REPRESENTABLE)) {
        let bytes = value.to_json(&ty).unwrap();
        prop_assert_eq!(Value::from_json(&bytes, &ty).unwrap(), value);
    }

    #[test]
    fn json_refuses_values_with_unknowns((ty, value) in arb_typed_value(ANY)) {
        let written = value.to_json(&ty);
        if value.is_wholly_known() {
            // Only infinities, which JSON has no form for, may refuse then.
            if let Err(error) = written {
                prop_assert!(error.to_string().contains("infinity"), "{}", error);
            }
        } else {
            prop_assert!(written.is_err());
        }
    }

    #[test]
    fn types_round_trip_through_json(ty in arb_type()) {
        prop_assert_eq!(Type::from_json(&ty.to_json()).unwrap(), ty);
    }

    #[test]
    fn serde_passes_values_through_unchanged((_ty, value) in arb_typed_value(ANY)) {
        prop_assert_eq!(&to_value(&value).unwrap(), &value);
        prop_assert_eq!(from_value::<Value>(&value).unwrap(), value);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in vec(any::<u8>(), 0..96), ty in arb_type()) {
        let _ = Value::from_msgpack(&bytes, &ty);
        let _ = Value::from_msgpack(&bytes, &Type::Dynamic);
        let _ = Value::from_json(&bytes, &ty);
        let _ = Value::from_json(&bytes, &Type::Dynamic);
        let _ = Type::from_json(&bytes);
    }

    #[test]
    fn decoding_damaged_encodings_never_panics(
        (ty, value) in arb_typed_value(ANY),
        edits in vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
    ) {
        let damaged = mutate(value.to_msgpack(&ty).unwrap(), &edits);
        let _ = Value::from_msgpack(&damaged, &ty);
        if let Ok(json) = value.to_json(&ty) {
            let _ = Value::from_json(&mutate(json, &edits), &ty);
        }
    }

    #[test]
    fn floats_are_exact(float in any::<f64>().prop_filter("not NaN", |float| !float.is_nan())) {
        let number = Number::from(float);
        prop_assert_eq!(number.as_f64(), float);
        prop_assert!(number.is_f64_exact());
        prop_assert_eq!(number.to_exact_string().parse::<Number>().unwrap(), number.clone());
        // Display is the shortest text for the same f64.
        prop_assert_eq!(number.to_string().parse::<Number>().unwrap().as_f64(), float);
    }

    #[test]
    fn integers_are_exact(whole in any::<i64>()) {
        let number = Number::from(whole);
        prop_assert_eq!(number.as_i64(), Some(whole));
        prop_assert_eq!(number.to_string(), whole.to_string());
        prop_assert_eq!(Number::from(whole as f64) == number, (whole as f64) as i128 == i128::from(whole));
    }

    #[test]
    fn wide_integers_are_exact(signed in any::<i128>(), unsigned in any::<u128>()) {
        let number = Number::from(signed);
        prop_assert_eq!(number.to_string(), signed.to_string());
        prop_assert_eq!(number.as_i128(), Some(signed));
        prop_assert_eq!(Number::from(unsigned).to_string(), unsigned.to_string());
        let encoded = Value::from(unsigned).to_msgpack(&Type::Number).unwrap();
        prop_assert_eq!(Value::from_msgpack(&encoded, &Type::Number).unwrap(), Value::from(unsigned));
    }

    #[test]
    fn decimals_read_back_from_their_text(text in arb_decimal_text()) {
        let number: Number = text.parse().unwrap();
        prop_assert_eq!(number.to_exact_string().parse::<Number>().unwrap(), number.clone());
        let encoded = Value::Number(number.clone()).to_msgpack(&Type::Number).unwrap();
        prop_assert_eq!(Value::from_msgpack(&encoded, &Type::Number).unwrap(), Value::Number(number));
    }

    #[test]
    fn structs_round_trip_through_values(
        ports in btree_map("[a-z]{1,5}", any::<u16>(), 0..4),
        ratio in any::<f64>().prop_filter("finite", |float| float.is_finite()),
        name in proptest::option::of(any::<String>()),
    ) {
        #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        struct Spec {
            ports: BTreeMap<String, u16>,
            ratio: f64,
            name: Option<String>,
        }
        let spec = Spec { ports, ratio, name };
        let value = to_value(&spec).unwrap();
        prop_assert_eq!(from_value::<Spec>(&value).unwrap(), spec);
    }
}
