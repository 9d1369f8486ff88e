//! Decoded [`Value`] trees -> Python objects.
//!
//! Numeric arrays with two or more elements become read-only, column-major numpy views of
//! the (plain) blob buffer, as in DataJoint 0.14: no copy however large the array. Other
//! values are built with as few Python calls as possible; MATLAB containers and char arrays,
//! rare and full of numpy subtleties, are assembled by small helpers in `blob.py`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::c_void;

use numpy::npyffi::{self, npy_intp, NpyTypes, PY_ARRAY_API};
use numpy::{PyArrayDescr, PyArrayDescrMethods};
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyBytes, PyComplex, PyDate, PyDateTime, PyDict, PyFloat, PyFrozenSet, PyList, PySet,
    PyString, PyTime, PyTuple,
};

use dj_core::blob::{Array, ArrayData, Class, Value};

use crate::py_types::Types;

/// Where a value sits, when that changes how it is built.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Normal,
    /// Dict key or set element: sets become frozensets (0.14 fails with "unhashable").
    Hashable,
    /// Field of a `'F'` record: CHAR arrays are per element (0.14 joins them into one string
    /// and broadcasts it into every record).
    RecordField,
}

pub struct Builder<'py, 't> {
    /// Dict keys seen so far: records of one blob repeat the same keys, so each distinct
    /// key string is created once and shared (as pickle's memo does).
    pub keys: RefCell<HashMap<String, Bound<'py, PyString>>>,
    pub py: Python<'py>,
    pub t: &'t Types,
    /// The Python object owning the plain blob bytes; numeric arrays are views into it.
    pub base: &'t Bound<'py, PyAny>,
    pub base_data: &'t [u8],
    pub squeeze: bool,
}

