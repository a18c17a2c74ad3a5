//! The handle to one scheduled call.

use std::rc::{Rc, Weak};
use std::time::Duration;

use super::handles::Handle;
use super::Core;
use crate::error::{ErrorKind, Result};

/// A call scheduled by [`super::Reactor::call_later`]. It is active until it
/// runs or is cancelled; after that every method but `active` fails with
/// `NotActive`.
#[derive(Clone)]
pub struct DelayedCall {
    core: Weak<Core>,
    pub(crate) handle: Handle,
}

impl DelayedCall {
    pub(crate) fn new(core: &Rc<Core>, handle: Handle) -> DelayedCall {
        DelayedCall { core: Rc::downgrade(core), handle }
    }

    fn core(&self) -> Result<Rc<Core>> {
        self.core.upgrade().ok_or_else(|| ErrorKind::StaleHandle.into())
    }

    /// True until the call has run or been cancelled.
    pub fn active(&self) -> bool {
        self.core().map(|c| c.timers().is_active(self.handle)).unwrap_or(false)
    }

    /// Cancels the call.
    pub fn cancel(&self) -> Result<()> {
        if self.core()?.timers().cancel(self.handle) {
            Ok(())
        } else {
            Err(ErrorKind::NotActive.into())
        }
    }

    /// Re-schedules the call `delay` from now. A deadline too far ahead
    /// (about 584 years after the reactor was made) is `InvalidArgument`,
    /// and the call keeps its deadline.
    pub fn reset(&self, delay: Duration) -> Result<()> {
        // A call whose reactor is gone is simply not active.
        self.core().map_err(|_| ErrorKind::NotActive)?.timers().reset(self.handle, delay)
    }

    /// Pushes the call back by `delay` from its current deadline.
    pub fn delay(&self, delay: Duration) -> Result<()> {
        self.core()?.timers().delay(self.handle, delay)
    }

    /// Time left before the call runs (zero when overdue).
    pub fn time_left(&self) -> Result<Duration> {
        self.core()?.timers().time_left(self.handle).ok_or_else(|| ErrorKind::NotActive.into())
    }
}
