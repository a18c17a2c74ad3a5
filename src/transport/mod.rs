//! What every transport shares: the protocol and producer interfaces, the
//! handle users hold, the connection lifecycle (the `connection` module), the write
//! queue, flow control and reasons.

mod address;
pub(crate) mod connection;
mod producer;
mod reason;
pub mod write_queue;

use std::cell::{Cell, RefCell};
use std::io::IoSlice;
use std::rc::{Rc, Weak};

pub use address::Address;
pub(crate) use producer::ProducerSlot;
pub use reason::{ExitInfo, Reason, ReasonKind};

use crate::error::{ErrorKind, Result};
use crate::reactor::handles::Handle;
use crate::reactor::Core;

/// Default write-queue size above which a streaming producer is paused.
pub const DEFAULT_HIGH_WATER: usize = 64 * 1024;

/// Receives a connection's events. Every method has a default, so a
/// protocol implements only what it needs.
pub trait Protocol {
    /// The connection is established.
    fn connection_made(&mut self, _t: &Transport) {}
    /// Bytes arrived. `data` is valid for the call only.
    fn data_received(&mut self, _t: &Transport, _data: &[u8]) {}
    /// TCP urgent (out-of-band) data arrived, at its place in the stream:
    /// everything sent before it has already been delivered.
    fn urgent_data_received(&mut self, _t: &Transport, _data: &[u8]) {}
    /// The peer has sent urgent data that has not been read yet (TCP:
    /// EPOLLPRI). Called before the data in front of the urgent mark is
    /// delivered, so a protocol can treat that data specially (telnet Synch
    /// discards it). `urgent_data_received` follows once the mark is reached.
    fn urgent_pending(&mut self, _t: &Transport) {}
    /// The connection is gone. Fires exactly once, from the loop; the
    /// handle is dead when it returns.
    fn connection_lost(&mut self, _t: &Transport, _reason: &Reason) {}
    /// A client connection could not be made (instead of connection_lost).
    fn connection_failed(&mut self, _t: &Transport, _reason: &Reason) {}
    /// Opt into half-close: the two notifications below are delivered
    /// instead of closing when one direction ends.
    fn half_close(&self) -> bool {
        false
    }
    /// Opt out of urgent data. A protocol that does not handle it returns
    /// false: a TCP connection then skips the urgent-mark check (one system
    /// call) before each read that does not directly follow a readiness
    /// report — once per 64 KiB of bulk data — and an urgent byte arriving
    /// in the middle of such reads may then be dropped instead of passed
    /// to `urgent_data_received`. The normal stream is the same either way.
    fn receives_urgent_data(&self) -> bool {
        true
    }
    /// The peer closed its sending side; we may keep writing. (Not delivered
    /// once lose_connection has been called: no input is delivered then.)
    fn read_connection_lost(&mut self, _t: &Transport) {}
    /// Our sending side was shut down: lose_write_connection was called, the
    /// queue has drained and no producer is registered. Delivered from the
    /// loop, and always before connection_lost, even when both sides
    /// half-close in the same turn and the connection ends at once.
    fn write_connection_lost(&mut self, _t: &Transport) {}
}

/// A source of data for a transport (Twisted's IProducer).
///
/// The methods take `&self` because they are re-entered: a producer writing
/// from `resume_producing` is told `pause_producing` from inside its own
/// write, and must see it before writing again. Keep state in `Cell`s.
pub trait Producer {
    /// Stop producing for now (streaming producers).
    fn pause_producing(&self, _t: &Transport) {}
    /// Produce more.
    fn resume_producing(&self, _t: &Transport) {}
    /// Stop for good: the transport is gone or asked it to stop.
    fn stop_producing(&self, _t: &Transport) {}
}

