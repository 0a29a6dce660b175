//! Demo crate for wbg-patch, and the fixture of its integration tests: every
//! export is a real use of Rayon through `wbg_pool::run_in_pool`, one per ABI
//! shape the runtime must proxy and one per way a pool can fail.

mod calls;

use rayon::prelude::*;
use std::hint::black_box;
use wasm_bindgen::prelude::*;
use wbg_pool::run_in_pool;

// The pool contract, exported to JS by this cdylib. (Off wasm the demo is only
// the native baseline of the benchmark.)
#[cfg(target_arch = "wasm32")]
pub use wbg_pool::{exit_thread_pool, init_thread_pool};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = Date)]
    fn now() -> f64;
    // In a worker, `process.exit` ends that worker's thread at once.
    #[wasm_bindgen(js_namespace = process, js_name = exit)]
    fn exit_this_thread(code: i32);
    // Throws on invalid JSON; without `catch`, the exception unwinds through wasm.
    #[wasm_bindgen(js_namespace = JSON, js_name = parse)]
    fn json_parse(text: &str) -> JsValue;
    #[wasm_bindgen(js_namespace = console, js_name = log)]
    fn console_log(text: &str);
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(text: &str);
}

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen(start)]
fn start() {
    wbg_pool::set_panic_hook();
    wbg_pool::set_thread_start_handler(|index| {
        if FAIL_NEXT_POOL_START.swap(false, std::sync::atomic::Ordering::SeqCst) {
            panic!("panic while the pool starts, on thread {index}");
        }
    });
}

