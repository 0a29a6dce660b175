//! The JS-facing half: exports called by the wbg-patch runtime, and the hooks
//! through which Rust reports panics and logs to the JS of the calling thread.
//!
//! The runtime installs `globalThis.__wbgPoolHooks` in the ThreadPoolHost and in
//! every ThreadPoolWorker. Without it (the glue used directly, outside a pool)
//! panics and logs go to `console.error` / `console.log` instead.

use crate::pool;
use crate::report::{level_to_js, PanicReport, ThreadRole};
use js_sys::{Function, Reflect};
use std::sync::Once;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(message: &str);
    #[wasm_bindgen(js_namespace = console, js_name = log)]
    fn console_log(message: &str);
}

/// The names Rust calls the runtime's JS by. The runtime's list
/// (`runtime_js/protocol.cjs`: `HOOKS_GLOBAL`, `Hook`) must be the same:
/// `tests/unit/test_one_source.py` compares the two.
mod hooks {
    /// The global object that holds the hooks on each thread of a pool.
    pub const GLOBAL: &str = "__wbgPoolHooks";
    /// Host: `(count, receiver)`, start that many pool threads.
    pub const SPAWN_WORKERS: &str = "spawnWorkers";
    /// Pool thread: `(rayon_index)`, the thread runs.
    pub const THREAD_STARTED: &str = "threadStarted";
    /// Any thread: `(message, file, line, column, thread)`.
    pub const PANIC: &str = "panic";
    /// Any thread: `(level, target, message, thread)`.
    pub const LOG: &str = "log";
    /// Pool thread: `(message, thread)`, a detached job's panic unwound into
    /// Rayon (panic=unwind builds); its `PANIC` report came just before.
    pub const DETACHED_PANIC: &str = "detachedPanic";
    /// The thread that called `run_in_pool` (the host, or a pool thread for a
    /// nested one): `(thread)`, pool thread `thread` still counts as panicking
    /// between jobs: a panic was abandoned mid-unwinding (see `run_in_pool`).
    pub const ABANDONED_PANIC: &str = "abandonedPanic";
}

/// The hook `name` of the runtime on this thread, if the runtime installed one.
fn hook(name: &str) -> Option<Function> {
    let hooks = Reflect::get(&js_sys::global(), &JsValue::from_str(hooks::GLOBAL)).ok()?;
    if hooks.is_undefined() {
        return None;
    }
    Reflect::get(&hooks, &JsValue::from_str(name)).ok()?.dyn_into::<Function>().ok()
}

/// Calls hook `name`: `Ok(false)` when the runtime installed none on this
/// thread, `Err` with what the hook threw (never read as "no hook": that would
/// report something else than what went wrong).
fn call_hook(name: &str, args: &[JsValue]) -> Result<bool, JsValue> {
    let Some(f) = hook(name) else { return Ok(false) };
    let array: js_sys::Array = args.iter().collect();
    f.apply(&JsValue::UNDEFINED, &array).map(|_| true)
}

/// Calls hook `name` with `args`; prints `text()` with `fallback` when the
/// runtime installed no such hook on this thread (the glue used directly), and
/// with what the hook threw when it threw. The text is made only then: a log
/// record that reaches its hook is never formatted twice.
fn call_hook_or_print(name: &str, args: &[JsValue], text: impl FnOnce() -> String, fallback: fn(&str)) {
    match call_hook(name, args) {
        Ok(true) => {}
        Ok(false) => fallback(&text()),
        Err(thrown) => console_error(&format!("{} ({})", text(), thrown_text(name, &thrown))),
    }
}

/// What a hook threw, as JS prints it ("TypeError: …").
fn thrown_text(name: &str, thrown: &JsValue) -> String {
    let text = match thrown.dyn_ref::<js_sys::Error>() {
        Some(error) => String::from(error.to_string()),
        None => format!("{thrown:?}"),
    };
    format!("the runtime's {name} hook threw {text}")
}

/// Builds the Rayon pool with `num_threads` threads, each started by a JS
/// worker that the runtime spawns. Also installs the panic hook, and the
/// logger at `Info` unless a level was already set.
#[wasm_bindgen(js_name = initThreadPool)]
pub fn init_thread_pool(num_threads: usize) -> Result<(), JsError> {
    set_panic_hook();
    wbg_pool_init_logger();
    let mut spawned = Ok(true);
    pool::start(
        num_threads,
        |count, receiver| {
            spawned = call_hook(hooks::SPAWN_WORKERS, &[JsValue::from(count as u32), JsValue::from(receiver)]);
        },
        report_detached_panic,
        report_abandoned_panics,
    )
    .map_err(|e| JsError::new(&e.to_string()))?;
    let refused = match spawned {
        Ok(true) => return Ok(()),
        Ok(false) => {
            "initThreadPool must be called from the wbg-patch ThreadPoolHost (no __wbgPoolHooks.spawnWorkers on this thread)".to_owned()
        }
        Err(thrown) => thrown_text(hooks::SPAWN_WORKERS, &thrown),
    };
    pool::stop();
    Err(JsError::new(&refused))
}

