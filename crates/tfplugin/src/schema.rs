//! Schemas as the provider declares them, and their protocol form.
//!
//! A schema carries more than Terraform needs to see: defaults, replacement
//! rules and what a computed value depends on. [`crate::plan`] uses those to
//! plan every resource the same way.

use std::collections::BTreeMap;

use tfvalue::{Type, Value};

use crate::proto::tfplugin6 as pb;

#[derive(Debug, Clone)]
pub struct Schema {
    pub version: i64,
    pub block: Block,
}

#[derive(Debug, Clone, Default)]
pub struct Block {
    /// Markdown.
    pub description: String,
    pub attributes: Vec<Attribute>,
    pub blocks: Vec<NestedBlock>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Required,
    Optional,
    Computed,
    OptionalComputed,
}

impl Presence {
    pub fn is_computed(self) -> bool {
        matches!(self, Presence::Computed | Presence::OptionalComputed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    Single,
    List,
    Set,
    Map,
}

#[derive(Debug, Clone)]
pub enum AttributeKind {
    Primitive(Type),
    Nested {
        nesting: Nesting,
        attributes: Vec<Attribute>,
    },
}

/// When a computed attribute, left out of the configuration, is re-planned.
#[derive(Debug, Clone, PartialEq)]
pub enum Recompute {
    /// Unknown whenever anything in the resource changes.
    OnAnyChange,
    /// Unknown only when one of these sibling attributes changes.
    OnChangeOf(Vec<String>),
    /// Keeps its prior value (the provider may still set it while planning).
    Never,
}

#[derive(Debug, Clone)]
pub struct Attribute {
    pub name: String,
    pub kind: AttributeKind,
    /// Markdown.
    pub description: String,
    pub presence: Presence,
    pub sensitive: bool,
    /// Planned when the configuration leaves the attribute null.
    pub default: Option<Value>,
    /// For an optional nested attribute: a null configuration is planned as
    /// an empty object, so the defaults of its attributes show in the plan.
    pub default_from_children: bool,
    pub requires_replace: bool,
    pub recompute: Recompute,
    pub deprecation: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockNesting {
    Single,
    List,
    Set,
    Map,
    Group,
}

#[derive(Debug, Clone)]
pub struct NestedBlock {
    pub type_name: String,
    pub nesting: BlockNesting,
    pub block: Block,
    pub min_items: i64,
    pub max_items: i64,
}

impl Attribute {
    fn new(name: &str, kind: AttributeKind) -> Self {
        Attribute {
            name: name.to_string(),
            kind,
            description: String::new(),
            presence: Presence::Optional,
            sensitive: false,
            default: None,
            default_from_children: false,
            requires_replace: false,
            recompute: Recompute::OnAnyChange,
            deprecation: None,
        }
    }

    pub fn of_type(name: &str, ty: Type) -> Self {
        Attribute::new(name, AttributeKind::Primitive(ty))
    }
    pub fn string(name: &str) -> Self {
        Attribute::of_type(name, Type::String)
    }
    pub fn number(name: &str) -> Self {
        Attribute::of_type(name, Type::Number)
    }
    pub fn bool(name: &str) -> Self {
        Attribute::of_type(name, Type::Bool)
    }
    pub fn string_list(name: &str) -> Self {
        Attribute::of_type(name, Type::List(Box::new(Type::String)))
    }
    pub fn string_map(name: &str) -> Self {
        Attribute::of_type(name, Type::Map(Box::new(Type::String)))
    }
    pub fn nested(name: &str, nesting: Nesting, attributes: Vec<Attribute>) -> Self {
        Attribute::new(
            name,
            AttributeKind::Nested {
                nesting,
                attributes,
            },
        )
    }

    pub fn description(mut self, markdown: &str) -> Self {
        self.description = markdown.to_string();
        self
    }
    pub fn required(mut self) -> Self {
        self.presence = Presence::Required;
        self
    }
    pub fn optional(mut self) -> Self {
        self.presence = Presence::Optional;
        self
    }
    pub fn computed(mut self) -> Self {
        self.presence = Presence::Computed;
        self
    }
    pub fn optional_computed(mut self) -> Self {
        self.presence = Presence::OptionalComputed;
        self
    }
    /// A default is planned, so the attribute must be Optional+Computed:
    /// Terraform rejects a planned value that differs from a null config otherwise.
    pub fn default(mut self, value: impl Into<Value>) -> Self {
        self.presence = Presence::OptionalComputed;
        self.default = Some(value.into());
        self
    }
    pub fn default_from_children(mut self) -> Self {
        self.presence = Presence::OptionalComputed;
        self.default_from_children = true;
        self
    }
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }
    pub fn requires_replace(mut self) -> Self {
        self.requires_replace = true;
        self
    }
    pub fn recompute(mut self, when: Recompute) -> Self {
        self.recompute = when;
        self
    }
    pub fn recompute_on_change_of(self, siblings: &[&str]) -> Self {
        self.recompute(Recompute::OnChangeOf(
            siblings.iter().map(|s| s.to_string()).collect(),
        ))
    }
    pub fn stable(self) -> Self {
        self.recompute(Recompute::Never)
    }

    pub fn value_type(&self) -> Type {
        match &self.kind {
            AttributeKind::Primitive(ty) => ty.clone(),
            AttributeKind::Nested {
                nesting,
                attributes,
            } => {
                let object = object_type(attributes);
                match nesting {
                    Nesting::Single => object,
                    Nesting::List => Type::List(Box::new(object)),
                    Nesting::Set => Type::Set(Box::new(object)),
                    Nesting::Map => Type::Map(Box::new(object)),
                }
            }
        }
    }

    pub fn children(&self) -> &[Attribute] {
        match &self.kind {
            AttributeKind::Nested { attributes, .. } => attributes,
            AttributeKind::Primitive(_) => &[],
        }
    }
}

fn object_type(attributes: &[Attribute]) -> Type {
    Type::Object(
        attributes
            .iter()
            .map(|a| (a.name.clone(), a.value_type()))
            .collect::<BTreeMap<_, _>>(),
    )
}

impl Block {
    pub fn new(description: &str, attributes: Vec<Attribute>) -> Self {
        Block {
            description: description.to_string(),
            attributes,
            blocks: Vec::new(),
        }
    }

    pub fn with_block(mut self, block: NestedBlock) -> Self {
        self.blocks.push(block);
        self
    }

    pub fn value_type(&self) -> Type {
        let mut fields: BTreeMap<String, Type> = self
            .attributes
            .iter()
            .map(|a| (a.name.clone(), a.value_type()))
            .collect();
        for b in &self.blocks {
            let object = b.block.value_type();
            let ty = match b.nesting {
                BlockNesting::Single | BlockNesting::Group => object,
                BlockNesting::List => Type::List(Box::new(object)),
                BlockNesting::Set => Type::Set(Box::new(object)),
                BlockNesting::Map => Type::Map(Box::new(object)),
            };
            fields.insert(b.type_name.clone(), ty);
        }
        Type::Object(fields)
    }

    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    fn to_proto(&self, version: i64) -> pb::schema::Block {
        pb::schema::Block {
            version,
            attributes: self.attributes.iter().map(attribute_to_proto).collect(),
            block_types: self.blocks.iter().map(nested_block_to_proto).collect(),
            description: self.description.clone(),
            description_kind: pb::StringKind::Markdown as i32,
            deprecated: false,
            deprecation_message: String::new(),
        }
    }
}

impl NestedBlock {
    pub fn single(type_name: &str, block: Block) -> Self {
        NestedBlock {
            type_name: type_name.to_string(),
            nesting: BlockNesting::Single,
            block,
            min_items: 0,
            max_items: 0,
        }
    }
}

impl Schema {
    pub fn new(version: i64, block: Block) -> Self {
        Schema { version, block }
    }

    pub fn value_type(&self) -> Type {
        self.block.value_type()
    }

    pub fn to_proto(&self) -> pb::Schema {
        pb::Schema {
            version: self.version,
            block: Some(self.block.to_proto(self.version)),
        }
    }
}

fn attribute_to_proto(a: &Attribute) -> pb::schema::Attribute {
    let (ty, nested_type) = match &a.kind {
        AttributeKind::Primitive(ty) => (ty.to_json(), None),
        AttributeKind::Nested {
            nesting,
            attributes,
        } => (
            Vec::new(),
            Some(pb::schema::Object {
                attributes: attributes.iter().map(attribute_to_proto).collect(),
                nesting: match nesting {
                    Nesting::Single => pb::schema::object::NestingMode::Single,
                    Nesting::List => pb::schema::object::NestingMode::List,
                    Nesting::Set => pb::schema::object::NestingMode::Set,
                    Nesting::Map => pb::schema::object::NestingMode::Map,
                } as i32,
                ..Default::default()
            }),
        ),
    };
    pb::schema::Attribute {
        name: a.name.clone(),
        r#type: ty,
        nested_type,
        description: a.description.clone(),
        required: a.presence == Presence::Required,
        optional: matches!(a.presence, Presence::Optional | Presence::OptionalComputed),
        computed: a.presence.is_computed(),
        sensitive: a.sensitive,
        description_kind: pb::StringKind::Markdown as i32,
        deprecated: a.deprecation.is_some(),
        write_only: false,
        deprecation_message: a.deprecation.clone().unwrap_or_default(),
    }
}

fn nested_block_to_proto(b: &NestedBlock) -> pb::schema::NestedBlock {
    use pb::schema::nested_block::NestingMode;
    pb::schema::NestedBlock {
        type_name: b.type_name.clone(),
        block: Some(b.block.to_proto(0)),
        nesting: match b.nesting {
            BlockNesting::Single => NestingMode::Single,
            BlockNesting::List => NestingMode::List,
            BlockNesting::Set => NestingMode::Set,
            BlockNesting::Map => NestingMode::Map,
            BlockNesting::Group => NestingMode::Group,
        } as i32,
        min_items: b.min_items,
        max_items: b.max_items,
    }
}

/// The attributes of a resource's identity (protocol 6.9+).
#[derive(Debug, Clone)]
pub struct IdentitySchema {
    pub version: i64,
    pub attributes: Vec<IdentityAttribute>,
}

#[derive(Debug, Clone)]
pub struct IdentityAttribute {
    pub name: String,
    pub ty: Type,
    pub required_for_import: bool,
    pub description: String,
}

impl IdentitySchema {
    pub fn value_type(&self) -> Type {
        Type::Object(
            self.attributes
                .iter()
                .map(|a| (a.name.clone(), a.ty.clone()))
                .collect(),
        )
    }

    pub fn to_proto(&self) -> pb::ResourceIdentitySchema {
        pb::ResourceIdentitySchema {
            version: self.version,
            identity_attributes: self
                .attributes
                .iter()
                .map(|a| pb::resource_identity_schema::IdentityAttribute {
                    name: a.name.clone(),
                    r#type: a.ty.to_json(),
                    required_for_import: a.required_for_import,
                    optional_for_import: !a.required_for_import,
                    description: a.description.clone(),
                })
                .collect(),
        }
    }
}
