//! Python objects the codec needs, imported once per interpreter and cached.

use numpy::PyArrayDescr;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use dj_core::blob::Class;

/// Cached classes, helper functions and numpy dtypes.
pub struct Types {
    pub matcell: Py<PyType>,
    pub matstruct: Py<PyType>,
    pub masked_array: Py<PyType>,
    pub np_number: Py<PyType>,
    pub np_datetime64: Py<PyType>,
    pub np_bool: Py<PyType>,
    pub np_array: Py<PyAny>,
    pub np_asarray: Py<PyAny>,
    pub decimal: Py<PyType>,
    pub uuid: Py<PyType>,
    pub mapping: Py<PyAny>,
    pub mutable_sequence: Py<PyAny>,
    pub sequence: Py<PyAny>,
    pub set_abc: Py<PyAny>,
    pub int_from_bytes: Py<PyAny>,
    pub dj_error: Py<PyType>,
    pub blob_error: Py<PyType>,
    /// `datajoint_rs.blob` helpers that assemble MATLAB containers and char arrays.
    pub make_cell: Py<PyAny>,
    pub make_struct: Py<PyAny>,
    pub make_record: Py<PyAny>,
    pub make_chars: Py<PyAny>,
    pub make_objects: Py<PyAny>,
    descrs: Vec<(Class, Py<PyArrayDescr>)>,
    pub complex128: Py<PyArrayDescr>,
    pub complex64: Py<PyArrayDescr>,
}

static TYPES: PyOnceLock<Types> = PyOnceLock::new();

impl Types {
    /// The numpy dtype of a (non-object, non-char) class.
    pub fn descr<'py>(&self, py: Python<'py>, class: Class) -> &Bound<'py, PyArrayDescr> {
        let (_, d) = self
            .descrs
            .iter()
            .find(|(c, _)| *c == class)
            .expect("every numeric class has a cached dtype");
        d.bind(py)
    }
}

fn load(py: Python<'_>) -> PyResult<Types> {
    let np = py.import("numpy")?;
    let blob = py.import("datajoint_rs.blob")?;
    let errors = py.import("datajoint_rs.errors")?;
    let abc = py.import("collections.abc")?;
    let ty = |m: &Bound<'_, PyModule>, name: &str| -> PyResult<Py<PyType>> {
        Ok(m.getattr(name)?.cast_into::<PyType>()?.unbind())
    };
    let any = |m: &Bound<'_, PyModule>, name: &str| -> PyResult<Py<PyAny>> {
        Ok(m.getattr(name)?.unbind())
    };
    let mut classes: Vec<Class> = (3..=15).filter_map(|id| Class::from_id(id).ok()).collect();
    classes.extend((0..13).map(Class::DateTime));
    let mut descrs = Vec::new();
    for class in classes {
        if matches!(class, Class::Void | Class::Char) {
            continue;
        }
        descrs.push((class, PyArrayDescr::new(py, class.numpy_dtype())?.unbind()));
    }
    Ok(Types {
        matcell: ty(&blob, "MatCell")?,
        matstruct: ty(&blob, "MatStruct")?,
        masked_array: ty(&py.import("numpy.ma")?, "MaskedArray")?,
        np_number: ty(&np, "number")?,
        np_datetime64: ty(&np, "datetime64")?,
        np_bool: ty(&np, "bool_")?,
        np_array: any(&np, "array")?,
        np_asarray: any(&np, "asarray")?,
        decimal: ty(&py.import("decimal")?, "Decimal")?,
        uuid: ty(&py.import("uuid")?, "UUID")?,
        mapping: any(&abc, "Mapping")?,
        mutable_sequence: any(&abc, "MutableSequence")?,
        sequence: any(&abc, "Sequence")?,
        set_abc: any(&abc, "Set")?,
        int_from_bytes: py
            .import("builtins")?
            .getattr("int")?
            .getattr("from_bytes")?
            .unbind(),
        dj_error: ty(&errors, "DataJointError")?,
        blob_error: ty(&errors, "BlobError")?,
        make_cell: any(&blob, "_make_cell")?,
        make_struct: any(&blob, "_make_struct")?,
        make_record: any(&blob, "_make_record")?,
        make_chars: any(&blob, "_make_chars")?,
        make_objects: any(&blob, "_make_objects")?,
        descrs,
        complex128: PyArrayDescr::new(py, "<c16")?.unbind(),
        complex64: PyArrayDescr::new(py, "<c8")?.unbind(),
    })
}

/// The cached types (imported on first use).
pub fn types(py: Python<'_>) -> PyResult<&'static Types> {
    TYPES.get_or_try_init(py, || load(py))
}
