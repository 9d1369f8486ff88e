//! Arbitrary bytes -> `unpack` (64-bit and 32-bit dimension fields). Decoding must never
//! panic, hang or allocate without bound. Whenever it succeeds, the value must re-encode
//! (native blobs allowed) and decode again to the same tree.
//!
//! Known, legitimate asymmetries, handled below:
//! * bytes are not compared, values are: the writer picks the protocol itself (a `dj0` blob
//!   holding only MATLAB values comes back as `mYm`), drops DataJoint 0.14's stray NUL after
//!   an empty struct / record field-name list, writes u64 dimension fields even for a blob read
//!   with `dims32`, and never writes an envelope here;
//! * floats are compared by bit pattern (`Value`'s `PartialEq` says NaN != NaN).
#![no_main]

use dj_core::blob::{decode, encode, unpack, ArrayData, DecodeOptions, Value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for dims32 in [false, true] {
        let opts = DecodeOptions {
            dims32,
            ..DecodeOptions::default()
        };
        let mut storage = Vec::new();
        let Ok(value) = unpack(data, &mut storage, &opts) else {
            continue;
        };
        let bytes = encode(&value, true)
            .unwrap_or_else(|e| panic!("decoded value does not re-encode: {e}\n{value:?}"));
        let (_, again) = decode(&bytes, &DecodeOptions::default())
            .unwrap_or_else(|e| panic!("re-encoded blob does not decode: {e}\n{value:?}"));
        assert!(
            same(&value, &again),
            "round trip changed the value:\n{value:?}\n{again:?}"
        );
        // Encoding is deterministic: the second trip gives the very same bytes.
        assert_eq!(encode(&again, true).unwrap(), bytes);
    }
});

/// Structural equality with floats compared bitwise (NaN payloads, -0.0).
fn same(a: &Value, b: &Value) -> bool {
    use Value::*;
    let all = |x: &[Value], y: &[Value]| x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q));
    match (a, b) {
        (Array(x), Array(y)) => {
            x.class == y.class
                && x.shape == y.shape
                && x.complex == y.complex
                && match (&x.data, &y.data) {
                    (ArrayData::Raw(p), ArrayData::Raw(q)) => p == q,
                    (ArrayData::Objects(p), ArrayData::Objects(q)) => all(p, q),
                    _ => false,
                }
        }
        (
            Struct { shape: s1, names: n1, values: v1 },
            Struct { shape: s2, names: n2, values: v2 },
        ) => s1 == s2 && n1 == n2 && all(v1, v2),
        (Cell { shape: s1, elements: e1 }, Cell { shape: s2, elements: e2 }) => {
            s1 == s2 && all(e1, e2)
        }
        (Record { names: n1, fields: f1 }, Record { names: n2, fields: f2 }) => {
            n1 == n2 && all(f1, f2)
        }
        (Tuple(x), Tuple(y)) | (List(x), List(y)) | (Set(x), Set(y)) => all(x, y),
        (Dict(x), Dict(y)) => {
            x.len() == y.len()
                && x.iter().zip(y).all(|((k1, v1), (k2, v2))| same(k1, k2) && same(v1, v2))
        }
        (Float(x), Float(y)) => x.to_bits() == y.to_bits(),
        (Complex(r1, i1), Complex(r2, i2)) => {
            r1.to_bits() == r2.to_bits() && i1.to_bits() == i2.to_bits()
        }
        // Everything else has no floats inside: the derived PartialEq is exact.
        (Str(_), Str(_))
        | (Bytes(_), Bytes(_))
        | (Int(_), Int(_))
        | (Bool(_), Bool(_))
        | (Decimal(_), Decimal(_))
        | (DateTime { .. }, DateTime { .. })
        | (Uuid(_), Uuid(_))
        | (None, None) => a == b,
        _ => false,
    }
}