static FAIL_NEXT_POOL_START: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes the next pool that starts panic in its thread start handler (the
/// memory is shared, so calling this on the main thread arms the pool).
#[wasm_bindgen]
pub fn fail_next_pool_start() {
    FAIL_NEXT_POOL_START.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Steps the Collatz sequence of `n` takes to reach 1.
pub fn collatz_steps(mut n: u64) -> u32 {
    let mut steps = 0;
    while n != 1 {
        n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
        steps += 1;
    }
    steps
}

/// Sum of `collatz_steps(i)` for `i` in `1..=limit`: the CPU-bound job of the
/// demo and the benchmark (exact in an f64 for any u32 limit).
#[wasm_bindgen]
pub fn collatz_sum(limit: u32) -> f64 {
    run_in_pool(|| (1..=u64::from(limit)).into_par_iter().map(|i| u64::from(collatz_steps(i))).sum::<u64>() as f64)
}

/// Number of pool threads (1 outside a pool).
#[wasm_bindgen]
pub fn pool_threads() -> u32 {
    run_in_pool(rayon::current_num_threads) as u32
}

/// Does nothing: the cost of a call.
#[wasm_bindgen]
pub fn noop() {}

/// String in, string out: upper-cases `text` in parallel.
#[wasm_bindgen]
pub fn shout(text: &str) -> String {
    run_in_pool(|| text.par_chars().flat_map_iter(char::to_uppercase).collect())
}

/// Bytes in, bytes out: every byte XOR `key`.
#[wasm_bindgen]
pub fn xor_bytes(data: &[u8], key: u8) -> Vec<u8> {
    run_in_pool(|| data.par_iter().map(|b| b ^ key).collect())
}

/// u64 in and out: sum of the squares of `0..n`, wrapping.
#[wasm_bindgen]
pub fn sum_squares(n: u64) -> u64 {
    run_in_pool(|| (0..n).into_par_iter().map(|i| i.wrapping_mul(i)).reduce(|| 0, u64::wrapping_add))
}

/// i64 in and out: sum of the integers in `from..to`.
#[wasm_bindgen]
pub fn sum_range(from: i64, to: i64) -> i64 {
    run_in_pool(|| (from..to).into_par_iter().sum())
}

/// Option out: the first multiple of `of` in `from..to`, if any.
#[wasm_bindgen]
pub fn first_multiple(of: u32, from: u32, to: u32) -> Option<u32> {
    run_in_pool(|| (from..to).into_par_iter().find_first(|i| of != 0 && i % of == 0))
}

/// Result both ways: the mean of `values`, an error for an empty slice or NaN.
#[wasm_bindgen]
pub fn checked_mean(values: &[f64]) -> Result<f64, JsError> {
    if values.is_empty() {
        return Err(JsError::new("checked_mean: no values"));
    }
    let sum: f64 = run_in_pool(|| values.par_iter().sum());
    if sum.is_nan() {
        return Err(JsError::new("checked_mean: values contain NaN"));
    }
    Ok(sum / values.len() as f64)
}

/// JsValue in: `typeof value`, as JS says it. Only values that can be copied
/// between threads reach a pool; a JS function cannot.
#[wasm_bindgen]
pub fn js_type_of(value: JsValue) -> String {
    value.js_typeof().as_string().unwrap_or_default()
}

/// A struct across the boundary: a byte histogram filled in parallel.
#[wasm_bindgen]
pub struct Histogram {
    counts: Vec<u32>,
}

#[wasm_bindgen]
impl Histogram {
    /// A histogram with `buckets` buckets (at least one) over the byte values.
    #[wasm_bindgen(constructor)]
    pub fn new(buckets: u32) -> Histogram {
        Histogram { counts: vec![0; buckets.max(1) as usize] }
    }

    /// Counts every byte of `data` into its bucket.
    pub fn add(&mut self, data: &[u8]) {
        let buckets = self.counts.len();
        let counts = run_in_pool(|| {
            data.par_chunks(4096)
                .map(|chunk| {
                    let mut local = vec![0u32; buckets];
                    for &b in chunk {
                        local[usize::from(b) * buckets / 256] += 1;
                    }
                    local
                })
                .reduce(|| vec![0; buckets], |a, b| a.iter().zip(&b).map(|(x, y)| x + y).collect())
        });
        for (total, add) in self.counts.iter_mut().zip(counts) {
            *total += add;
        }
    }

    /// The count of bucket `index`.
    pub fn bucket(&self, index: u32) -> u32 {
        self.counts.get(index as usize).copied().unwrap_or(0)
    }

    /// All bytes counted so far.
    #[wasm_bindgen(getter)]
    pub fn total(&self) -> u32 {
        self.counts.iter().sum()
    }
}

/// A struct holding a JS value in wasm state, as SDKs keep callbacks, options
/// or JS objects next to their Rust data.
#[wasm_bindgen]
pub struct JsHolder {
    value: JsValue,
}

#[wasm_bindgen]
impl JsHolder {
    /// Keeps `value`.
    #[wasm_bindgen(constructor)]
    pub fn new(value: JsValue) -> JsHolder {
        JsHolder { value }
    }

    /// The value kept.
    #[wasm_bindgen(getter)]
    pub fn value(&self) -> JsValue {
        self.value.clone()
    }
}

/// Holds `count` JS values at once on one pool thread and says whether each
/// kept its own value: the thread's range of the table of JS values must hold
/// them (Rust's JsValue cannot leave its thread, so they are made there).
#[wasm_bindgen]
pub fn hold_js_values_on_a_pool_thread(count: u32) -> bool {
    run_in_pool(|| {
        let values: Vec<JsValue> = (0..count).map(JsValue::from).collect();
        values.iter().zip(0..count).all(|(value, i)| value.as_f64() == Some(f64::from(i)))
    })
}

/// Two histograms added bucket by bucket (the longer one's buckets): a struct
/// passed as an argument and one returned.
#[wasm_bindgen]
pub fn merge_histograms(a: &Histogram, b: &Histogram) -> Histogram {
    let (long, short) = if a.counts.len() >= b.counts.len() { (a, b) } else { (b, a) };
    let mut counts = long.counts.clone();
    for (total, add) in counts.iter_mut().zip(&short.counts) {
        *total += add;
    }
    Histogram { counts }
}

/// Logs `lines` numbered lines from every pool thread, then returns the
/// number of threads that logged.
#[wasm_bindgen]
pub fn log_from_every_thread(lines: u32) -> u32 {
    run_in_pool(|| {
        rayon::broadcast(|ctx| {
            for line in 0..lines {
                log::info!("thread {} line {}", ctx.index(), line);
            }
        })
        .len() as u32
    })
}

/// Prints with console.log and console.error between two log records, on the
/// host and then on every pool thread, and keeps the pool busy for `ms`
/// milliseconds after: the output must reach the terminal during the call.
#[wasm_bindgen]
pub fn print_between_logs(ms: f64) -> u32 {
    log::info!("host log before");
    console_log("host console.log");
    console_error("host console.error");
    log::info!("host log after");
    run_in_pool(|| {
        rayon::broadcast(|ctx| {
            log::info!("thread {} log before", ctx.index());
            console_log(&format!("thread {} console.log", ctx.index()));
            log::info!("thread {} log after", ctx.index());
        });
    });
    busy(ms)
}

/// Panics on the pool thread that reaches `index` of `0..len`, after logging.
#[wasm_bindgen]
pub fn panic_at(len: u32, index: u32) -> u32 {
    run_in_pool(|| {
        (0..len)
            .into_par_iter()
            .map(|i| {
                if i == index {
                    log::warn!("about to panic at index {i}");
                    panic!("demo panic at index {i}");
                }
                i
            })
            .count() as u32
    })
}

/// Panics in the first (`first = true`) or the second closure of a `join`.
#[wasm_bindgen]
pub fn panic_in_join(first: bool) -> u32 {
    run_in_pool(|| {
        let (a, b) = rayon::join(
            || if first { panic!("panic in the first closure of join") } else { 1 },
            || if first { 2 } else { panic!("panic in the second closure of join") },
        );
        a + b
    })
}

/// Panics in a task spawned into a `scope`.
#[wasm_bindgen]
pub fn panic_in_scope() {
    run_in_pool(|| rayon::scope(|s| s.spawn(|_| panic!("panic in a scope spawn"))));
}

/// Panics in a detached job (`spawn`, or `spawn_fifo` with `fifo`), while the
/// call itself waits for an answer that never comes: only the report can end it
/// (under panic=abort, where the panic ends its thread).
#[wasm_bindgen]
pub fn panic_in_detached_spawn(fifo: bool) {
    let (_keep_open, never) = std::sync::mpsc::channel::<()>();
    spawn_panicking_job(fifo);
    let _ = never.recv();
}

/// Spawns a detached job (`spawn`, or `spawn_fifo` with `fifo`) that panics,
/// and returns at once: no call is there to reject, so in a panic=unwind build
/// only the pool's panic handler (the `detachedPanic` report) sees the panic.
#[wasm_bindgen]
pub fn spawn_panicking_job(fifo: bool) {
    run_in_pool(|| {
        let job = || panic!("panic in a detached spawn");
        if fifo {
            rayon::spawn_fifo(job);
        } else {
            rayon::spawn(job);
        }
    });
}

/// Panics on pool thread 0 inside `rayon::broadcast` while the other threads
/// run their part: Rayon re-raises it on the caller once every part ended.
#[wasm_bindgen]
pub fn panic_in_broadcast() {
    run_in_pool(|| {
        rayon::broadcast(|ctx| {
            if ctx.index() == 0 {
                panic!("panic in a broadcast on thread 0");
            }
        })
    });
}

/// Panics inside a nested `run_in_pool` (an `install` within the pool), in a `join`.
#[wasm_bindgen]
pub fn panic_in_nested_install() -> u32 {
    run_in_pool(|| run_in_pool(|| rayon::join(|| 1, || -> u32 { panic!("panic in a nested install") }).0))
}

/// Panics on the host thread, before anything enters the pool.
#[wasm_bindgen]
pub fn panic_on_host() -> u32 {
    panic!("panic on the host before entering the pool")
}

/// Panics on a pool thread with a payload that is not a string.
#[wasm_bindgen]
pub fn panic_with_number() {
    run_in_pool(|| rayon::join(|| std::panic::panic_any(42_i32), || ()));
}

/// Which panic hook the crate installs itself, as SDKs do inside their exports
/// (replacing any hook installed before): 0 = console_error_panic_hook,
/// 1 = a `std::panic::set_hook` that reports nothing.
fn install_crate_hook(kind: u32) {
    match kind {
        0 => console_error_panic_hook::set_once(),
        _ => std::panic::set_hook(Box::new(|_| {})),
    }
}

/// Installs the crate's own panic hook (see `install_crate_hook`) and returns.
#[wasm_bindgen]
pub fn install_panic_hook(kind: u32) {
    install_crate_hook(kind);
}

/// Installs the crate's own panic hook inside this call, on the host or on a
/// pool thread, then panics right there.
#[wasm_bindgen]
pub fn panic_after_own_hook(kind: u32, on_pool_thread: bool) -> u32 {
    let fail = move || -> u32 {
        install_crate_hook(kind);
        panic!("panic after the crate installed hook {kind}")
    };
    if on_pool_thread {
        run_in_pool(|| rayon::join(|| 1, fail).1)
    } else {
        fail()
    }
}

struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("panic inside Drop");
    }
}

