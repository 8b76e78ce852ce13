//! Byte sequences as Terraform (cty) writes them, built by hand from the
//! msgpack spec, and what the provider must send back.

use std::collections::BTreeMap;
use tfvalue::{Number, Type, Value, ValueErrorKind};

fn str_bytes(text: &str) -> Vec<u8> {
    assert!(text.len() < 32);
    let mut bytes = vec![0xa0 | text.len() as u8];
    bytes.extend_from_slice(text.as_bytes());
    bytes
}

fn object(entries: &[(&str, Value)]) -> Value {
    Value::Object(
        entries
            .iter()
            .map(|(name, value)| (name.to_string(), value.clone()))
            .collect(),
    )
}

fn decode(bytes: &[u8], ty: &Type) -> Value {
    Value::from_msgpack(bytes, ty).unwrap_or_else(|error| panic!("{bytes:02x?}: {error}"))
}

#[test]
fn null_is_nil_for_every_type() {
    for ty in [
        Type::Bool,
        Type::String,
        Type::Number,
        Type::Dynamic,
        Type::list(Type::String),
        Type::object([("a", Type::String)]),
        Type::tuple([Type::Bool]),
    ] {
        assert_eq!(decode(&[0xc0], &ty), Value::Null);
        assert_eq!(Value::Null.to_msgpack(&ty).unwrap(), [0xc0]);
    }
}

#[test]
fn unknown_is_extension_zero_and_any_extension_reads_as_unknown() {
    assert_eq!(
        Value::Unknown.to_msgpack(&Type::String).unwrap(),
        [0xd4, 0x00, 0x00]
    );
    assert_eq!(
        Value::Unknown.to_msgpack(&Type::Dynamic).unwrap(),
        [0xd4, 0x00, 0x00]
    );
    assert_eq!(decode(&[0xd4, 0x00, 0x00], &Type::String), Value::Unknown);

    // A refined unknown string: ext8, type 12, payload {1: false, 2: "foo"}
    // (not null, starts with "foo").
    let mut refined = vec![0xc7, 0x08, 0x0c, 0x82, 0x01, 0xc2, 0x02];
    refined.extend(str_bytes("foo"));
    assert_eq!(decode(&refined, &Type::String), Value::Unknown);

    // A refined unknown list with a length range, and extension forms of every width.
    let bounded = [0xc7, 0x05, 0x0c, 0x82, 0x05, 0x01, 0x06, 0x03];
    assert_eq!(decode(&bounded, &Type::list(Type::String)), Value::Unknown);
    for extension in [
        vec![0xd5, 0x0c, 0, 0],
        vec![0xd6, 0x01, 0, 0, 0, 0],
        vec![0xd7, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0],
        [vec![0xd8, 0x02], vec![0; 16]].concat(),
        vec![0xc7, 0x00, 0x00],
        vec![0xc8, 0x00, 0x01, 0x05, 0xaa],
        vec![0xc9, 0x00, 0x00, 0x00, 0x01, 0x05, 0xaa],
    ] {
        assert_eq!(
            decode(&extension, &Type::Number),
            Value::Unknown,
            "{extension:02x?}"
        );
    }
}

#[test]
fn unknowns_nested_inside_known_values() {
    let ty = Type::object([("id", Type::String), ("ports", Type::list(Type::Number))]);
    // {"id": <unknown>, "ports": [22, <unknown>]}
    let mut bytes = vec![0x82];
    bytes.extend(str_bytes("id"));
    bytes.extend([0xd4, 0x00, 0x00]);
    bytes.extend(str_bytes("ports"));
    bytes.extend([0x92, 0x16, 0xd4, 0x00, 0x00]);
    let value = decode(&bytes, &ty);
    assert_eq!(
        value,
        object(&[
            ("id", Value::Unknown),
            ("ports", Value::List(vec![22.into(), Value::Unknown])),
        ])
    );
    assert!(value.is_known() && !value.is_wholly_known());
    assert_eq!(value.to_msgpack(&ty).unwrap(), bytes);
}

