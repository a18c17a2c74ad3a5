//! marline's panic hook (issue 12 item 10): installed once per process on
//! the first C call, it keeps the message of a panic inside a marline call
//! off stderr (it goes to the log callback) and hands every other panic to
//! the hook installed before it. One test in a binary of its own: the hook
//! is process-wide.

use std::panic::{catch_unwind, PanicHookInfo};
use std::sync::Mutex;

use marline::ffi::marline_status_t::*;
use marline::ffi::*;

static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[test]
fn panics_inside_marline_go_to_the_log_and_others_to_the_earlier_hook() {
    std::panic::set_hook(Box::new(|info: &PanicHookInfo<'_>| {
        SEEN.lock().unwrap().push(info.to_string());
    }));
    let logged = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let sink = logged.clone();
    marline::log::set_sink(Some(Box::new(move |level, message: &str| sink.borrow_mut().push((level, message.to_string())))));

    assert_eq!(marline_debug_panic(), MARLINE_ERR_PANIC);
    assert!(SEEN.lock().unwrap().is_empty(), "the earlier hook saw marline's panic: {:?}", SEEN.lock().unwrap());
    let logged_now = logged.borrow().clone();
    assert_eq!(logged_now.len(), 1, "{logged_now:?}");
    assert_eq!(logged_now[0].0, marline::log::Level::Error);
    assert!(logged_now[0].1.contains("marline_debug_panic was called"), "{}", logged_now[0].1);

    // A panic outside any marline call, after marline's hook went in.
    assert!(catch_unwind(|| panic!("the host's own panic")).is_err());
    let seen = SEEN.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].contains("the host's own panic"), "{}", seen[0]);
    assert_eq!(logged.borrow().len(), 1, "the host's panic did not go to marline's log");
    let _ = std::panic::take_hook();
}
