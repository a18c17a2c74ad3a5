//! The transport calls of a [`Connection`].

use std::cell::Cell;
use std::io::IoSlice;
use std::rc::Rc;

use super::{Connection, Kind, Phase, PAUSED_BY_ANSWERS, PAUSED_BY_USER};
use crate::error::{ErrorKind, Result};
use crate::reactor::Core;
use crate::transport::{Address, Producer, Reason, ReasonKind, Transport, TransportOps};

impl<K: Kind> TransportOps for Connection<K> {
    fn write(self: Rc<Self>, core: &Rc<Core>, bufs: &[IoSlice<'_>]) -> Result<()> {
        self.write_bufs(core, bufs, false)
    }

    fn write_urgent(self: Rc<Self>, core: &Rc<Core>, data: &[u8]) -> Result<()> {
        if !K::URGENT {
            return Err(ErrorKind::NotSupported.into());
        }
        self.write_bufs(core, &[IoSlice::new(data)], true)
    }

    fn write_answer(self: Rc<Self>, core: &Rc<Core>, data: &[u8]) -> Result<()> {
        self.write_bufs(core, &[IoSlice::new(data)], false)?;
        let mut st = self.state.borrow_mut();
        if st.queue.len() > self.producer.high_water() {
            st.paused |= PAUSED_BY_ANSWERS;
        }
        Ok(())
    }

    fn lose_connection(self: Rc<Self>, core: &Rc<Core>) -> Result<()> {
        match self.phase() {
            Phase::Connecting => self.fail(core, Reason::new(ReasonKind::Cancelled, "the connection attempt was cancelled")),
            Phase::Open => self.lose(core),
            Phase::Closed => {}
        }
        Ok(())
    }

    fn lose_write_connection(self: Rc<Self>, core: &Rc<Core>) -> Result<()> {
        if !K::HALF_CLOSE {
            return Err(ErrorKind::NotSupported.into());
        }
        {
            let mut st = self.state.borrow_mut();
            if st.phase == Phase::Closed || st.write_shut_requested {
                return Ok(());
            }
            st.write_shut_requested = true;
        }
        let me = self.clone();
        core.defer(move |core| me.settle(core));
        Ok(())
    }

    fn abort_connection(self: Rc<Self>, core: &Rc<Core>) -> Result<()> {
        match self.phase() {
            Phase::Connecting => self.fail(core, Reason::new(ReasonKind::Cancelled, "the connection attempt was aborted")),
            // The producer is stopped with the final notification, from the
            // loop: stopping it here would run its code inside this call.
            Phase::Open => self.close(core, Reason::new(ReasonKind::Aborted, "the connection was aborted"), true),
            Phase::Closed => {}
        }
        Ok(())
    }

    fn host(&self) -> Result<Address> {
        K::host(self)
    }

    fn peer(&self) -> Result<Address> {
        K::peer(self)
    }

    fn set_reading(self: Rc<Self>, core: &Rc<Core>, reading: bool) -> Result<()> {
        let resume = {
            let mut st = self.state.borrow_mut();
            let was = st.paused;
            if reading {
                st.paused &= !PAUSED_BY_USER;
            } else {
                st.paused |= PAUSED_BY_USER;
            }
            was != 0 && st.paused == 0
        };
        if resume {
            // Edge-triggered: data may have arrived while paused.
            self.schedule_read(core);
        }
        Ok(())
    }

    fn queued(&self) -> usize {
        self.state.borrow().queue.len()
    }

    fn register_producer(
        self: Rc<Self>,
        core: &Rc<Core>,
        face: &Transport,
        producer: Box<dyn Producer>,
        streaming: bool,
    ) -> Result<()> {
        self.producer.register(core, face, self.queued(), producer, streaming)
    }

    fn register_own_reading(self: Rc<Self>, core: &Rc<Core>, face: &Transport) -> Result<()> {
        self.producer.register_own_reading(&self.transport(core), face, self.queued())
    }

    fn unregister_producer(self: Rc<Self>, core: &Rc<Core>) -> Result<()> {
        self.producer.unregister(&self.transport(core))?;
        self.settle(core);
        Ok(())
    }

    fn set_high_water(&self, bytes: usize) -> Result<()> {
        self.producer.set_high_water(bytes);
        Ok(())
    }

    fn user_data(&self) -> &Cell<usize> {
        &self.user
    }
}
