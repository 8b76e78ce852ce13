//! Reading and writing Rust structs, as the resources do with plans and state.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use tfvalue::{from_value, to_value, Number, Type, Unknowable, Value, ValueErrorKind};

fn object(entries: &[(&str, Value)]) -> Value {
    Value::Object(
        entries
            .iter()
            .map(|(name, value)| (name.to_string(), value.clone()))
            .collect(),
    )
}

fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(
        entries
            .iter()
            .map(|(name, value)| (name.to_string(), value.clone()))
            .collect(),
    )
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Vxlan,
    Ipip,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Calico {
    mode: Mode,
    mtu: Option<u16>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Host {
    address: String,
    port: u16,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Cluster {
    id: Unknowable<Option<String>>,
    #[serde(rename = "k0s_version")]
    version: String,
    controllers: BTreeMap<String, Host>,
    tags: Vec<String>,
    labels: HashMap<String, String>,
    calico: Option<Calico>,
    kubeconfig: Option<Unknowable<String>>,
}

fn cluster_value() -> Value {
    object(&[
        ("id", Value::Unknown),
        ("k0s_version", "v1.29.3+k0s.0".into()),
        (
            "controllers",
            map(&[(
                "cp1",
                object(&[("address", "10.0.0.1".into()), ("port", 22.into())]),
            )]),
        ),
        ("tags", Value::Set(vec!["a".into()])),
        ("labels", map(&[("role", "x".into())])),
        (
            "calico",
            object(&[("mode", "vxlan".into()), ("mtu", Value::Null)]),
        ),
        ("kubeconfig", Value::Null),
    ])
}

#[test]
fn reads_a_plan_into_a_struct() {
    let cluster: Cluster = from_value(&cluster_value()).unwrap();
    assert_eq!(
        cluster,
        Cluster {
            id: Unknowable::Unknown,
            version: "v1.29.3+k0s.0".into(),
            controllers: BTreeMap::from([(
                "cp1".into(),
                Host {
                    address: "10.0.0.1".into(),
                    port: 22
                }
            )]),
            tags: vec!["a".into()],
            labels: HashMap::from([("role".into(), "x".into())]),
            calico: Some(Calico {
                mode: Mode::Vxlan,
                mtu: None
            }),
            kubeconfig: None,
        }
    );
}

#[test]
fn writes_a_struct_back_to_an_equal_value() {
    let cluster: Cluster = from_value(&cluster_value()).unwrap();
    let written = to_value(&cluster).unwrap();
    // Sequences come out as lists; encoding by the schema type makes them sets again.
    let mut expected = cluster_value();
    *expected
        .at_path_mut(&tfvalue::AttributePath::root().attribute("tags"))
        .unwrap() = Value::List(vec!["a".into()]);
    assert_eq!(written, expected);

    let ty = Type::object([
        ("id", Type::String),
        ("k0s_version", Type::String),
        (
            "controllers",
            Type::map(Type::object([
                ("address", Type::String),
                ("port", Type::Number),
            ])),
        ),
        ("tags", Type::set(Type::String)),
        ("labels", Type::map(Type::String)),
        (
            "calico",
            Type::object([("mode", Type::String), ("mtu", Type::Number)]),
        ),
        ("kubeconfig", Type::String),
    ]);
    let bytes = written.to_msgpack(&ty).unwrap();
    assert_eq!(Value::from_msgpack(&bytes, &ty).unwrap(), cluster_value());
}

#[test]
fn unknowns_are_errors_outside_unknowable_with_the_path() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Network {
        calico: Calico,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Spec {
        network: Network,
    }
    let value = object(&[(
        "network",
        object(&[(
            "calico",
            object(&[("mode", Value::Unknown), ("mtu", Value::Null)]),
        )]),
    )]);
    let error = from_value::<Spec>(&value).unwrap_err();
    assert_eq!(
        error.to_string(),
        "value at network.calico.mode is not yet known"
    );
    assert_eq!(error.kind(), &ValueErrorKind::NotYetKnown);

    // A plain Option doesn't hide an unknown as None.
    let error = from_value::<Option<String>>(&Value::Unknown).unwrap_err();
    assert_eq!(error.to_string(), "value is not yet known");
}

#[test]
fn both_unknowable_nestings_distinguish_unknown_null_and_known() {
    type UnknownableOption = Unknowable<Option<u16>>;
    type OptionalUnknowable = Option<Unknowable<u16>>;
    assert_eq!(
        from_value::<UnknownableOption>(&Value::Unknown).unwrap(),
        Unknowable::Unknown
    );
    assert_eq!(
        from_value::<UnknownableOption>(&Value::Null).unwrap(),
        Unknowable::Known(None)
    );
    assert_eq!(
        from_value::<UnknownableOption>(&5.into()).unwrap(),
        Unknowable::Known(Some(5))
    );
    assert_eq!(
        from_value::<OptionalUnknowable>(&Value::Unknown).unwrap(),
        Some(Unknowable::Unknown)
    );
    assert_eq!(
        from_value::<OptionalUnknowable>(&Value::Null).unwrap(),
        None
    );
    assert_eq!(
        from_value::<OptionalUnknowable>(&5.into()).unwrap(),
        Some(Unknowable::Known(5))
    );
    // Without Option, null is no u16.
    assert!(from_value::<Unknowable<u16>>(&Value::Null).is_err());

    assert_eq!(
        to_value(&UnknownableOption::Unknown).unwrap(),
        Value::Unknown
    );
    assert_eq!(
        to_value(&UnknownableOption::Known(None)).unwrap(),
        Value::Null
    );
    assert_eq!(
        to_value(&OptionalUnknowable::Some(Unknowable::Unknown)).unwrap(),
        Value::Unknown
    );
    assert_eq!(to_value(&Unknowable::Known(7u16)).unwrap(), Value::from(7));
}

#[test]
fn attributes_absent_from_the_value_read_as_null() {
    let calico: Calico = from_value(&object(&[("mode", "ipip".into())])).unwrap();
    assert_eq!(
        calico,
        Calico {
            mode: Mode::Ipip,
            mtu: None
        }
    );
    let error = from_value::<Calico>(&object(&[("mtu", 1400.into())])).unwrap_err();
    assert_eq!(
        error.to_string(),
        "mode: expected an enum variant (a string, or an object with one attribute), found null"
    );
}

#[test]
fn numbers_are_range_checked_with_a_clear_error() {
    let value = object(&[(
        "controllers",
        map(&[(
            "cp1",
            object(&[("address", "a".into()), ("port", 70000.into())]),
        )]),
    )]);
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Controllers {
        controllers: BTreeMap<String, Host>,
    }
    let error = from_value::<Controllers>(&value).unwrap_err();
    assert_eq!(
        error.to_string(),
        r#"controllers["cp1"].port: 70000 is out of range for u16"#
    );

    let error = from_value::<u8>(&Value::from(1.5)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "1.5 is not a whole number, which u8 requires"
    );
    let error = from_value::<i32>(&Value::from("12")).unwrap_err();
    assert_eq!(error.to_string(), r#"expected i32, found string "12""#);
    assert_eq!(from_value::<i8>(&Value::from(-128)).unwrap(), -128);
    assert_eq!(from_value::<u64>(&Value::from(u64::MAX)).unwrap(), u64::MAX);
    assert!(from_value::<u64>(&Value::from(-1)).is_err());
    assert_eq!(from_value::<f64>(&Value::from(0.25)).unwrap(), 0.25);
    assert_eq!(from_value::<f64>(&Value::from(3)).unwrap(), 3.0);
    let huge = Value::Number("1e400".parse().unwrap());
    assert_eq!(
        from_value::<f64>(&huge).unwrap_err().to_string(),
        "1e400 is out of range for f64"
    );
    assert!(from_value::<f32>(&Value::from(1e300)).is_err());
    assert_eq!(
        from_value::<f64>(&Value::from(f64::INFINITY)).unwrap(),
        f64::INFINITY
    );
}

#[test]
fn number_and_value_fields_pass_through_exactly() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Raw {
        ratio: Number,
        anything: Value,
    }
    let value = object(&[
        ("ratio", Value::Number("0.1".parse().unwrap())),
        (
            "anything",
            object(&[
                ("set", Value::Set(vec![Value::Unknown, 1.into()])),
                ("tuple", Value::Tuple(vec!["a".into(), Value::Null])),
                ("empty", Value::List(vec![])),
            ]),
        ),
    ]);
    let raw: Raw = from_value(&value).unwrap();
    assert_eq!(raw.ratio, "0.1".parse().unwrap());
    assert_eq!(&raw.anything, value.get_attr("anything"));
    assert_eq!(to_value(&raw).unwrap(), value);
    assert_eq!(
        from_value::<Value>(&Value::Unknown).unwrap(),
        Value::Unknown
    );
}

#[test]
fn enums_read_from_strings_and_single_attribute_objects() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Source {
        Default,
        Url(String),
        Mirror { host: String, port: u16 },
    }
    for (source, value) in [
        (Source::Default, Value::from("default")),
        (
            Source::Url("https://x".into()),
            object(&[("url", "https://x".into())]),
        ),
        (
            Source::Mirror {
                host: "m".into(),
                port: 80,
            },
            object(&[(
                "mirror",
                object(&[("host", "m".into()), ("port", 80.into())]),
            )]),
        ),
    ] {
        assert_eq!(to_value(&source).unwrap(), value);
        assert_eq!(from_value::<Source>(&value).unwrap(), source);
    }
    let error = from_value::<Source>(&Value::from("ftp")).unwrap_err();
    assert!(
        error.to_string().contains("unknown variant `ftp`"),
        "{error}"
    );
    let error =
        from_value::<Source>(&object(&[("mirror", object(&[("host", "m".into())]))])).unwrap_err();
    assert_eq!(error.to_string(), "mirror.port: expected u16, found null");
}

#[test]
fn serde_attributes_work() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Strict {
        #[serde(default = "default_port")]
        port: u16,
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    }
    fn default_port() -> u16 {
        22
    }
    // A null attribute is still there, so serde's default does not apply to it.
    assert!(from_value::<Strict>(&object(&[("port", Value::Null)])).is_err());
    #[derive(Debug, PartialEq, Deserialize)]
    struct Lenient {
        #[serde(deserialize_with = "tfvalue::null_as_default")]
        labels: BTreeMap<String, String>,
        #[serde(deserialize_with = "tfvalue::null_as_default")]
        port: u16,
    }
    let lenient: Lenient = from_value(&object(&[("labels", Value::Null)])).unwrap();
    assert_eq!(
        lenient,
        Lenient {
            labels: BTreeMap::new(),
            port: 0
        }
    );
    assert!(from_value::<Lenient>(&object(&[("port", Value::Unknown)])).is_err());
    let error =
        from_value::<Strict>(&object(&[("port", 1.into()), ("other", 1.into())])).unwrap_err();
    assert!(
        error.to_string().contains("unknown field `other`"),
        "{error}"
    );
    let written = to_value(&Strict {
        port: 1,
        note: None,
    })
    .unwrap();
    assert_eq!(written, object(&[("port", 1.into())]));
}

