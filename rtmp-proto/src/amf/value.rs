//! The encoding-neutral [`Value`] every layer above the codec works with.

/// A string as AMF carries it: UTF-8, stored inline up to 24 bytes.
///
/// Most keys and short values of SharedObjects fit inline, so decoding them
/// allocates nothing.
pub type Str = compact_str::CompactString;

/// An ordered list of named properties (object members, ECMA array entries).
///
/// Order is kept exactly as decoded or built: encodings are byte-stable and
/// everything above stays deterministic.
pub type Properties = Vec<(Str, Value)>;

/// One AMF value, independent of the encoding it came in or goes out in.
///
/// Every AMF0 and AMF3 type maps to one variant. Where one encoding cannot
/// express a variant, the encoders document what they write instead (see
/// [`crate::amf::amf0`]): in short, AMF0 writes [`Value::Integer`] as a number
/// and switches to AMF3 (marker `0x11`) for the AMF3-only types, so nothing
/// is lost for AVM2 (Flash 9+) peers.
///
/// Large variants are boxed so that a `Value` stays 32 bytes.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Value {
    /// `undefined` (AMF0 `0x06`, AMF3 `0x00`).
    Undefined,
    /// `null` (AMF0 `0x05`, AMF3 `0x01`).
    Null,
    /// A boolean (AMF0 `0x01`, AMF3 `0x02`/`0x03`).
    Bool(bool),
    /// An IEEE-754 double (AMF0 `0x00`, AMF3 `0x05`).
    Number(f64),
    /// An AMF3 integer (`0x04`). AMF3 writes values outside the 29-bit range
    /// as a double; AMF0 always writes a number.
    Integer(i32),
    /// A string (AMF0 `0x02`/`0x0C`, AMF3 `0x06`).
    String(Str),
    /// A date (AMF0 `0x0B`, AMF3 `0x08`).
    Date(Date),
    /// An object, anonymous or typed (AMF0 `0x03`/`0x10`, AMF3 `0x0A`).
    Object(Box<Object>),
    /// An associative array (AMF0 ECMA array `0x08`; AMF3 array with no dense part).
    EcmaArray(Properties),
    /// A dense array (AMF0 strict array `0x0A`; AMF3 array with no associative part).
    StrictArray(Vec<Self>),
    /// An AMF3 array with both a dense and an associative part.
    MixedArray(Box<MixedArray>),
    /// A legacy `flash.xml.XMLDocument` (AMF0 `0x0F`, AMF3 `0x07`).
    XmlDocument(Str),
    /// An E4X `XML` value (AMF3 `0x0B`).
    Xml(Str),
    /// A `flash.utils.ByteArray` (AMF3 `0x0C`).
    ByteArray(Vec<u8>),
    /// A `Vector.<int>` (AMF3 `0x0D`).
    VectorInt(Box<Vector<i32>>),
    /// A `Vector.<uint>` (AMF3 `0x0E`).
    VectorUint(Box<Vector<u32>>),
    /// A `Vector.<Number>` (AMF3 `0x0F`).
    VectorDouble(Box<Vector<f64>>),
    /// A `Vector.<T>` of objects (AMF3 `0x10`).
    VectorObject(Box<ObjectVector>),
    /// A `flash.utils.Dictionary` (AMF3 `0x11`).
    Dictionary(Box<Dictionary>),
    /// An externalizable `flex.messaging.io.ArrayCollection` (AMF3), which
    /// carries its source array.
    ArrayCollection(Vec<Self>),
    /// An externalizable `flex.messaging.io.ObjectProxy` (AMF3), which
    /// carries one anonymous object.
    ObjectProxy(Properties),
    /// AMF0's "unsupported" marker (`0x0D`).
    Unsupported,
}

/// A point in time: milliseconds since the Unix epoch, as AMF carries it.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Date {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub millis: f64,
    /// The AMF0 time-zone field in minutes (AMF3 has none; decoders set 0).
    pub timezone: i16,
}

/// An object: an optional class name and ordered properties.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Object {
    /// The class name of a typed object; `None` for an anonymous object.
    pub class_name: Option<Str>,
    /// How many of the leading properties are sealed trait members (AMF3).
    /// The rest are dynamic. AMF0 decoders set it to the property count for a
    /// typed object and to 0 for an anonymous one.
    pub sealed_count: usize,
    /// The properties, sealed members first, in wire order.
    pub properties: Properties,
}

/// An AMF3 array with a dense part and an associative part.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct MixedArray {
    /// The dense part, indices `0..dense.len()`.
    pub dense: Vec<Value>,
    /// The associative part, in wire order.
    pub assoc: Properties,
}

/// An AMF3 vector of numbers.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Vector<T> {
    /// Whether the vector has a fixed length.
    pub fixed: bool,
    /// The items.
    pub items: Vec<T>,
}

/// An AMF3 vector of objects, with its element type name (`"*"` or empty when untyped).
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ObjectVector {
    /// Whether the vector has a fixed length.
    pub fixed: bool,
    /// The element type name as written on the wire.
    pub type_name: Str,
    /// The items.
    pub items: Vec<Value>,
}

