//! DataJoint's blob serialization (the `mYm` / `dj0` wire format, spec: docs/blob-format.md).
//!
//! * [`header`]   framing: protocol names and the compression envelopes.
//! * [`typecode`] one-byte type codes and `'A'` array class ids.
//! * [`value`]    the decoded tree ([`Value`]), borrowing payloads from the input buffer.
//! * [`decode`]   bytes -> [`Value`], strict and allocation-bounded (input is untrusted).
//! * [`encode`]   the streaming [`Writer`] used by the Python binding, and `encode(&Value)`.
//! * [`layout`]   strided (C, F, transposed, negative-stride) payloads -> column-major bytes.

pub mod decode;
pub mod encode;
pub mod header;
pub mod layout;
pub mod typecode;
pub mod value;

pub use decode::{decode, unpack, DecodeOptions};
pub use encode::{encode, pack, Writer};
pub use header::{Envelope, Framing, Protocol};
pub use typecode::{Class, Code};
pub use value::{Array, ArrayData, Value};