impl<'py> Builder<'py, '_> {
    pub fn build(&self, v: &Value) -> PyResult<Bound<'py, PyAny>> {
        self.value(v, Place::Normal)
    }

    fn value(&self, v: &Value, place: Place) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        Ok(match v {
            Value::Array(a) => self.array(a, place)?,
            Value::Struct {
                shape,
                names,
                values,
            } => {
                let values = self.list(values, Place::Normal)?;
                let names: Vec<&str> = names.iter().map(|n| n.as_ref()).collect();
                self.t.make_struct.bind(py).call1((
                    shape_tuple(py, shape)?,
                    names,
                    values,
                    self.squeeze,
                ))?
            }
            Value::Cell { shape, elements } => {
                let elements = self.list(elements, Place::Normal)?;
                self.t.make_cell.bind(py).call1((
                    shape_tuple(py, shape)?,
                    elements,
                    self.squeeze,
                ))?
            }
            Value::Record { names, fields } => {
                let fields = self.list(fields, Place::RecordField)?;
                let names: Vec<&str> = names.iter().map(|n| n.as_ref()).collect();
                self.t.make_record.bind(py).call1((names, fields))?
            }
            Value::Tuple(items) => {
                let inner = if place == Place::Hashable {
                    place
                } else {
                    Place::Normal
                };
                let items: Vec<_> = items
                    .iter()
                    .map(|x| self.value(x, inner))
                    .collect::<PyResult<_>>()?;
                PyTuple::new(py, items)?.into_any()
            }
            Value::List(items) => self.list(items, Place::Normal)?.into_any(),
            Value::Set(items) => {
                let items: Vec<_> = items
                    .iter()
                    .map(|x| self.value(x, Place::Hashable))
                    .collect::<PyResult<_>>()?;
                if place == Place::Hashable {
                    PyFrozenSet::new(py, &items)?.into_any()
                } else {
                    PySet::new(py, &items)?.into_any()
                }
            }
            Value::Dict(pairs) => {
                let d = PyDict::new(py);
                for (k, val) in pairs {
                    let key = match k {
                        Value::Str(s) => self.key_string(s),
                        other => self.value(other, Place::Hashable)?,
                    };
                    d.set_item(key, self.value(val, Place::Normal)?)?;
                }
                d.into_any()
            }
            Value::Str(s) => PyString::new(py, s).into_any(),
            Value::Bytes(b) => PyBytes::new(py, b).into_any(),
            Value::Int(le) => int_from_le(py, self.t, le)?,
            Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
            Value::Complex(re, im) => PyComplex::from_doubles(py, *re, *im).into_any(),
            Value::Float(f) => PyFloat::new(py, *f).into_any(),
            Value::Decimal(s) => self.t.decimal.bind(py).call1((s.as_ref(),))?,
            Value::DateTime { date, time } => datetime(py, *date, *time)?,
            Value::Uuid(bytes) => {
                let kw = PyDict::new(py);
                kw.set_item("bytes", PyBytes::new(py, bytes))?;
                self.t.uuid.bind(py).call((), Some(&kw))?
            }
            Value::None => py.None().into_bound(py),
        })
    }

    fn key_string(&self, s: &str) -> Bound<'py, PyAny> {
        if s.len() > 64 {
            return PyString::new(self.py, s).into_any();
        }
        let mut keys = self.keys.borrow_mut();
        if let Some(k) = keys.get(s) {
            return k.clone().into_any();
        }
        let k = PyString::new(self.py, s);
        keys.insert(s.to_owned(), k.clone());
        k.into_any()
    }

    fn list(&self, items: &[Value], place: Place) -> PyResult<Bound<'py, PyList>> {
        let items: Vec<_> = items
            .iter()
            .map(|x| self.value(x, place))
            .collect::<PyResult<_>>()?;
        PyList::new(self.py, items)
    }

    fn array(&self, a: &Array, place: Place) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        let out = match (&a.data, a.class) {
            (ArrayData::Objects(items), _) => {
                let items = self.list(items, Place::Normal)?;
                let shape = shape_tuple(py, &a.shape)?;
                self.t.make_objects.bind(py).call1((items, shape))?
            }
            (ArrayData::Raw(raw), Class::Char) => {
                let per_element = place == Place::RecordField;
                let shape = shape_tuple(py, &a.shape)?;
                self.t
                    .make_chars
                    .bind(py)
                    .call1((PyBytes::new(py, raw), shape, per_element))?
            }
            (ArrayData::Raw(raw), class) if a.complex => self.complex(raw, class, &a.shape)?,
            (ArrayData::Raw(raw), class) => self.numeric(raw, class, &a.shape)?,
        };
        if self.squeeze {
            let squeezed = out.call_method0("squeeze")?;
            if squeezed.getattr("ndim")?.extract::<usize>()? == 0 {
                return squeezed.call_method0("item");
            }
            return Ok(squeezed);
        }
        Ok(out)
    }

    /// A real numeric / logical / datetime array: a numpy scalar for ndim 0, a read-only
    /// view of the blob for two or more elements, a writeable copy otherwise.
    fn numeric(&self, raw: &[u8], class: Class, shape: &[u64]) -> PyResult<Bound<'py, PyAny>> {
        let descr = self.t.descr(self.py, class);
        let n: u64 = shape.iter().product();
        let inside_base = raw.as_ptr() >= self.base_data.as_ptr()
            && raw.as_ptr() as usize + raw.len()
                <= self.base_data.as_ptr() as usize + self.base_data.len();
        if !shape.is_empty() && n >= 2 && inside_base {
            new_array(self.py, descr, shape, Some((raw, self.base)))
        } else {
            copied(self.py, descr, shape, raw)
        }
    }

    /// Complex arrays: exact assembly of the real and imaginary blocks (0.14 computes
    /// `re + 1j*im`, which loses signed zeros and turns an infinite imaginary part into a NaN
    /// real part).
    fn complex(&self, raw: &[u8], class: Class, shape: &[u64]) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        let n: usize = shape.iter().product::<u64>() as usize;
        let size = class.item_size().unwrap_or(8);
        let (re, im) = raw.split_at(n * size);
        let single = class == Class::Single;
        let mut out: Vec<u8> = Vec::with_capacity(n * if single { 8 } else { 16 });
        for i in 0..n {
            let (r, m) = (&re[i * size..(i + 1) * size], &im[i * size..(i + 1) * size]);
            if single {
                out.extend_from_slice(r);
                out.extend_from_slice(m);
            } else {
                out.extend_from_slice(&as_f64(class, r).to_le_bytes());
                out.extend_from_slice(&as_f64(class, m).to_le_bytes());
            }
        }
        let descr = if single {
            &self.t.complex64
        } else {
            &self.t.complex128
        };
        copied(py, descr.bind(py), shape, &out)
    }
}

/// One stored element of an integer / float class as f64 (MATLAB's integer complex arrays
/// come back as complex128, as in DataJoint 0.14).
fn as_f64(class: Class, b: &[u8]) -> f64 {
    match class {
        Class::Double => f64::from_le_bytes(b.try_into().unwrap()),
        Class::Single => f32::from_le_bytes(b.try_into().unwrap()) as f64,
        Class::Int8 => b[0] as i8 as f64,
        Class::UInt8 => b[0] as f64,
        Class::Int16 => i16::from_le_bytes(b.try_into().unwrap()) as f64,
        Class::UInt16 => u16::from_le_bytes(b.try_into().unwrap()) as f64,
        Class::Int32 => i32::from_le_bytes(b.try_into().unwrap()) as f64,
        Class::UInt32 => u32::from_le_bytes(b.try_into().unwrap()) as f64,
        Class::Int64 => i64::from_le_bytes(b.try_into().unwrap()) as f64,
        Class::UInt64 => u64::from_le_bytes(b.try_into().unwrap()) as f64,
        _ => f64::NAN,
    }
}

