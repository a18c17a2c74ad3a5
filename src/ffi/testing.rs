//! Test hooks, not part of the C API (cbindgen skips them): each restricts
//! a handle table so that tests reach its last identity in a few calls
//! instead of 2^48. A restricted table retires every free slot and may add
//! `new_slots` more, each used for generations 1 to `last_generation`.

use super::handle::reactor_t;
use super::reactor_of;
use super::status::marline_status_t;

/// Restricts the object and delayed-call tables of reactor `r` (and so of
/// the reactors that take over its slot after it).
pub fn restrict_reactor_tables(r: *mut reactor_t, new_slots: u32, last_generation: u32) -> Result<(), marline_status_t> {
    reactor_of(r).map_err(|e| e.status)?.core.restrict_tables(new_slots, last_generation);
    Ok(())
}

/// Restricts the process's reactor registry (4,096 slots).
pub fn restrict_reactor_registry(new_slots: u32, last_generation: u32) {
    crate::reactor::restrict_registry(new_slots, last_generation);
}

/// Gives the reactor registry its own limits again.
pub fn lift_reactor_registry_restriction() {
    crate::reactor::lift_registry_restriction();
}

/// Restricts the process's tcp_stream_t table.
pub fn restrict_stream_table(new_slots: u32, last_generation: u32) {
    super::stream::restrict_table(new_slots, last_generation);
}

/// Gives the tcp_stream_t table its own limits again.
pub fn lift_stream_table_restriction() {
    super::stream::lift_table_restriction();
}
