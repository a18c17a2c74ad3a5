//! The extension module `marline._native`. It links the marline crate, and
//! rustc exports a linked crate's `#[no_mangle]` C functions from a cdylib,
//! so this one file carries libmarline's whole C API: the ctypes layer
//! (marline/_lib.py) loads the C API from it. tests/python_binding.rs checks
//! that every function of include/marline.h is exported from it.
//!
//! Compiled code of the Python package (issue 19's reactor) goes here too.

use pyo3::prelude::*;

// Linked although no Rust code here calls it: its C API is the point.
extern crate marline;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