/// A numpy scalar (empty `shape`) or a new writeable F-order array holding a copy of `data`
/// (the elements of `descr`, column-major).
fn copied<'py>(
    py: Python<'py>,
    descr: &Bound<'py, PyArrayDescr>,
    shape: &[u64],
    data: &[u8],
) -> PyResult<Bound<'py, PyAny>> {
    if shape.is_empty() {
        // SAFETY: `data` holds one element of `descr`'s size; PyArray_Scalar copies it
        // (whatever its alignment) into a new numpy scalar, and steals no reference.
        return unsafe {
            let obj = PY_ARRAY_API.PyArray_Scalar(
                py,
                data.as_ptr() as *mut c_void,
                descr.as_dtype_ptr(),
                std::ptr::null_mut(),
            );
            Bound::from_owned_ptr_or_err(py, obj)
        };
    }
    let arr = new_array(py, descr, shape, None)?;
    // SAFETY: a fresh F-order array of prod(shape) elements of `descr` owns exactly
    // data.len() bytes.
    unsafe {
        let ptr = arr.as_ptr() as *mut npyffi::PyArrayObject;
        std::ptr::copy_nonoverlapping(data.as_ptr(), (*ptr).data as *mut u8, data.len());
    }
    Ok(arr)
}

/// A new column-major ndarray: a read-only view of `data` kept alive by `base`, or (with
/// `None`) freshly allocated and writeable.
fn new_array<'py>(
    py: Python<'py>,
    descr: &Bound<'py, PyArrayDescr>,
    shape: &[u64],
    view: Option<(&[u8], &Bound<'py, PyAny>)>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut dims: Vec<npy_intp> = shape.iter().map(|&d| d as npy_intp).collect();
    let itemsize = descr.itemsize() as npy_intp;
    let mut strides: Vec<npy_intp> = Vec::with_capacity(dims.len());
    let mut s = itemsize;
    for &d in &dims {
        strides.push(s);
        s *= d.max(1);
    }
    // SAFETY: PyArray_NewFromDescr steals a reference to descr (hence the clone/into_ptr).
    // For a view, `data` covers prod(shape) elements of `descr` inside `base`, which the
    // array keeps alive through PyArray_SetBaseObject (which steals a reference to base).
    unsafe {
        let subtype = PY_ARRAY_API.get_type_object(py, NpyTypes::PyArray_Type);
        let descr_ptr = descr.clone().into_ptr() as *mut npyffi::PyArray_Descr;
        let (data, flags, strides_ptr) = match view {
            Some((data, _)) => (
                data.as_ptr() as *mut c_void,
                npyffi::NPY_ARRAY_F_CONTIGUOUS,
                strides.as_mut_ptr(),
            ),
            None => (std::ptr::null_mut(), 1, std::ptr::null_mut()),
        };
        let obj = PY_ARRAY_API.PyArray_NewFromDescr(
            py,
            subtype,
            descr_ptr,
            dims.len() as i32,
            dims.as_mut_ptr(),
            strides_ptr,
            data,
            flags,
            std::ptr::null_mut(),
        );
        let arr = Bound::from_owned_ptr_or_err(py, obj)?;
        if let Some((_, base)) = view {
            let rc = PY_ARRAY_API.PyArray_SetBaseObject(
                py,
                arr.as_ptr() as *mut npyffi::PyArrayObject,
                base.clone().into_ptr(),
            );
            if rc != 0 {
                return Err(PyErr::fetch(py));
            }
        }
        Ok(arr)
    }
}

fn shape_tuple<'py>(py: Python<'py>, shape: &[u64]) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(py, shape)
}

/// Python int from little-endian two's complement bytes.
fn int_from_le<'py>(py: Python<'py>, t: &Types, le: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    if le.len() <= 8 {
        let mut buf = if le.last().is_some_and(|b| b & 0x80 != 0) {
            [0xFFu8; 8]
        } else {
            [0u8; 8]
        };
        buf[..le.len()].copy_from_slice(le);
        return Ok(i64::from_le_bytes(buf).into_pyobject(py)?.into_any());
    }
    let kw = PyDict::new(py);
    kw.set_item("signed", true)?;
    t.int_from_bytes
        .bind(py)
        .call((PyBytes::new(py, le), "little"), Some(&kw))
}

fn datetime(py: Python<'_>, date: i32, time: i64) -> PyResult<Bound<'_, PyAny>> {
    let d = (date >= 0).then_some((date / 10000, ((date / 100) % 100) as u8, (date % 100) as u8));
    let t = (time >= 0).then_some({
        (
            ((time / 10_000_000_000) % 100) as u8,
            ((time / 100_000_000) % 100) as u8,
            ((time / 1_000_000) % 100) as u8,
            (time % 1_000_000) as u32,
        )
    });
    Ok(match (d, t) {
        (Some((y, mo, da)), Some((h, mi, s, us))) => {
            PyDateTime::new(py, y, mo, da, h, mi, s, us, None)?.into_any()
        }
        (Some((y, mo, da)), None) => PyDate::new(py, y, mo, da)?.into_any(),
        (None, Some((h, mi, s, us))) => PyTime::new(py, h, mi, s, us, None)?.into_any(),
        (None, None) => py.None().into_bound(py),
    })
}