#[test]
fn numbers_decode_from_every_msgpack_number_form() {
    let cases: Vec<(Vec<u8>, Number)> = vec![
        (vec![0x05], 5.into()),
        (vec![0x7f], 127.into()),
        (vec![0xff], (-1).into()),
        (vec![0xe0], (-32).into()),
        (vec![0xcc, 0xff], 255.into()),
        (vec![0xcd, 0x01, 0x00], 256.into()),
        (vec![0xce, 0xff, 0xff, 0xff, 0xff], u32::MAX.into()),
        (
            vec![0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            u64::MAX.into(),
        ),
        (vec![0xd0, 0x80], (-128).into()),
        (vec![0xd1, 0x80, 0x00], i16::MIN.into()),
        (vec![0xd2, 0x80, 0x00, 0x00, 0x00], i32::MIN.into()),
        (vec![0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0], i64::MIN.into()),
        (vec![0xca, 0x3f, 0xc0, 0x00, 0x00], 1.5.into()),
        (vec![0xcb, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0], 0.5.into()),
        (vec![0xcb, 0x40, 0x45, 0, 0, 0, 0, 0, 0], 42.into()),
        (
            vec![0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0],
            f64::INFINITY.into(),
        ),
        (str_bytes("0.1"), "0.1".parse().unwrap()),
        (str_bytes("1e400"), "1e400".parse().unwrap()),
        (str_bytes("-12.50"), "-12.5".parse().unwrap()),
        (vec![0xc4, 0x02, b'4', b'2'], 42.into()),
    ];
    for (bytes, expected) in cases {
        assert_eq!(
            decode(&bytes, &Type::Number),
            Value::Number(expected),
            "{bytes:02x?}"
        );
    }
}

#[test]
fn numbers_encode_as_ints_floats_or_decimal_text() {
    let encode = |number: Number| Value::Number(number).to_msgpack(&Type::Number).unwrap();
    assert_eq!(encode(1.into()), [0x01]);
    assert_eq!(encode((-1).into()), [0xff]);
    assert_eq!(encode(300.into()), [0xcd, 0x01, 0x2c]);
    assert_eq!(encode(i64::MIN.into()), [0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(encode(0.5.into()), [0xcb, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        encode(f64::NEG_INFINITY.into()),
        [0xcb, 0xff, 0xf0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(encode("0.1".parse().unwrap()), str_bytes("0.1"));
    assert_eq!(encode(u64::MAX.into()), str_bytes("18446744073709551615"));
    // Whole, and exact as a float64, but beyond i64: cty writes these as text too.
    assert_eq!(
        encode((1u64 << 63).into()),
        str_bytes("9223372036854775808")
    );
}

#[test]
fn bad_numbers_are_errors() {
    let nan = [0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0];
    assert!(Value::from_msgpack(&nan, &Type::Number).is_err());
    let error = Value::from_msgpack(&str_bytes("twelve"), &Type::Number).unwrap_err();
    assert!(
        matches!(error.kind(), ValueErrorKind::InvalidNumber(_)),
        "{error}"
    );
    let error = Value::from_msgpack(&[0xc3], &Type::Number).unwrap_err();
    assert_eq!(error.to_string(), "expected number, found bool");
}

#[test]
fn dynamic_values_are_type_and_value_pairs() {
    // [bin "\"string\"", "hello"]
    let mut bytes = vec![0x92, 0xc4, 0x08];
    bytes.extend(b"\"string\"");
    bytes.extend(str_bytes("hello"));
    assert_eq!(decode(&bytes, &Type::Dynamic), Value::from("hello"));
    assert_eq!(
        Value::from("hello").to_msgpack(&Type::Dynamic).unwrap(),
        bytes
    );

    // The type may come as str rather than bin.
    let type_json = br#"["list","number"]"#;
    let mut bytes = vec![0x92, 0xd9, type_json.len() as u8];
    bytes.extend(type_json);
    bytes.extend([0x92, 0x01, 0x02]);
    assert_eq!(
        decode(&bytes, &Type::Dynamic),
        Value::List(vec![1.into(), 2.into()])
    );

    // A dynamic attribute inside an object, and an unknown one.
    let ty = Type::object([("extra", Type::Dynamic)]);
    let mut bytes = vec![0x81];
    bytes.extend(str_bytes("extra"));
    bytes.extend([0x92, 0xc4, 0x06]);
    bytes.extend(b"\"bool\"");
    bytes.push(0xc3);
    assert_eq!(decode(&bytes, &ty), object(&[("extra", true.into())]));
    let mut unknown = vec![0x81];
    unknown.extend(str_bytes("extra"));
    unknown.extend([0xd4, 0, 0]);
    assert_eq!(decode(&unknown, &ty), object(&[("extra", Value::Unknown)]));
}

#[test]
fn malformed_dynamic_values_are_errors() {
    let ty = Type::Dynamic;
    assert!(Value::from_msgpack(&[0x91, 0xc4, 0x00], &ty).is_err());
    let mut bad_type = vec![0x92, 0xc4, 0x09];
    bad_type.extend(b"\"integer\"");
    bad_type.push(0x01);
    let error = Value::from_msgpack(&bad_type, &ty).unwrap_err();
    assert!(error.to_string().contains("unknown type name"), "{error}");
    assert!(Value::from_msgpack(&str_bytes("hello"), &ty).is_err());
}

#[test]
fn objects_write_every_attribute_and_read_missing_ones_as_null() {
    let ty = Type::object([("a", Type::String), ("b", Type::Number)]);
    let mut full = vec![0x82];
    full.extend(str_bytes("a"));
    full.extend(str_bytes("x"));
    full.extend(str_bytes("b"));
    full.push(0xc0);
    assert_eq!(object(&[("a", "x".into())]).to_msgpack(&ty).unwrap(), full);

    let mut partial = vec![0x81];
    partial.extend(str_bytes("a"));
    partial.extend(str_bytes("x"));
    assert_eq!(
        decode(&partial, &ty),
        object(&[("a", "x".into()), ("b", Value::Null)])
    );
    assert_eq!(
        decode(&[0x80], &ty),
        object(&[("a", Value::Null), ("b", Value::Null)])
    );
}

#[test]
fn objects_reject_attributes_outside_their_type() {
    let ty = Type::object([("a", Type::String)]);
    let mut bytes = vec![0x81];
    bytes.extend(str_bytes("zone"));
    bytes.push(0x01);
    let error = Value::from_msgpack(&bytes, &ty).unwrap_err();
    assert_eq!(
        error.kind(),
        &ValueErrorKind::UnsupportedAttribute("zone".into())
    );
    assert!(error.to_string().contains("\"zone\""), "{error}");

    let error = object(&[("a", "x".into()), ("zone", 1.into())])
        .to_msgpack(&ty)
        .unwrap_err();
    assert!(error.to_string().contains("\"zone\""), "{error}");
}

#[test]
fn collections_are_arrays_and_maps() {
    let list = [0x92, 0xa1, b'a', 0xa1, b'b'];
    let elements = vec![Value::from("a"), Value::from("b")];
    assert_eq!(
        decode(&list, &Type::list(Type::String)),
        Value::List(elements.clone())
    );
    assert_eq!(
        decode(&list, &Type::set(Type::String)),
        Value::Set(elements.clone())
    );
    assert_eq!(
        decode(&list, &Type::tuple([Type::String, Type::String])),
        Value::Tuple(elements.clone())
    );
    assert_eq!(
        Value::Set(elements.clone())
            .to_msgpack(&Type::set(Type::String))
            .unwrap(),
        list
    );
    // What serde produces (lists) may be sent as sets or tuples: the type decides.
    assert_eq!(
        Value::List(elements)
            .to_msgpack(&Type::set(Type::String))
            .unwrap(),
        list
    );

    let map = [0x81, 0xa1, b'k', 0xa1, b'v'];
    let entries = BTreeMap::from([("k".to_string(), Value::from("v"))]);
    assert_eq!(
        decode(&map, &Type::map(Type::String)),
        Value::Map(entries.clone())
    );
    assert_eq!(
        Value::Map(entries)
            .to_msgpack(&Type::map(Type::String))
            .unwrap(),
        map
    );

    // array16 / map16 headers.
    let mut long = vec![0xdc, 0x00, 0x11];
    long.extend([0x07; 17]);
    assert_eq!(
        decode(&long, &Type::list(Type::Number)),
        Value::List(vec![7.into(); 17])
    );
    assert_eq!(
        decode(&[0xde, 0x00, 0x00], &Type::map(Type::Bool)),
        Value::Map(BTreeMap::new())
    );
}

#[test]
fn tuples_have_a_fixed_length() {
    let ty = Type::tuple([Type::String, Type::Number]);
    let error = Value::from_msgpack(&[0x91, 0xa1, b'a'], &ty).unwrap_err();
    assert_eq!(
        error.kind(),
        &ValueErrorKind::TupleLength {
            expected: 2,
            found: 1
        }
    );
    let error = Value::Tuple(vec!["a".into()]).to_msgpack(&ty).unwrap_err();
    assert_eq!(
        error.kind(),
        &ValueErrorKind::TupleLength {
            expected: 2,
            found: 1
        }
    );
}

#[test]
fn errors_name_the_path_to_the_offending_part() {
    let ty = Type::object([(
        "controllers",
        Type::map(Type::object([("port", Type::Number)])),
    )]);
    let mut bytes = vec![0x81];
    bytes.extend(str_bytes("controllers"));
    bytes.push(0x81);
    bytes.extend(str_bytes("cp1"));
    bytes.push(0x81);
    bytes.extend(str_bytes("port"));
    bytes.push(0xc3);
    let error = Value::from_msgpack(&bytes, &ty).unwrap_err();
    assert_eq!(
        error.to_string(),
        r#"controllers["cp1"].port: expected number, found bool"#
    );

    let value = object(&[(
        "controllers",
        Value::Map(BTreeMap::from([(
            "cp1".to_string(),
            object(&[("port", "22".into())]),
        )])),
    )]);
    let error = value.to_msgpack(&ty).unwrap_err();
    assert_eq!(
        error.to_string(),
        r#"controllers["cp1"].port: expected number, found string"#
    );

    let sets = Type::set(Type::object([("name", Type::String)]));
    let error = Value::Set(vec![object(&[("name", 1.into())])])
        .to_msgpack(&sets)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        r#"[{name = 1}].name: expected string, found number"#
    );
}

#[test]
fn framing_errors_are_reported() {
    let error = Value::from_msgpack(&[0x01, 0x02], &Type::Number).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("unexpected bytes after the value"),
        "{error}"
    );
    let error = Value::from_msgpack(&[0xcd, 0x01], &Type::Number).unwrap_err();
    assert!(error.to_string().contains("short"), "{error}");
    assert!(Value::from_msgpack(&[], &Type::Number).is_err());
    assert!(Value::from_msgpack(&[0xa2, 0xff, 0xfe], &Type::String).is_err());
    // A header claiming four billion elements must not allocate for them.
    let error =
        Value::from_msgpack(&[0xdd, 0xff, 0xff, 0xff, 0xff], &Type::list(Type::Bool)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "[0]: malformed msgpack: input ends where a value should start"
    );
}

#[test]
fn nesting_through_dynamic_types_is_bounded() {
    // Each level: [bin "\"dynamic\"", <next level>], without end.
    let mut bytes = Vec::new();
    for _ in 0..10_000 {
        bytes.extend([0x92, 0xc4, 0x09]);
        bytes.extend(b"\"dynamic\"");
    }
    bytes.push(0xc0);
    let error = Value::from_msgpack(&bytes, &Type::Dynamic).unwrap_err();
    assert!(
        matches!(error.kind(), ValueErrorKind::TooDeep(_)),
        "{error}"
    );
}

/// A configuration as Terraform sends it in PlanResourceChange, byte for
/// byte: object attributes in sorted order, fixints, a refined unknown.
#[test]
fn decodes_a_whole_resource_configuration() {
    let ty = Type::object([
        ("id", Type::String),
        ("k0s_version", Type::String),
        (
            "hosts",
            Type::list(Type::object([
                ("address", Type::String),
                ("port", Type::Number),
            ])),
        ),
        ("labels", Type::map(Type::String)),
    ]);
    let mut bytes = vec![0x84];
    bytes.extend(str_bytes("hosts"));
    bytes.push(0x91);
    bytes.push(0x82);
    bytes.extend(str_bytes("address"));
    bytes.extend(str_bytes("10.0.0.1"));
    bytes.extend(str_bytes("port"));
    bytes.push(0x16);
    bytes.extend(str_bytes("id"));
    bytes.extend([0xc7, 0x03, 0x0c, 0x81, 0x01, 0xc2]);
    bytes.extend(str_bytes("k0s_version"));
    bytes.extend(str_bytes("v1.29.3+k0s.0"));
    bytes.extend(str_bytes("labels"));
    bytes.push(0xc0);

    let value = decode(&bytes, &ty);
    assert!(value.get_attr("id").is_unknown());
    assert_eq!(
        value.get_attr("k0s_version").as_str(),
        Some("v1.29.3+k0s.0")
    );
    assert!(value.get_attr("labels").is_null());
    let hosts = value.get_attr("hosts").as_elements().unwrap();
    assert_eq!(hosts[0].get_attr("port").as_i64(), Some(22));

    // Re-encoding writes the refined unknown as a plain one, all else equal.
    let reencoded = value.to_msgpack(&ty).unwrap();
    assert_eq!(Value::from_msgpack(&reencoded, &ty).unwrap(), value);
}