/// Panics inside a `Drop` implementation on a pool thread.
#[wasm_bindgen]
pub fn panic_in_drop() {
    run_in_pool(|| rayon::join(|| drop(black_box(PanicsOnDrop)), || ()));
}

/// Panics on a pool thread that holds the lock of [`panic_holding_lock`] and a
/// value whose `Drop` panics: the drop runs while the first panic unwinds, and a
/// panic while panicking must abort (the real abort of a panic=unwind build; under
/// panic=abort the first panic already ends the thread). Note: rustc up to 1.96
/// does not abort there on wasm (rust-lang/rust#151771, fixed by #155249): the
/// second panic unwinds on and skips the frame's other destructors, so the lock
/// stays held; [`shared_state_poisoned`] tells the two apart.
#[wasm_bindgen]
pub fn panic_in_drop_while_unwinding() {
    run_in_pool(|| {
        rayon::join(
            || {
                let _guard = SHARED_STATE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let _drops_while_unwinding = black_box(PanicsOnDrop);
                panic!("panic with a value whose Drop panics");
            },
            || (),
        )
    });
}

/// The same on the calling thread, outside the pool (the main thread outside
/// `execute()`, or the host inside it): no `run_in_pool` checks the threads
/// afterwards, so the runtime asks this thread whether it still counts as
/// panicking once the panic reached the export.
#[wasm_bindgen]
pub fn panic_in_drop_while_unwinding_here() {
    let _guard = SHARED_STATE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let _drops_while_unwinding = black_box(PanicsOnDrop);
    panic!("panic with a value whose Drop panics");
}

