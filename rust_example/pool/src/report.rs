//! What a panic or a log record looks like when it leaves Rust: plain values that
//! the JS side can carry to the main thread. Kept free of wasm so it is tested on
//! the host.

use std::any::Any;
use std::fmt;

/// Which thread something happened on, as the JS side numbers threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadRole {
    /// A Rayon pool thread, by its index in the pool.
    Pool(usize),
    /// Any thread that is not a pool thread (the ThreadPoolHost, or the main thread).
    Other,
}

impl ThreadRole {
    /// The role of the calling thread: a thread of wbg-pool's pool, or any other
    /// (also one that runs Rayon's own pool, such as its single-thread fallback).
    pub fn current() -> Self {
        crate::pool::thread_index().map_or(ThreadRole::Other, ThreadRole::Pool)
    }

    /// The number sent to JS: the pool index, or -1 for a thread outside the pool.
    pub fn to_js(self) -> i32 {
        match self {
            ThreadRole::Pool(index) => i32::try_from(index).unwrap_or(i32::MAX),
            ThreadRole::Other => -1,
        }
    }
}

impl fmt::Display for ThreadRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThreadRole::Pool(index) => write!(f, "pool thread {index}"),
            ThreadRole::Other => f.write_str("a thread outside the pool"),
        }
    }
}

/// A panic as reported to JS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanicReport {
    /// The panic message; `Box<dyn Any>` for a payload that is not a string.
    pub message: String,
    /// Source file of the panic, empty when Rust gave no location.
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: u32,
    /// 1-based column, 0 when unknown.
    pub column: u32,
    /// The thread that panicked.
    pub thread: ThreadRole,
}

impl PanicReport {
    /// Builds a report from what a panic hook is given.
    pub fn new(
        payload: &(dyn Any + Send),
        location: Option<&std::panic::Location<'_>>,
        thread: ThreadRole,
    ) -> Self {
        let (file, line, column) = location
            .map(|l| (l.file().to_owned(), l.line(), l.column()))
            .unwrap_or_default();
        PanicReport { message: payload_message(payload), file, line, column, thread }
    }
}

impl fmt::Display for PanicReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "panicked on {}", self.thread)?;
        if !self.file.is_empty() {
            write!(f, " at {}:{}:{}", self.file, self.line, self.column)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The text of a panic payload, as std's own hook prints it.
pub(crate) fn payload_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

/// The level number sent to JS: 1 = error … 5 = trace, as `log::Level` counts.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn level_to_js(level: log::Level) -> u8 {
    level as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_payloads_keep_their_text_and_others_are_named() {
        assert_eq!(payload_message(&"static str"), "static str");
        assert_eq!(payload_message(&String::from("owned")), "owned");
        assert_eq!(payload_message(&42_i32), "Box<dyn Any>");
    }

    #[test]
    fn report_formats_location_and_thread() {
        let location = std::panic::Location::caller();
        let report = PanicReport::new(&"boom", Some(location), ThreadRole::Pool(3));
        assert_eq!(report.file, file!());
        assert_eq!(report.line, location.line());
        assert_eq!(
            report.to_string(),
            format!("panicked on pool thread 3 at {}:{}:{}: boom", file!(), location.line(), location.column())
        );
        let bare = PanicReport::new(&"x", None, ThreadRole::Other);
        assert_eq!(bare.to_string(), "panicked on a thread outside the pool: x");
    }

    #[test]
    fn thread_roles_map_to_js_numbers() {
        assert_eq!(ThreadRole::Pool(5).to_js(), 5);
        assert_eq!(ThreadRole::Other.to_js(), -1);
        assert_eq!(ThreadRole::current(), ThreadRole::Other);
        // A Rayon pool that is not wbg-pool's (the main thread's fallback one, say) is not "the pool".
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        assert_eq!(pool.install(ThreadRole::current), ThreadRole::Other);
    }

    #[test]
    fn log_levels_count_from_error() {
        assert_eq!(level_to_js(log::Level::Error), 1);
        assert_eq!(level_to_js(log::Level::Trace), 5);
    }
}
