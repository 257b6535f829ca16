//! Key-order-preserving JSON objects.
//!
//! Appliances of different versions write the same keys in different orders, and a model read
//! from a zip must write back byte for byte. Every JSON object of the bundle format is therefore
//! declared with [`json_object!`]: typed fields for what the tool reasons about, an `extra` map for
//! every other key (kept verbatim, nulls included), and the key order as read.
use serde_json::{Map, Value};

/// Re-orders a fully serialized object.
///
/// * Read from a zip (`original` non-empty): the original keys in their original order, then any
///   key the program added since (non-null only: a typed field that was absent stays absent).
/// * Built from source (`original` empty): the newest appliance order, with `null` for every
///   newest key the model leaves unset, then anything else that is set.
pub(crate) fn arrange(
    mut full: Map<String, Value>,
    original: &[String],
    newest: &[&str],
) -> Map<String, Value> {
    let mut out = Map::with_capacity(full.len());
    if original.is_empty() {
        for key in newest {
            let value = full.shift_remove(*key).unwrap_or(Value::Null);
            out.insert((*key).to_string(), value);
        }
    } else {
        for key in original {
            if let Some(value) = full.shift_remove(key) {
                out.insert(key.clone(), value);
            }
        }
    }
    for (key, value) in full {
        if !value.is_null() {
            out.insert(key, value);
        }
    }
    out
}

/// Declares a bundle JSON object: the public struct with `extra` and `key_order`, and serde
/// impls that go through a private mirror struct so derive attributes keep working.
macro_rules! json_object {
    (
        $(#[$meta:meta])*
        pub struct $name:ident in $module:ident {
            $( $(#[$field_meta:meta])* pub $field:ident : $ty:ty, )*
        }
        newest = [$($key:literal),* $(,)?];
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $( pub $field: $ty, )*
            /// Keys this tool does not interpret, kept verbatim (nulls included).
            pub extra: serde_json::Map<String, serde_json::Value>,
            /// The keys in the order they were read; empty for objects built from source.
            pub key_order: Vec<String>,
        }

        impl $name {
            /// The appliance's newest key order, used for objects built from source.
            pub const NEWEST_KEY_ORDER: &'static [&'static str] = &[$($key),*];
        }

        mod $module {
            #[allow(unused_imports)]
            use super::*;
            #[derive(serde::Serialize, serde::Deserialize)]
            pub(super) struct Mirror {
                $( $(#[$field_meta])* pub(super) $field: $ty, )*
                #[serde(flatten)]
                pub(super) extra: serde_json::Map<String, serde_json::Value>,
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                use serde::de::Error as _;
                let map = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
                // Keys exactly in the newest order (the common case): `arrange` writes that order,
                // with `null` for unset newest keys, for an empty order anyway, so neither the
                // order nor those nulls are kept: ~2 KiB less per plan script, same bytes out.
                let canonical = map.keys().map(String::as_str).eq(Self::NEWEST_KEY_ORDER.iter().copied());
                let key_order: Vec<String> = match canonical {
                    true => Vec::new(),
                    false => map.keys().cloned().collect(),
                };
                let mirror: $module::Mirror = serde_json::from_value(serde_json::Value::Object(map))
                    .map_err(D::Error::custom)?;
                // Collected again at its exact size (the flattened map grew by doubling).
                let extra = mirror
                    .extra
                    .into_iter()
                    .filter(|(key, value)| {
                        !(canonical && value.is_null() && Self::NEWEST_KEY_ORDER.contains(&key.as_str()))
                    })
                    .collect();
                Ok($name { $( $field: mirror.$field, )* extra, key_order })
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::Error as _;
                let mirror = $module::Mirror { $( $field: self.$field.clone(), )* extra: self.extra.clone() };
                let full = match serde_json::to_value(&mirror).map_err(S::Error::custom)? {
                    serde_json::Value::Object(map) => map,
                    _ => return Err(S::Error::custom("a bundle object must serialize to a JSON object")),
                };
                $crate::bundle::json_object::arrange(full, &self.key_order, Self::NEWEST_KEY_ORDER)
                    .serialize(serializer)
            }
        }
    };
}
pub(crate) use json_object;
