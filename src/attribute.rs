//! Span attributes: a key and a value, the text shared or borrowed where it can be.
//!
//! Takes nothing; gives the types that the protocols use to describe their exchanges and
//! that [`crate::span`] puts on network spans.

use std::borrow::Cow;
use std::ops::Deref;
use std::sync::Arc;

/// Attribute text. Constants (`tcp`, `http`, a tap side, a known method) are borrowed and what
/// spans repeat (a flow's addresses, capture point and tunnel, a connection's Host and
/// User-Agent) is shared, so a span allocates only for text of its own (path, query).
#[derive(Debug, Clone)]
pub enum Text {
    Static(&'static str),
    Shared(Arc<str>),
    Owned(String),
}

impl Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            Text::Static(s) => s,
            Text::Shared(s) => s,
            Text::Owned(s) => s,
        }
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        **self == **other
    }
}

impl From<&'static str> for Text {
    fn from(s: &'static str) -> Text {
        Text::Static(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text::Owned(s)
    }
}

impl From<Arc<str>> for Text {
    fn from(s: Arc<str>) -> Text {
        Text::Shared(s)
    }
}

impl From<&Arc<str>> for Text {
    fn from(s: &Arc<str>) -> Text {
        Text::Shared(Arc::clone(s))
    }
}

impl From<Cow<'static, str>> for Text {
    fn from(s: Cow<'static, str>) -> Text {
        match s {
            Cow::Borrowed(s) => Text::Static(s),
            Cow::Owned(s) => Text::Owned(s),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Str(Text),
    Int(i64),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub key: &'static str,
    pub value: AttrValue,
}

pub fn str_attr(key: &'static str, v: impl Into<Text>) -> Attribute {
    Attribute {
        key,
        value: AttrValue::Str(v.into()),
    }
}

pub fn int_attr(key: &'static str, v: i64) -> Attribute {
    Attribute {
        key,
        value: AttrValue::Int(v),
    }
}

pub fn bool_attr(key: &'static str, v: bool) -> Attribute {
    Attribute {
        key,
        value: AttrValue::Bool(v),
    }
}
