//! The ABI rule for the structs C fills in and hands to marline (callback
//! tables and options): the first field is `size`, which the caller sets to
//! `sizeof` the struct as its header declares it, and marline reads that
//! many bytes. New fields are only ever appended, so
//! - a program built against an older header (a smaller struct) keeps
//!   working: the fields it does not know read as zero (NULL callbacks,
//!   default options);
//! - a program built against a newer header (a larger struct) works with
//!   this library as long as what this library does not know is zero;
//!   anything else is MARLINE_ERR_INVALID_ARGUMENT, so that a callback or
//!   an option is never ignored silently.

use super::status::marline_status_t::{MARLINE_ERR_INVALID_ARGUMENT, MARLINE_ERR_NULL_POINTER};
use super::CResult;

/// A `#[repr(C)]` struct whose first field is `size: usize`, read by the
/// rule above.
///
/// # Safety
/// Implement only for structs whose every field is an integer, a raw
/// pointer or an `Option` of a function pointer, each at most 8 bytes: then
/// any bytes make a valid value (all zero included), and every size the
/// struct has had is a multiple of its alignment that ends at a field
/// boundary.
pub(crate) unsafe trait SizedStruct: Copy {}

/// Reads the caller's struct by the ABI rule: NULL →
/// `MARLINE_ERR_NULL_POINTER`; a `size` below `sizeof(size_t)` or not a
/// multiple of the struct's alignment, or a non-zero byte past what this
/// library knows → `MARLINE_ERR_INVALID_ARGUMENT`. The copy's own `size` is
/// the caller's.
///
/// # Safety
/// `p` is NULL or points to at least `(*p).size` readable bytes.
pub(crate) unsafe fn read_sized<T: SizedStruct>(p: *const T) -> CResult<T> {
    if p.is_null() {
        return Err(MARLINE_ERR_NULL_POINTER.into());
    }
    let ours = std::mem::size_of::<T>();
    // SAFETY: non-NULL; the struct starts with its size.
    let size = unsafe { std::ptr::read_unaligned(p as *const usize) };
    if size < std::mem::size_of::<usize>() || size % std::mem::align_of::<T>() != 0 {
        return Err(MARLINE_ERR_INVALID_ARGUMENT.into());
    }
    // SAFETY: the caller's struct has `size` readable bytes.
    let theirs = unsafe { std::slice::from_raw_parts(p as *const u8, size) };
    if theirs.get(ours..).is_some_and(|newer| newer.iter().any(|&b| b != 0)) {
        return Err(MARLINE_ERR_INVALID_ARGUMENT.into());
    }
    // SAFETY: all-zero bytes are a valid T (the trait's contract).
    let mut value: T = unsafe { std::mem::zeroed() };
    // SAFETY: copies at most sizeof(T) bytes into `value`, ending at a
    // field boundary; any bytes are valid for every field.
    unsafe { std::ptr::copy_nonoverlapping(theirs.as_ptr(), &mut value as *mut T as *mut u8, size.min(ours)) };
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::marline_status_t::{self, MARLINE_ERR_INVALID_ARGUMENT, MARLINE_ERR_NULL_POINTER};

    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Table {
        size: usize,
        a: Option<extern "C" fn()>,
        b: Option<extern "C" fn()>,
    }
    // SAFETY: an integer and function pointers.
    unsafe impl SizedStruct for Table {}

    extern "C" fn f() {}

    fn f_addr() -> usize {
        f as extern "C" fn() as usize
    }

    /// Reads `words` as a Table: (size, a, b) as numbers.
    fn read(words: &[usize]) -> Result<(usize, usize, usize), marline_status_t> {
        // SAFETY: `words` holds at least `words[0]` readable bytes in every case below.
        let t = unsafe { read_sized(words.as_ptr() as *const Table) }.map_err(|e| e.status)?;
        let addr = |g: Option<extern "C" fn()>| g.map_or(0, |g| g as usize);
        Ok((t.size, addr(t.a), addr(t.b)))
    }

    #[test]
    fn an_older_smaller_struct_reads_with_the_rest_zero() {
        assert_eq!(read(&[8 * 2, f_addr()]), Ok((16, f_addr(), 0)));
        assert_eq!(read(&[8]), Ok((8, 0, 0)));
    }

    #[test]
    fn a_newer_larger_struct_reads_when_what_is_new_is_zero() {
        assert_eq!(read(&[8 * 4, f_addr(), 0, 0]), Ok((32, f_addr(), 0)));
        assert_eq!(read(&[8 * 4, 0, 0, f_addr()]), Err(MARLINE_ERR_INVALID_ARGUMENT), "an unknown callback set");
    }

    #[test]
    fn a_size_that_no_version_had_is_refused() {
        assert_eq!(read(&[0, f_addr()]), Err(MARLINE_ERR_INVALID_ARGUMENT), "size not set");
        assert_eq!(read(&[4, 0]), Err(MARLINE_ERR_INVALID_ARGUMENT), "smaller than the size field");
        assert_eq!(read(&[12, 0]), Err(MARLINE_ERR_INVALID_ARGUMENT), "half a field");
        // SAFETY: NULL is checked first.
        assert_eq!(unsafe { read_sized::<Table>(std::ptr::null()) }.map_err(|e| e.status).err(), Some(MARLINE_ERR_NULL_POINTER));
    }
}
