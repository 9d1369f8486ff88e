//! `datajoint_rs._native`: the PyO3 bindings over the pure-Rust core (`dj_core`).
//!
//! Only glue lives here: argument conversion, the GIL, and building Python objects.

mod blob;
mod buffers;
mod builder;
mod engine;
mod errors;
mod hash;
mod packer;
mod parallel;
mod py_types;
mod rows;
mod sql;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(blob::pack, m)?)?;
    m.add_function(wrap_pyfunction!(blob::unpack, m)?)?;
    m.add_function(wrap_pyfunction!(blob::unpack_many, m)?)?;
    m.add_class::<blob::PlainBlob>()?;
    m.add_function(wrap_pyfunction!(blob::buffer_pool_stats, m)?)?;
    m.add_function(wrap_pyfunction!(blob::buffer_pool_release, m)?)?;
    m.add_function(wrap_pyfunction!(blob::pack_many, m)?)?;
    m.add_function(wrap_pyfunction!(blob::md5, m)?)?;
    m.add_function(wrap_pyfunction!(hash::md5_file, m)?)?;
    m.add_function(wrap_pyfunction!(sql::sql_values, m)?)?;
    m.add_function(wrap_pyfunction!(sql::dict_rows_values, m)?)?;
    m.add_function(wrap_pyfunction!(rows::columns, m)?)?;
    engine::register(m)?;
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    m.add("BUILD_PROFILE", profile)?;
    m.add("MAX_DEPTH", dj_core::blob::decode::MAX_DEPTH)?;
    Ok(())
}
