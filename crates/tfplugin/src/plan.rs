//! The plan rules every resource shares.
//!
//! - A configured value is planned as written.
//! - A null optional attribute with a default is planned as the default.
//! - A null computed attribute keeps its prior value, unless what it is
//!   computed from changed ([`Recompute`]): then it is planned unknown.
//! - A change to a `requires_replace` attribute is reported as a replace path.
//!
//! Resources then adjust the result (values they can compute at plan time,
//! warnings) in their own `modify_plan`.

use std::collections::BTreeMap;

use tfvalue::{AttributePath, PathStep, Value};

use crate::schema::{Attribute, AttributeKind, Nesting, Recompute, Schema};

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedChange {
    pub planned: Value,
    pub requires_replace: Vec<AttributePath>,
}

struct Carried {
    path: AttributePath,
    recompute: Recompute,
}

struct Walk {
    carried: Vec<Carried>,
    requires_replace: Vec<AttributePath>,
    creating: bool,
}

/// Plans a create (prior is null) or an update of one resource.
pub fn plan_resource(schema: &Schema, prior: &Value, config: &Value) -> PlannedChange {
    let mut walk = Walk {
        carried: Vec::new(),
        requires_replace: Vec::new(),
        creating: prior.is_null(),
    };
    let prior_object = object_fields(prior);
    let mut planned = plan_object(
        &schema.block.attributes,
        config,
        prior_object,
        &AttributePath(Vec::new()),
        &mut walk,
    );
    // Blocks are copied as configured: resources here declare none, and the
    // provider block is never planned.
    if let (Value::Object(fields), Some(cfg)) = (&mut planned, object_fields(config)) {
        for b in &schema.block.blocks {
            let v = cfg.get(&b.type_name).cloned().unwrap_or(Value::Null);
            fields.insert(b.type_name.clone(), v);
        }
    }

    if !walk.creating {
        let changed = &planned != prior;
        for carried in &walk.carried {
            let stale = match &carried.recompute {
                Recompute::Never => false,
                Recompute::OnAnyChange => changed,
                Recompute::OnChangeOf(siblings) => {
                    let parent = parent_path(&carried.path);
                    siblings.iter().any(|s| {
                        let mut p = parent.clone();
                        p.0.push(PathStep::Attribute(s.clone()));
                        value_at(&planned, &p) != value_at(prior, &p)
                    })
                }
            };
            if stale {
                set_at(&mut planned, &carried.path, Value::Unknown);
            }
        }
    }
    PlannedChange {
        planned,
        requires_replace: walk.requires_replace,
    }
}

fn plan_object(
    attributes: &[Attribute],
    config: &Value,
    prior: Option<&BTreeMap<String, Value>>,
    path: &AttributePath,
    walk: &mut Walk,
) -> Value {
    let config_fields = object_fields(config);
    let mut out = BTreeMap::new();
    for attr in attributes {
        let cfg = config_fields
            .and_then(|f| f.get(&attr.name))
            .unwrap_or(&Value::Null);
        let pri = prior.and_then(|p| p.get(&attr.name));
        let child_path = child(path, PathStep::Attribute(attr.name.clone()));
        let planned = plan_attribute(attr, cfg, pri, &child_path, walk);
        if attr.requires_replace {
            if let Some(pri) = pri {
                if !pri.is_null() && &planned != pri {
                    walk.requires_replace.push(child_path.clone());
                }
            }
        }
        out.insert(attr.name.clone(), planned);
    }
    Value::Object(out)
}

fn plan_attribute(
    attr: &Attribute,
    config: &Value,
    prior: Option<&Value>,
    path: &AttributePath,
    walk: &mut Walk,
) -> Value {
    if config.is_unknown() {
        return Value::Unknown;
    }
    if config.is_null() {
        if !attr.presence.is_computed() {
            return Value::Null;
        }
        if let Some(default) = &attr.default {
            return default.clone();
        }
        if attr.default_from_children {
            if let AttributeKind::Nested {
                nesting: Nesting::Single,
                attributes,
            } = &attr.kind
            {
                let empty = Value::Object(BTreeMap::new());
                return plan_object(
                    attributes,
                    &empty,
                    prior.and_then(object_fields),
                    path,
                    walk,
                );
            }
        }
        return match prior {
            Some(p) if !walk.creating && !p.is_unknown() => {
                walk.carried.push(Carried {
                    path: path.clone(),
                    recompute: attr.recompute.clone(),
                });
                p.clone()
            }
            _ => Value::Unknown,
        };
    }
    match &attr.kind {
        AttributeKind::Primitive(_) => config.clone(),
        AttributeKind::Nested {
            nesting,
            attributes,
        } => plan_nested(*nesting, attributes, config, prior, path, walk),
    }
}

