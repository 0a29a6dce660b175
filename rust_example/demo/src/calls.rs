//! Where calls run inside `execute()` (wbg_patch/wasm/waits.py): the exports
//! here are the fixtures of that choice. Each of the first group must stay on
//! the pool's host, for one reason each (a wait for another thread, thread-local
//! storage, a JS value, a JS callback, a trait object whose targets wait, a lazy
//! static), and shows it: run on the caller's instance it would fail or answer
//! otherwise. A panic hook that takes a lock shows what the caller's instance
//! does where a failing call would wait. The last group is shaped like a proof
//! SDK's circuit builder (small constructors, getters, a vector push, bytes to a
//! number): exports that cannot wait, which run on the caller's instance.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Condvar, Mutex, OnceLock};
use std::time::Duration;
use wasm_bindgen::prelude::*;
use wbg_pool::run_in_pool;

fn sleep_ms(ms: u32) {
    std::thread::sleep(Duration::from_millis(u64::from(ms)));
}

// Runs `job` on a pool thread, detached: the calling export returns at once.
fn detached(job: impl FnOnce() + Send + 'static) {
    run_in_pool(|| rayon::spawn(job));
}

// Makes a pool thread hold `lock` for `ms` milliseconds; returns once it holds it.
fn hold_on_a_pool_thread<T: Send>(lock: &'static Mutex<T>, ms: u32) {
    static HELD: AtomicBool = AtomicBool::new(false);
    HELD.store(false, Ordering::SeqCst);
    detached(move || {
        let _guard = lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        HELD.store(true, Ordering::SeqCst);
        sleep_ms(ms);
    });
    while !HELD.load(Ordering::SeqCst) {
        std::hint::spin_loop();
    }
}

static COUNTER: Mutex<u32> = Mutex::new(0);

/// Makes a pool thread hold the counter's lock for `ms` milliseconds; returns
/// once it holds it.
#[wasm_bindgen]
pub fn hold_counter_lock(ms: u32) {
    hold_on_a_pool_thread(&COUNTER, ms);
}

/// Counts under the counter's lock (a `Mutex`: it waits while another thread holds it).
#[wasm_bindgen]
pub fn count_under_lock() -> u32 {
    let mut counter = COUNTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    *counter += 1;
    *counter
}

static SIGNAL: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());

/// Makes a pool thread signal [`wait_for_signal`] after `ms` milliseconds.
#[wasm_bindgen]
pub fn signal_after(ms: u32) {
    *SIGNAL.0.lock().unwrap() = false;
    detached(move || {
        sleep_ms(ms);
        *SIGNAL.0.lock().unwrap() = true;
        SIGNAL.1.notify_all();
    });
}

/// Waits on a `Condvar` until the signal comes; returns 1.
#[wasm_bindgen]
pub fn wait_for_signal() -> u32 {
    let mut signalled = SIGNAL.0.lock().unwrap();
    while !*signalled {
        signalled = SIGNAL.1.wait(signalled).unwrap();
    }
    1
}

/// A pool thread sends `value` after `ms` milliseconds; this receives it (a channel).
#[wasm_bindgen]
pub fn receive_from_pool(ms: u32, value: u32) -> u32 {
    let (sender, receiver) = mpsc::channel();
    detached(move || {
        sleep_ms(ms);
        let _ = sender.send(value);
    });
    receiver.recv().unwrap_or(0)
}

/// Parks this thread until a pool thread unparks it, after `ms` milliseconds; returns 1.
#[wasm_bindgen]
pub fn park_until_unparked(ms: u32) -> u32 {
    static UNPARKED: AtomicBool = AtomicBool::new(false);
    UNPARKED.store(false, Ordering::SeqCst);
    let me = std::thread::current();
    detached(move || {
        sleep_ms(ms);
        UNPARKED.store(true, Ordering::SeqCst);
        me.unpark();
    });
    while !UNPARKED.load(Ordering::SeqCst) {
        std::thread::park();
    }
    1
}

thread_local! {
    static CALLS_HERE: Cell<u32> = const { Cell::new(0) };
}

/// How many times this thread called this (a `thread_local!`): each thread counts its own.
#[wasm_bindgen]
pub fn count_calls_on_this_thread() -> u32 {
    CALLS_HERE.with(|calls| {
        calls.set(calls.get() + 1);
        calls.get()
    })
}

#[wasm_bindgen]
extern "C" {
    /// A JS function, called with one number.
    pub type Callback;
    #[wasm_bindgen(method, js_name = call)]
    fn call_with(this: &Callback, this_arg: &JsValue, value: u32) -> u32;
}