/// An AMF3 dictionary: keys of any type.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Dictionary {
    /// Whether the dictionary holds its keys weakly.
    pub weak_keys: bool,
    /// The entries, in wire order.
    pub entries: Vec<(Value, Value)>,
}

impl Value {
    /// Whether `self` and `other` encode to the same bytes, so that writing
    /// one over the other changes nothing a peer can see.
    ///
    /// Unlike `==`, numbers compare by bits: `-0.0` is not `0.0` (a client
    /// sees the sign) and `NaN` is itself. Different variants are different
    /// values (`Integer(1)` is not `Number(1.0)`: AMF3 encodes them
    /// differently).
    ///
    /// ```
    /// use rtmp_proto::amf::Value;
    ///
    /// assert!(Value::Number(f64::NAN).identical(&Value::Number(f64::NAN)));
    /// assert!(!Value::Number(-0.0).identical(&Value::Number(0.0)));
    /// assert_eq!(Value::Number(-0.0), Value::Number(0.0));
    /// ```
    pub fn identical(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Number(x), Value::Number(y)) => x.to_bits() == y.to_bits(),
            (Value::Date(x), Value::Date(y)) => {
                x.millis.to_bits() == y.millis.to_bits() && x.timezone == y.timezone
            }
            (Value::Object(x), Value::Object(y)) => {
                x.class_name == y.class_name
                    && x.sealed_count == y.sealed_count
                    && identical_properties(&x.properties, &y.properties)
            }
            (Value::EcmaArray(x), Value::EcmaArray(y))
            | (Value::ObjectProxy(x), Value::ObjectProxy(y)) => identical_properties(x, y),
            (Value::StrictArray(x), Value::StrictArray(y))
            | (Value::ArrayCollection(x), Value::ArrayCollection(y)) => identical_list(x, y),
            (Value::MixedArray(x), Value::MixedArray(y)) => {
                identical_list(&x.dense, &y.dense) && identical_properties(&x.assoc, &y.assoc)
            }
            (Value::VectorDouble(x), Value::VectorDouble(y)) => {
                x.fixed == y.fixed
                    && x.items.len() == y.items.len()
                    && x.items
                        .iter()
                        .zip(&y.items)
                        .all(|(p, q)| p.to_bits() == q.to_bits())
            }
            (Value::VectorObject(x), Value::VectorObject(y)) => {
                x.fixed == y.fixed
                    && x.type_name == y.type_name
                    && identical_list(&x.items, &y.items)
            }
            (Value::Dictionary(x), Value::Dictionary(y)) => {
                x.weak_keys == y.weak_keys
                    && x.entries.len() == y.entries.len()
                    && x.entries
                        .iter()
                        .zip(&y.entries)
                        .all(|((k1, v1), (k2, v2))| k1.identical(k2) && v1.identical(v2))
            }
            // The remaining variants hold no floats: derived equality is exact.
            _ => self == other,
        }
    }

    /// The string inside a [`Value::String`], if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number inside a [`Value::Number`] or [`Value::Integer`], if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Number(n) => Some(*n),
            Self::Integer(i) => Some(f64::from(*i)),
            _ => None,
        }
    }

    /// The properties of an object, ECMA array or object proxy.
    pub fn properties(&self) -> Option<&Properties> {
        match self {
            Self::Object(o) => Some(&o.properties),
            Self::EcmaArray(p) | Self::ObjectProxy(p) => Some(p),
            _ => None,
        }
    }

    /// The value of property `key` of an object, ECMA array or object proxy.
    pub fn property(&self, key: &str) -> Option<&Self> {
        self.properties()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// An anonymous object with these properties, in this order.
    pub fn object<K: Into<Str>>(properties: impl IntoIterator<Item = (K, Value)>) -> Self {
        Self::Object(Box::new(Object {
            class_name: None,
            sealed_count: 0,
            properties: properties.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        }))
    }

    /// Whether this is `null` or `undefined`.
    pub fn is_null_or_undefined(&self) -> bool {
        matches!(self, Self::Null | Self::Undefined)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::String(s.into())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::String(s.into())
    }
}

impl From<Str> for Value {
    fn from(s: Str) -> Self {
        Self::String(s)
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Self::Number(n)
    }
}

impl From<i32> for Value {
    fn from(n: i32) -> Self {
        Self::Integer(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

fn identical_list(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.identical(y))
}

fn identical_properties(a: &Properties, b: &Properties) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((k1, v1), (k2, v2))| k1 == k2 && v1.identical(v2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_stays_small() {
        assert!(size_of::<Value>() <= 32, "{}", size_of::<Value>());
    }

    #[test]
    fn property_lookup_keeps_order() {
        let v = Value::object([("a", Value::from(1.0)), ("b", Value::from("x"))]);
        assert_eq!(v.property("b").and_then(Value::as_str), Some("x"));
        assert_eq!(v.properties().map(|p| p[0].0.as_str()), Some("a"));
        assert!(v.property("c").is_none());
    }
}