fn plan_nested(
    nesting: Nesting,
    attributes: &[Attribute],
    config: &Value,
    prior: Option<&Value>,
    path: &AttributePath,
    walk: &mut Walk,
) -> Value {
    match (nesting, config) {
        (Nesting::Single, _) => plan_object(
            attributes,
            config,
            prior.and_then(object_fields),
            path,
            walk,
        ),
        (Nesting::Map, Value::Map(elements)) => {
            let prior_map = match prior {
                Some(Value::Map(m)) => Some(m),
                _ => None,
            };
            Value::Map(
                elements
                    .iter()
                    .map(|(key, element)| {
                        let prior_element = prior_map.and_then(|m| m.get(key));
                        let p = child(path, PathStep::Key(key.clone()));
                        let planned = plan_element(attributes, element, prior_element, &p, walk);
                        (key.clone(), planned)
                    })
                    .collect(),
            )
        }
        (Nesting::List, Value::List(elements)) => {
            let prior_list = match prior {
                Some(Value::List(l)) => Some(l),
                _ => None,
            };
            Value::List(
                elements
                    .iter()
                    .enumerate()
                    .map(|(i, element)| {
                        let prior_element = prior_list.and_then(|l| l.get(i));
                        let p = child(path, PathStep::Index(i as i64));
                        plan_element(attributes, element, prior_element, &p, walk)
                    })
                    .collect(),
            )
        }
        (Nesting::Set, Value::Set(elements)) => {
            // Set elements have no stable identity to match a prior element by.
            Value::Set(
                elements
                    .iter()
                    .map(|element| {
                        let p = child(path, PathStep::Element(element.clone()));
                        plan_element(attributes, element, None, &p, walk)
                    })
                    .collect(),
            )
        }
        _ => config.clone(),
    }
}

fn plan_element(
    attributes: &[Attribute],
    element: &Value,
    prior: Option<&Value>,
    path: &AttributePath,
    walk: &mut Walk,
) -> Value {
    if element.is_unknown() || element.is_null() {
        return element.clone();
    }
    plan_object(
        attributes,
        element,
        prior.and_then(object_fields),
        path,
        walk,
    )
}

fn object_fields(v: &Value) -> Option<&BTreeMap<String, Value>> {
    match v {
        Value::Object(f) => Some(f),
        _ => None,
    }
}

fn child(path: &AttributePath, step: PathStep) -> AttributePath {
    let mut p = path.clone();
    p.0.push(step);
    p
}

fn parent_path(path: &AttributePath) -> AttributePath {
    let mut p = path.clone();
    p.0.pop();
    p
}

