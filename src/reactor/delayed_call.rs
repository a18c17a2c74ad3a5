//! The handle to one scheduled call.

use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use super::handles::Handle;
use super::Core;
use crate::error::{Error, Result};

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
        self.core.upgrade().ok_or(Error::StaleHandle)
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
            Err(Error::NotActive)
        }
    }

    /// Re-schedules the call `delay` from now. A delay too large for an
    /// `Instant` is `InvalidArgument` (and the call keeps its deadline).
    pub fn reset(&self, delay: Duration) -> Result<()> {
        if !self.active() {
            return Err(Error::NotActive);
        }
        let deadline = Instant::now().checked_add(delay).ok_or(Error::InvalidArgument)?;
        if self.core()?.timers().set_deadline(self.handle, deadline) {
            Ok(())
        } else {
            Err(Error::NotActive)
        }
    }

    /// Pushes the call back by `delay` from its current deadline.
    pub fn delay(&self, delay: Duration) -> Result<()> {
        let core = self.core()?;
        let mut timers = core.timers();
        let deadline = timers.deadline(self.handle).ok_or(Error::NotActive)?;
        let deadline = deadline.checked_add(delay).ok_or(Error::InvalidArgument)?;
        timers.set_deadline(self.handle, deadline);
        Ok(())
    }
}

impl DelayedCall {
    /// Time left before the call runs (zero when overdue).
    pub fn time_left(&self) -> Result<Duration> {
        let core = self.core()?;
        let deadline = core.timers().deadline(self.handle).ok_or(Error::NotActive)?;
        Ok(deadline.saturating_duration_since(Instant::now()))
    }
}