/// The calls every transport implements. A stream transport gets them all from
/// [`Connection`](connection::Connection); a layer that wraps another transport (telnet)
/// passes the lifecycle calls through to it.
pub(crate) trait TransportOps {
    /// Sends `bufs` (one gather write when nothing is queued).
    fn write(self: Rc<Self>, core: &Rc<Core>, bufs: &[IoSlice<'_>]) -> Result<()>;
    fn write_urgent(self: Rc<Self>, _core: &Rc<Core>, _data: &[u8]) -> Result<()> {
        Err(ErrorKind::NotSupported.into())
    }
    /// Sends output generated in answer to the peer's input (telnet negotiation answers):
    /// past the high-water mark, reading from the peer stops until the queue drains.
    fn write_answer(self: Rc<Self>, core: &Rc<Core>, data: &[u8]) -> Result<()>;
    fn lose_connection(self: Rc<Self>, core: &Rc<Core>) -> Result<()>;
    fn lose_write_connection(self: Rc<Self>, _core: &Rc<Core>) -> Result<()> {
        Err(ErrorKind::NotSupported.into())
    }
    fn abort_connection(self: Rc<Self>, core: &Rc<Core>) -> Result<()>;
    fn host(&self) -> Result<Address>;
    fn peer(&self) -> Result<Address>;
    /// Stop / start reading (the transport as a producer of incoming data).
    fn set_reading(self: Rc<Self>, core: &Rc<Core>, reading: bool) -> Result<()>;
    /// Data the kernel has not taken yet.
    fn queued(&self) -> usize;
    /// Registers `producer`; its calls receive `face` (the handle it was registered on).
    fn register_producer(
        self: Rc<Self>,
        core: &Rc<Core>,
        face: &Transport,
        producer: Box<dyn Producer>,
        streaming: bool,
    ) -> Result<()>;
    /// Makes the reading of `face` the producer of this transport's writes.
    fn register_own_reading(self: Rc<Self>, core: &Rc<Core>, face: &Transport) -> Result<()>;
    /// Removes the producer (a close waiting for it goes on).
    fn unregister_producer(self: Rc<Self>, core: &Rc<Core>) -> Result<()>;
    fn set_high_water(&self, bytes: usize) -> Result<()>;
    /// An opaque word the C layer keeps per transport (its `user` pointer).
    fn user_data(&self) -> &Cell<usize>;
}

/// A handle to a transport. Cloning it is cheap; all clones name the same
/// connection. Once `connection_lost` has returned, every call fails with
/// `StaleHandle`.
#[derive(Clone)]
pub struct Transport {
    core: Weak<Core>,
    pub(crate) handle: Handle,
}

impl PartialEq for Transport {
    fn eq(&self, other: &Transport) -> bool {
        self.handle == other.handle && Weak::ptr_eq(&self.core, &other.core)
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Transport({:?})", self.handle)
    }
}

impl Transport {
    pub(crate) fn new(core: &Rc<Core>, handle: Handle) -> Transport {
        Transport { core: Rc::downgrade(core), handle }
    }

    pub(crate) fn core(&self) -> Result<Rc<Core>> {
        self.core.upgrade().ok_or_else(|| ErrorKind::StaleHandle.into())
    }

    /// Runs `f` with the live transport object.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&Rc<Core>, Rc<dyn TransportOps>) -> Result<R>) -> Result<R> {
        let core = self.core()?;
        let ops = core.object(self.handle)?.into_transport().ok_or(ErrorKind::WrongHandleType)?;
        f(&core, ops)
    }

    /// Sends `data`: at once if nothing is queued, otherwise after what is.
    /// Never blocks. Accepted until the connection has closed (also after
    /// lose_connection) or its sending side has been shut down; then `Closed`.
    pub fn write(&self, data: &[u8]) -> Result<()> {
        self.with(|core, t| t.write(core, &[IoSlice::new(data)]))
    }

    /// Sends several buffers as one gather write; only what the kernel did
    /// not take is copied.
    pub fn write_sequence(&self, bufs: &[IoSlice<'_>]) -> Result<()> {
        self.with(|core, t| t.write(core, bufs))
    }

    /// Sends `data` as TCP urgent data (the urgent pointer at its end).
    pub fn write_urgent(&self, data: &[u8]) -> Result<()> {
        self.with(|core, t| t.write_urgent(core, data))
    }

    /// Output generated in answer to the peer's input (see [`TransportOps::write_answer`]).
    pub(crate) fn write_answer(&self, data: &[u8]) -> Result<()> {
        self.with(|core, t| t.write_answer(core, data))
    }

    /// Stops delivering data, flushes what is queued, then closes (reason
    /// DONE). A registered producer is waited for: its writes are still
    /// delivered, and the close goes on once it unregisters. The peer's end
    /// of stream (without half-close) or a reset ends the wait.
    pub fn lose_connection(&self) -> Result<()> {
        self.with(|core, t| t.lose_connection(core))
    }

    /// Shuts down the sending side once the queue has drained and no
    /// producer is registered.
    pub fn lose_write_connection(&self) -> Result<()> {
        self.with(|core, t| t.lose_write_connection(core))
    }

    /// Drops the queue and resets the connection (reason ABORTED).
    pub fn abort_connection(&self) -> Result<()> {
        self.with(|core, t| t.abort_connection(core))
    }

    /// The local address.
    pub fn host(&self) -> Result<Address> {
        self.with(|_, t| t.host())
    }

    /// The remote address.
    pub fn peer(&self) -> Result<Address> {
        self.with(|_, t| t.peer())
    }

    /// Bytes written but not yet taken by the kernel.
    pub fn queued(&self) -> Result<usize> {
        self.with(|_, t| Ok(t.queued()))
    }

    /// Registers a producer; `streaming` producers are paused and resumed,
    /// pull producers are asked for more each time the queue empties.
    pub fn register_producer(&self, producer: Box<dyn Producer>, streaming: bool) -> Result<()> {
        self.register_producer_as(self, producer, streaming)
    }

    /// Registers `producer` in this transport's slot; its calls receive `face`.
    pub(crate) fn register_producer_as(&self, face: &Transport, producer: Box<dyn Producer>, streaming: bool) -> Result<()> {
        let live = self.core().and_then(|core| Ok((core.object(self.handle)?, core)));
        let (object, core) = match live {
            Ok(live) => live,
            Err(e) => {
                // Registering on a dead transport stops the producer at once.
                producer.stop_producing(face);
                return Err(e);
            }
        };
        let ops = object.into_transport().ok_or(ErrorKind::WrongHandleType)?;
        ops.register_producer(&core, face, producer, streaming)
    }

    /// Makes this transport's own reading the streaming producer of its
    /// writes (Twisted's `transport.registerProducer(transport, True)`):
    /// reading pauses while the write queue is past the high-water mark
    /// and resumes once it has drained, so a peer that does not read what
    /// it is sent cannot make the queue grow without bound — what an echo
    /// server, a proxy leg or a request/response server wants. It counts
    /// as the registered producer: [`Transport::unregister_producer`] ends
    /// it (and resumes reading if it had paused it).
    pub fn register_reading_as_producer(&self) -> Result<()> {
        self.register_own_reading_as(self)
    }

    /// As [`Transport::register_reading_as_producer`], pausing the reading of `face`.
    pub(crate) fn register_own_reading_as(&self, face: &Transport) -> Result<()> {
        self.with(|core, t| t.register_own_reading(core, face))
    }

    /// Removes the registered producer.
    pub fn unregister_producer(&self) -> Result<()> {
        self.with(|core, t| t.unregister_producer(core))
    }

    /// Stops reading from the peer until `resume_producing`.
    pub fn pause_producing(&self) -> Result<()> {
        self.with(|core, t| t.set_reading(core, false))
    }

    /// Starts reading again.
    pub fn resume_producing(&self) -> Result<()> {
        self.with(|core, t| t.set_reading(core, true))
    }

    /// Closes the connection (as the consumer asked the producer to stop).
    pub fn stop_producing(&self) -> Result<()> {
        self.lose_connection()
    }

    /// Sets the queue size above which a streaming producer is paused.
    pub fn set_write_high_water(&self, bytes: usize) -> Result<()> {
        self.with(|_, t| t.set_high_water(bytes))
    }

    pub(crate) fn user_data(&self) -> Result<usize> {
        self.with(|_, t| Ok(t.user_data().get()))
    }

    pub(crate) fn set_user_data(&self, value: usize) -> Result<()> {
        self.with(|_, t| {
            t.user_data().set(value);
            Ok(())
        })
    }
}

/// Holds a protocol between callbacks. While a callback runs the protocol is
/// taken out, so a nested call can never alias it.
pub(crate) struct ProtocolSlot<P: ?Sized>(RefCell<Option<Box<P>>>);

impl<P: ?Sized> ProtocolSlot<P> {
    pub fn new(p: Box<P>) -> Self {
        ProtocolSlot(RefCell::new(Some(p)))
    }

    /// Calls `f` with the protocol, unless another callback holds it.
    pub fn with(&self, f: impl FnOnce(&mut P)) {
        let taken = self.0.borrow_mut().take();
        if let Some(mut p) = taken {
            f(&mut p);
            let mut slot = self.0.borrow_mut();
            if slot.is_none() {
                *slot = Some(p);
            }
        }
    }

    /// Takes the protocol out for good (after the final callback).
    pub fn take(&self) -> Option<Box<P>> {
        self.0.borrow_mut().take()
    }
}