/// Panics on a pool thread inside a function that cannot unwind (`extern "C"`):
/// even a panic=unwind build aborts there, after the panic hook reported the
/// panic, so the trap that follows is that panic.
#[wasm_bindgen]
pub fn panic_that_cannot_unwind() -> u32 {
    extern "C" fn cannot_unwind(value: u32) -> u32 {
        if black_box(value) > 0 {
            panic!("panic in a function that must not unwind");
        }
        value
    }
    run_in_pool(|| rayon::join(|| cannot_unwind(1), || 1).1)
}

/// A JS exception thrown into a pool thread (an import that throws), which
/// ends that thread's worker with an ordinary JS error.
#[wasm_bindgen]
pub fn throw_js_on_pool_thread() -> u32 {
    run_in_pool(|| rayon::join(|| json_parse("{ not json").is_undefined() as u32, || 1).1)
}

/// Ends one pool thread from JS without any report, as if its worker had
/// been killed: the pool can never finish the job it held.
#[wasm_bindgen]
pub fn end_a_pool_thread() -> u32 {
    run_in_pool(|| rayon::join(|| exit_this_thread(0), || 1).1)
}

/// Keeps every pool thread busy for `ms` milliseconds, then returns how many
/// threads worked: a healthy call that is slow.
#[wasm_bindgen]
pub fn busy(ms: f64) -> u32 {
    run_in_pool(|| {
        let deadline = now() + ms;
        rayon::broadcast(|_| {
            let mut spins = 0u64;
            while now() < deadline {
                spins = black_box(spins + 1);
            }
        })
        .len() as u32
    })
}