/// Calls `callback(value)`, which may call wasm itself, and returns what it returns.
#[wasm_bindgen]
pub fn call_back(callback: &Callback, value: u32) -> u32 {
    callback.call_with(&JsValue::UNDEFINED, value)
}

trait Measure {
    fn measure(&self, x: u32) -> u32;
}

struct Doubled;

impl Measure for Doubled {
    fn measure(&self, x: u32) -> u32 {
        x * 2
    }
}

struct Counted;

impl Measure for Counted {
    fn measure(&self, x: u32) -> u32 {
        x + count_under_lock() * 0
    }
}

/// `x` measured by a trait object chosen at run time: `locked` picks the one that takes the counter's lock.
#[wasm_bindgen]
pub fn measure_dyn(locked: bool, x: u32) -> u32 {
    let measure: Box<dyn Measure> = if std::hint::black_box(locked) { Box::new(Counted) } else { Box::new(Doubled) };
    measure.measure(x)
}

/// The `i`th of a table computed on first use (a `OnceLock`): a thread that
/// comes while another computes it waits for it.
#[wasm_bindgen]
pub fn lazy_square(i: u32) -> u32 {
    static SQUARES: OnceLock<Vec<u32>> = OnceLock::new();
    SQUARES.get_or_init(|| (0..1024).map(|n| n * n).collect())[i as usize % 1024]
}

static HOOK_LOCK: Mutex<()> = Mutex::new(());

/// Installs a panic hook that takes a lock, then runs the hook there was (as a
/// crate's own hook that logs under a lock would).
#[wasm_bindgen]
pub fn install_locking_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _guard = HOOK_LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        previous(info);
    }));
}

/// Makes a pool thread hold the lock of [`install_locking_hook`]'s hook for `ms`
/// milliseconds; returns once it holds it.
#[wasm_bindgen]
pub fn hold_hook_lock(ms: u32) {
    hold_on_a_pool_thread(&HOOK_LOCK, ms);
}

/// A cell of a circuit: a row and a column.
#[wasm_bindgen]
#[derive(Clone, Copy)]
pub struct Wire {
    row: u32,
    col: u32,
}

#[wasm_bindgen]
impl Wire {
    #[wasm_bindgen(constructor)]
    pub fn new(row: u32, col: u32) -> Wire {
        Wire { row, col }
    }

    #[wasm_bindgen(getter)]
    pub fn row(&self) -> u32 {
        self.row
    }
}

/// A gate: its kind, the seven wires it connects, and its coefficients.
#[wasm_bindgen]
pub struct Gate {
    kind: u32,
    wires: [Wire; 7],
    coefficients: Vec<u64>,
}

#[wasm_bindgen]
impl Gate {
    #[wasm_bindgen(constructor)]
    #[allow(clippy::too_many_arguments)]
    pub fn new(kind: u32, w0: &Wire, w1: &Wire, w2: &Wire, w3: &Wire, w4: &Wire, w5: &Wire, w6: &Wire, coefficients: &[u8]) -> Gate {
        let coefficients = coefficients.chunks(8).map(field_from_bytes).collect();
        Gate { kind, wires: [*w0, *w1, *w2, *w3, *w4, *w5, *w6], coefficients }
    }
}

/// The gates of a circuit, in order.
#[wasm_bindgen]
#[derive(Default)]
pub struct GateVector {
    gates: Vec<Gate>,
}

#[wasm_bindgen]
impl GateVector {
    #[wasm_bindgen(constructor)]
    pub fn new() -> GateVector {
        GateVector::default()
    }

    pub fn add(&mut self, gate: &Gate) {
        self.gates.push(Gate { kind: gate.kind, wires: gate.wires, coefficients: gate.coefficients.clone() });
    }

    #[wasm_bindgen(getter)]
    pub fn len(&self) -> u32 {
        self.gates.len() as u32
    }

    /// The sum of every gate's kind, wire rows and coefficients: what the circuit holds.
    pub fn digest(&self) -> u64 {
        let wires = |g: &Gate| g.wires.iter().map(|w| u64::from(w.row) + u64::from(w.col)).sum::<u64>();
        self.gates.iter().map(|g| u64::from(g.kind) + wires(g) + g.coefficients.iter().fold(0u64, |a, &c| (a + c) % FIELD)).fold(0, |a, x| (a + x) % FIELD)
    }
}

// A 61-bit prime: coefficients are read modulo it.
const FIELD: u64 = (1 << 61) - 1;

/// Up to eight little-endian bytes as a number modulo the field's prime.
#[wasm_bindgen]
pub fn field_from_bytes(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    let n = bytes.len().min(8);
    word[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(word) % FIELD
}