/// The value at `path`, or `None` when the path leads nowhere.
pub fn value_at<'a>(value: &'a Value, path: &AttributePath) -> Option<&'a Value> {
    let mut current = value;
    for step in &path.0 {
        current = match (step, current) {
            (PathStep::Attribute(name), Value::Object(f)) => f.get(name)?,
            (PathStep::Key(key), Value::Map(m)) => m.get(key)?,
            (PathStep::Index(i), Value::List(l)) | (PathStep::Index(i), Value::Tuple(l)) => {
                l.get(usize::try_from(*i).ok()?)?
            }
            (PathStep::Element(e), Value::Set(s)) => s.iter().find(|x| *x == e)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Replaces the value at `path`; does nothing when the path leads nowhere.
pub fn set_at(value: &mut Value, path: &AttributePath, new: Value) {
    let mut current = value;
    for step in &path.0 {
        let next = match (step, current) {
            (PathStep::Attribute(name), Value::Object(f)) => f.get_mut(name),
            (PathStep::Key(key), Value::Map(m)) => m.get_mut(key),
            (PathStep::Index(i), Value::List(l)) | (PathStep::Index(i), Value::Tuple(l)) => {
                usize::try_from(*i).ok().and_then(|i| l.get_mut(i))
            }
            (PathStep::Element(e), Value::Set(s)) => s.iter_mut().find(|x| **x == *e),
            _ => None,
        };
        match next {
            Some(n) => current = n,
            None => return,
        }
    }
    *current = new;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Attribute, Block, Nesting, Schema};

    fn schema() -> Schema {
        Schema::new(
            0,
            Block::new(
                "test",
                vec![
                    Attribute::string("name").required().requires_replace(),
                    Attribute::string("version").default("v1"),
                    Attribute::string("id").computed().stable(),
                    Attribute::string("endpoint")
                        .computed()
                        .recompute_on_change_of(&["name"]),
                    Attribute::string("summary").computed(),
                    Attribute::nested(
                        "hosts",
                        Nesting::Map,
                        vec![
                            Attribute::string("address").required(),
                            Attribute::string("key")
                                .optional_computed()
                                .recompute_on_change_of(&["address"]),
                        ],
                    )
                    .required(),
                    Attribute::nested(
                        "network",
                        Nesting::Single,
                        vec![
                            Attribute::string("cidr")
                                .default("10.244.0.0/16")
                                .requires_replace(),
                            Attribute::number("port").default(Value::from(4789i64)),
                        ],
                    )
                    .default_from_children(),
                ],
            ),
        )
    }

    fn obj(pairs: Vec<(&str, Value)>) -> Value {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }
    fn s(v: &str) -> Value {
        Value::String(v.to_string())
    }
    fn hosts(pairs: Vec<(&str, Value)>) -> Value {
        Value::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }
    fn config(name: &str, address: &str) -> Value {
        obj(vec![
            ("name", s(name)),
            ("version", Value::Null),
            ("id", Value::Null),
            ("endpoint", Value::Null),
            ("summary", Value::Null),
            (
                "hosts",
                hosts(vec![(
                    "a",
                    obj(vec![("address", s(address)), ("key", Value::Null)]),
                )]),
            ),
            ("network", Value::Null),
        ])
    }
    fn at(v: &Value, path: &[&str]) -> Value {
        let p = AttributePath(
            path.iter()
                .map(|s| PathStep::Attribute(s.to_string()))
                .collect(),
        );
        value_at(v, &p).cloned().unwrap()
    }

    #[test]
    fn create_plans_defaults_and_unknown_computed_values() {
        let plan = plan_resource(&schema(), &Value::Null, &config("a", "10.0.0.1"));
        assert_eq!(at(&plan.planned, &["version"]), s("v1"));
        assert_eq!(at(&plan.planned, &["id"]), Value::Unknown);
        assert_eq!(
            at(&plan.planned, &["network", "cidr"]),
            s("10.244.0.0/16"),
            "defaults inside an absent nested attribute show in the plan"
        );
        assert!(plan.requires_replace.is_empty());
    }

    fn applied(name: &str, address: &str) -> Value {
        let mut state = plan_resource(&schema(), &Value::Null, &config(name, address)).planned;
        for (p, v) in [("id", "id-1"), ("endpoint", "https://x"), ("summary", "s")] {
            set_at(
                &mut state,
                &AttributePath(vec![PathStep::Attribute(p.into())]),
                s(v),
            );
        }
        let key_path = AttributePath(vec![
            PathStep::Attribute("hosts".into()),
            PathStep::Key("a".into()),
            PathStep::Attribute("key".into()),
        ]);
        set_at(&mut state, &key_path, s("ssh-ed25519 AAA"));
        state
    }

    #[test]
    fn no_change_keeps_every_computed_value() {
        let prior = applied("a", "10.0.0.1");
        let plan = plan_resource(&schema(), &prior, &config("a", "10.0.0.1"));
        assert_eq!(plan.planned, prior);
        assert!(plan.requires_replace.is_empty());
    }

    #[test]
    fn a_change_recomputes_only_what_depends_on_it() {
        let prior = applied("a", "10.0.0.1");
        let plan = plan_resource(&schema(), &prior, &config("a", "10.0.0.2"));
        assert_eq!(at(&plan.planned, &["id"]), s("id-1"), "stable");
        assert_eq!(at(&plan.planned, &["endpoint"]), s("https://x"));
        assert_eq!(at(&plan.planned, &["summary"]), Value::Unknown);
        let hosts = at(&plan.planned, &["hosts"]);
        let Value::Map(m) = hosts else { panic!() };
        assert_eq!(
            value_at(
                &m["a"],
                &AttributePath(vec![PathStep::Attribute("key".into())])
            ),
            Some(&Value::Unknown),
            "a new address under the same key re-learns the host key"
        );
    }

    #[test]
    fn replacing_attributes_are_reported_by_path() {
        let prior = applied("a", "10.0.0.1");
        let mut cfg = config("b", "10.0.0.1");
        set_at(
            &mut cfg,
            &AttributePath(vec![PathStep::Attribute("network".into())]),
            obj(vec![("cidr", s("10.0.0.0/8")), ("port", Value::Null)]),
        );
        let plan = plan_resource(&schema(), &prior, &cfg);
        let paths: Vec<String> = plan
            .requires_replace
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(paths, vec!["name".to_string(), "network.cidr".to_string()]);
        assert_eq!(at(&plan.planned, &["endpoint"]), Value::Unknown);
    }

    #[test]
    fn unknown_configuration_is_planned_unknown_without_error() {
        let mut cfg = config("a", "10.0.0.1");
        set_at(
            &mut cfg,
            &AttributePath(vec![PathStep::Attribute("hosts".into())]),
            Value::Unknown,
        );
        let plan = plan_resource(&schema(), &Value::Null, &cfg);
        assert_eq!(at(&plan.planned, &["hosts"]), Value::Unknown);
    }
}