/// Blocks every pool thread forever without a panic: only the liveness check
/// can notice.
#[wasm_bindgen]
pub fn deadlock() {
    run_in_pool(|| {
        rayon::broadcast(|_| loop {
            std::thread::park();
        });
    });
}

static NEVER_SET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Spin-waits on every pool thread for a flag nobody sets, as a livelock or
/// an SDK's own spin-wait gone wrong would: the pool uses CPU, so it looks
/// alive; only a call timeout can end it.
#[wasm_bindgen]
pub fn spin_forever() {
    run_in_pool(|| {
        rayon::broadcast(|_| {
            while !NEVER_SET.load(std::sync::atomic::Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        });
    });
}

static DETACHED_DONE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Starts a detached job (`rayon::spawn`) that keeps a pool thread busy for
/// `ms` milliseconds and then counts itself done; returns at once.
#[wasm_bindgen]
pub fn spawn_detached_busy(ms: f64) {
    run_in_pool(|| {
        rayon::spawn(move || {
            let deadline = now() + ms;
            let mut spins = 0u64;
            while now() < deadline {
                spins = black_box(spins + 1);
            }
            DETACHED_DONE.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        })
    });
}

/// How many jobs started by [`spawn_detached_busy`] have finished.
#[wasm_bindgen]
pub fn detached_jobs_done() -> u32 {
    DETACHED_DONE.load(std::sync::atomic::Ordering::SeqCst)
}

static ALLOC_CHECKS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
static ALLOC_ERRORS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Starts `jobs` detached jobs on the pool that, for `ms` milliseconds,
/// allocates buffers of varying size, fills each with its own pattern, and
/// checks the pattern before freeing it: while the main thread allocates in the
/// same memory, any overlap shows as a corrupted buffer. Returns at once; read
/// the outcome with [`allocation_report`].
#[wasm_bindgen]
pub fn spawn_allocating_jobs(jobs: usize, ms: f64) {
    run_in_pool(|| {
        for thread in 0..jobs {
            rayon::spawn(move || {
                let deadline = now() + ms;
                let mut round = 0usize;
                while now() < deadline {
                    round += 1;
                    let pattern = (round * 31 + thread * 7) as u8;
                    let buffers: Vec<Vec<u8>> = (0..16).map(|i| vec![pattern ^ i as u8; 16 + (round * 13 + i * 57) % 3000]).collect();
                    for (i, buffer) in buffers.iter().enumerate() {
                        if buffer.iter().any(|&b| b != pattern ^ i as u8) {
                            ALLOC_ERRORS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                    ALLOC_CHECKS.fetch_add(buffers.len() as u32, std::sync::atomic::Ordering::SeqCst);
                }
                DETACHED_DONE.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
    });
}

/// `[buffers checked, buffers found corrupted]` by [`spawn_allocating_jobs`].
#[wasm_bindgen]
pub fn allocation_report() -> Vec<u32> {
    vec![ALLOC_CHECKS.load(std::sync::atomic::Ordering::SeqCst), ALLOC_ERRORS.load(std::sync::atomic::Ordering::SeqCst)]
}

static SHARED_STATE: std::sync::Mutex<u32> = std::sync::Mutex::new(0);

/// Panics on a pool thread while holding a lock that [`bump_shared_state`]
/// needs: under panic=abort the lock stays held in that memory forever; in a
/// panic=unwind build the guard is dropped as the panic unwinds, which poisons
/// the lock (see [`shared_state_poisoned`]).
#[wasm_bindgen]
pub fn panic_holding_lock() {
    run_in_pool(|| {
        rayon::join(
            || {
                let _guard = SHARED_STATE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                panic!("panicked while holding the shared-state lock");
            },
            || (),
        )
    });
}

/// An imported JS function throws while this thread (the host) holds the lock
/// that [`bump_shared_state`] needs: the exception unwinds through the wasm
/// frames without running Rust's destructors, so the lock stays held.
#[wasm_bindgen]
pub fn throw_js_holding_lock() -> u32 {
    let _guard = SHARED_STATE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    json_parse("{ not json").is_undefined() as u32
}

/// Takes the lock [`panic_holding_lock`] leaves held, and counts calls.
#[wasm_bindgen]
pub fn bump_shared_state() -> u32 {
    run_in_pool(|| {
        let mut state = SHARED_STATE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *state += 1;
        *state
    })
}

/// Whether the lock of [`panic_holding_lock`] is poisoned (a panic unwound
/// while it was held), without waiting: a lock still held, as panic=abort or a
/// JS exception through Rust frames leaves it, is an error, not a hang.
#[wasm_bindgen]
pub fn shared_state_poisoned() -> Result<bool, JsError> {
    match SHARED_STATE.try_lock() {
        Ok(_) => Ok(false),
        Err(std::sync::TryLockError::Poisoned(_)) => Ok(true),
        Err(std::sync::TryLockError::WouldBlock) => Err(JsError::new("the shared-state lock is held")),
    }
}

/// Clears the poison [`panic_holding_lock`] leaves in a panic=unwind build, so
/// that a test starts from a clean lock on a memory that was kept.
#[wasm_bindgen]
pub fn clear_shared_state_poison() {
    SHARED_STATE.clear_poison();
}

/// Traps on a pool thread with an out-of-bounds memory access (no panic).
#[wasm_bindgen]
pub fn trap_out_of_bounds() -> u32 {
    // SAFETY: none: reading past the end of linear memory is the point; on wasm
    // it traps before anything is read.
    run_in_pool(|| unsafe { std::ptr::read_volatile((usize::MAX - 15) as *const u32) })
}

fn recurse(depth: u64) -> u64 {
    if depth == 0 {
        0
    } else {
        1 + black_box(recurse(black_box(depth - 1)))
    }
}

/// Traps on a pool thread by overflowing the stack (no panic).
#[wasm_bindgen]
pub fn trap_stack_overflow() -> f64 {
    run_in_pool(|| recurse(u64::MAX) as f64)
}

/// Traps on a pool thread by allocating more than the memory maximum (1 GiB).
#[wasm_bindgen]
pub fn trap_out_of_memory() -> u32 {
    run_in_pool(|| black_box(Vec::<u8>::with_capacity(1536 << 20)).capacity() as u32)
}

/// Takes the memory's room up to its maximum, all but about `leave_kib` KiB, and keeps it, as
/// an app whose data filled its memory would (an allocation that fails is given up, not
/// aborted on): a pool started then has no room for its threads' stacks. Returns the KiB taken.
#[wasm_bindgen]
pub fn fill_memory(leave_kib: u32) -> u32 {
    let mut taken = FILLED.lock().unwrap();
    let left = vec![0u8; leave_kib as usize * 1024];
    let mut chunk = 64usize << 20;
    let mut kib = 0;
    while chunk >= 64 << 10 {
        let mut block = Vec::<u8>::new();
        if block.try_reserve_exact(chunk).is_ok() {
            taken.push(block);
            kib += (chunk >> 10) as u32;
        } else {
            chunk /= 2;
        }
    }
    drop(left);
    kib
}

static FILLED: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

/// Aborts on a pool thread without a panic.
#[wasm_bindgen]
pub fn abort_in_pool() {
    run_in_pool(|| std::process::abort());
}
