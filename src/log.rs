//! Library warnings, delivered to the embedding application when it has set
//! a log callback, otherwise dropped.

use std::cell::RefCell;
use std::rc::Rc;

use crate::reactor::Core;

/// Severity of a log message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// Receives log messages.
pub type LogSink = Box<dyn FnMut(Level, &str)>;

thread_local! {
    static SINK: RefCell<Option<LogSink>> = const { RefCell::new(None) };
}

/// Sets (or clears) the log sink for reactors on this thread.
pub fn set_sink(sink: Option<LogSink>) {
    SINK.with(|s| *s.borrow_mut() = sink);
}

/// Like [`set_sink`], but fails (handing the sink back) instead of
/// panicking when called from inside the sink itself.
pub fn try_set_sink(sink: Option<LogSink>) -> std::result::Result<(), Option<LogSink>> {
    SINK.with(|s| match s.try_borrow_mut() {
        Ok(mut slot) => {
            *slot = sink;
            Ok(())
        }
        Err(_) => Err(sink),
    })
}

pub(crate) fn warn(_core: &Rc<Core>, message: &str) {
    emit(Level::Warn, message);
}

pub(crate) fn emit(level: Level, message: &str) {
    SINK.with(|s| {
        if let Ok(mut sink) = s.try_borrow_mut() {
            if let Some(f) = sink.as_mut() {
                f(level, message);
            }
        }
    });
}
