//! Test hooks, not part of the C API (cbindgen skips them): they lower the
//! handle tables' limits so that tests reach a table's last identity in a
//! few calls instead of 2^48.

use super::handle::reactor_t;
use super::reactor_of;
use crate::error::Result;
use crate::reactor::handles::Limits;

/// Lowers the limits of the object and delayed-call tables of reactor `r`
/// (and of the reactors that take over its slot after it).
pub fn set_reactor_table_limits(r: *mut reactor_t, limits: Limits) -> Result<()> {
    reactor_of(r)?.core.set_table_limits(limits);
    Ok(())
}

/// Sets the limits of the process's reactor registry: how many reactors
/// may be live at once (at most 4,096) and how many may use each slot.
pub fn set_reactor_registry_limits(limits: Limits) {
    crate::reactor::set_registry_limits(limits);
}

/// Sets the limits of the process's tcp_stream_t table.
pub fn set_stream_table_limits(limits: Limits) {
    super::stream::set_limits(limits);
}