/// Whether the calling thread still counts as panicking. The runtime asks after a
/// panic unwound to an export on its thread: `true` means a panic was abandoned
/// mid-unwinding there (a destructor panicked while it unwound, on a rustc that
/// unwinds that second panic instead of aborting, rust-lang/rust#151771), past
/// destructors that may have held locks, so the instance cannot go on.
#[doc(hidden)]
#[wasm_bindgen]
pub fn wbg_pool_thread_panicking() -> bool {
    std::thread::panicking()
}

/// Installs the logger at `Info` unless a level was already set, as
/// `initThreadPool` does. The runtime calls it when the glue is first used on
/// the main thread, so that what a call logs there before any pool started
/// reaches the manager's `onLog` too, not no logger at all.
#[doc(hidden)]
#[wasm_bindgen]
pub fn wbg_pool_init_logger() {
    if log::max_level() == log::LevelFilter::Off {
        init_logger(log::LevelFilter::Info);
    }
}

/// Drops the pool; its workers return from `wbg_rayon_start_worker`.
#[wasm_bindgen(js_name = exitThreadPool)]
pub fn exit_thread_pool() -> bool {
    pool::stop()
}

/// Runs one pool thread on the calling JS worker until the pool exits.
#[doc(hidden)]
#[wasm_bindgen]
pub fn wbg_rayon_start_worker(receiver: u32) -> bool {
    pool::run_worker(receiver, |index| {
        // Without its report the runtime would wait for this thread until startTimeoutMs: say why now.
        if let Err(thrown) = call_hook(hooks::THREAD_STARTED, &[JsValue::from(index as u32)]) {
            panic!("{}", thrown_text(hooks::THREAD_STARTED, &thrown));
        }
    })
}

type Hook = Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Sync + Send + 'static>;

/// Installs (once) a panic hook that reports message, location and pool
/// thread index to the JS of the panicking thread, before `panic=abort` traps.
/// It runs first and then calls the hook it found, and it stays first when the
/// crate replaces it later (`console_error_panic_hook::set_once()` inside an
/// export, or any `std::panic::set_hook`): the new hook is wrapped, not lost.
pub fn set_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| install_reporting_hook(std::panic::take_hook()));
}

fn install_reporting_hook(next: Hook) {
    let rewrap = RewrapOnReplace;
    std::panic::set_hook(Box::new(move |info| {
        let _keep = &rewrap;
        report_panic(info);
        next(info);
    }));
}

/// Lives inside our hook. `set_hook` drops the hook it replaces only after it
/// released its lock, so when ours is dropped because another hook took its
/// place, that hook can be taken and wrapped in ours again.
struct RewrapOnReplace;

impl Drop for RewrapOnReplace {
    fn drop(&mut self) {
        // Hooks cannot change during a panic (std panics); nothing replaces ours then.
        if !std::thread::panicking() {
            install_reporting_hook(std::panic::take_hook());
        }
    }
}

fn report_panic(info: &std::panic::PanicHookInfo<'_>) {
    pool::note_panic();
    let report = PanicReport::new(info.payload(), info.location(), ThreadRole::current());
    call_hook_or_print(
        hooks::PANIC,
        &[
            JsValue::from_str(&report.message),
            JsValue::from_str(&report.file),
            JsValue::from(report.line),
            JsValue::from(report.column),
            JsValue::from(report.thread.to_js()),
        ],
        || report.to_string(),
        console_error,
    );
}

/// Rayon's panic handler (panic=unwind builds): a detached job's panic, whose
/// report `report_panic` already sent, unwound with no caller to reject, so the
/// runtime must report it itself rather than wait for a call that never fails.
/// Nothing here panics (Rayon aborts when its handler does): a hook that throws
/// is printed, not unwrapped.
fn report_detached_panic(message: &str) {
    let thread = ThreadRole::current();
    call_hook_or_print(
        hooks::DETACHED_PANIC,
        &[JsValue::from_str(message), JsValue::from(thread.to_js())],
        || format!("a detached job panicked on {thread} and unwound, the pool goes on: {message}"),
        console_error,
    );
}

/// `run_in_pool`'s last word before it aborts: pool threads `threads` still count
/// as panicking, a panic abandoned mid-unwinding (see `run_in_pool`). Told to the
/// runtime first, so that the trap that follows is known for what it is.
fn report_abandoned_panics(threads: &[usize]) {
    for &index in threads {
        let thread = ThreadRole::Pool(index);
        call_hook_or_print(
            hooks::ABANDONED_PANIC,
            &[JsValue::from(thread.to_js())],
            || format!("a panic was abandoned mid-unwinding on {thread} (a destructor panicked while it unwound): locks may be held"),
            console_error,
        );
    }
}

struct JsLogger;

impl log::Log for JsLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let message = record.args().to_string();
        let thread = ThreadRole::current();
        call_hook_or_print(
            hooks::LOG,
            &[
                JsValue::from(level_to_js(record.level())),
                JsValue::from_str(record.target()),
                JsValue::from_str(&message),
                JsValue::from(thread.to_js()),
            ],
            || format!("[{} {} {}] {}", record.level(), thread, record.target(), message),
            console_log,
        );
    }

    fn flush(&self) {}
}

/// Installs (once) a `log` logger that sends each record (level, target,
/// message, thread index) to the JS of the logging thread, which adds the
/// timestamp. Later calls only change the level.
pub fn init_logger(level: log::LevelFilter) {
    static LOGGER: JsLogger = JsLogger;
    // Err means a logger is already installed (ours, or the user's): keep it.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}