#[test]
fn map_keys_may_be_numbers_or_bools() {
    let value = map(&[("1", "a".into()), ("20", "b".into())]);
    let read: BTreeMap<u32, String> = from_value(&value).unwrap();
    assert_eq!(read, BTreeMap::from([(1, "a".into()), (20, "b".into())]));
    assert_eq!(to_value(&read).unwrap(), value);
    let error = from_value::<BTreeMap<u32, String>>(&map(&[("x", "a".into())])).unwrap_err();
    assert!(error.to_string().contains("key \"x\""), "{error}");
}

#[test]
fn rust_tuples_and_sequences() {
    let value = Value::Tuple(vec!["a".into(), 1.into()]);
    assert_eq!(to_value(&("a", 1)).unwrap(), value);
    assert_eq!(
        from_value::<(String, u8)>(&value).unwrap(),
        ("a".to_string(), 1)
    );
    assert_eq!(
        from_value::<Vec<u8>>(&Value::Set(vec![1.into()])).unwrap(),
        vec![1]
    );
    let error = from_value::<Vec<u8>>(&Value::List(vec![1.into(), "x".into()])).unwrap_err();
    assert_eq!(error.to_string(), r#"[1]: expected u8, found string "x""#);
    assert!(to_value(&f64::NAN).is_err());
}

#[test]
fn serialization_errors_name_the_path() {
    #[derive(Serialize)]
    struct Holder {
        values: Vec<f64>,
    }
    let error = to_value(&Holder {
        values: vec![1.0, f64::NAN],
    })
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "values[1]: NaN is not a number Terraform can hold"
    );
}
