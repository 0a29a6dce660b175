//! A crate carrying its own pool contract, the way a JS SDK's Rust side does
//! ("PoolBuilder-global"): JS calls `initThreadPool(n, workerSource)`, which
//! hands a `PoolBuilder` to the global JS function `startWorkers`; that spawns
//! `numThreads()` workers running `wbg_rayon_start_worker(receiver())`, then
//! calls `build()`. The pool is not Rayon's global one: it lives in a static,
//! and parallel work enters it through `run_in_pool`. `exitThreadPool()` drops
//! it and calls the global `terminateWorkers`. Nothing here knows about
//! wbg-patch.

use crossbeam_channel::{bounded, Receiver, Sender};
use js_sys::Promise;
use rayon::prelude::*;
use rayon::{ThreadBuilder, ThreadPool, ThreadPoolBuilder};
use std::sync::{Arc, Condvar, Mutex};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    // Globals the SDK's JS defines: imported without a module.
    #[wasm_bindgen(js_name = startWorkers)]
    fn start_workers(worker_source: JsValue, memory: JsValue, builder: PoolBuilder) -> Promise;
    #[wasm_bindgen(js_name = terminateWorkers)]
    fn terminate_workers() -> Promise;
}

static POOL: Mutex<Option<Arc<ThreadPool>>> = Mutex::new(None);

/// The pool to be, handed to JS while its workers start.
#[wasm_bindgen]
pub struct PoolBuilder {
    num_threads: usize,
    sender: Sender<ThreadBuilder>,
    receiver: Receiver<ThreadBuilder>,
}

#[wasm_bindgen]
impl PoolBuilder {
    fn new(num_threads: usize) -> Self {
        let (sender, receiver) = bounded(num_threads);
        PoolBuilder { num_threads, sender, receiver }
    }

    #[wasm_bindgen(js_name = numThreads)]
    pub fn num_threads(&self) -> usize {
        self.num_threads
    }

    pub fn receiver(&self) -> *const Receiver<ThreadBuilder> {
        &self.receiver
    }

    /// Builds the pool once every worker waits on the receiver.
    pub fn build(&mut self) {
        let pool = ThreadPoolBuilder::new()
            .num_threads(self.num_threads)
            .spawn_handler(|thread| {
                self.sender.send(thread).unwrap_throw();
                Ok(())
            })
            .build()
            .unwrap_throw();
        *POOL.lock().unwrap() = Some(Arc::new(pool));
    }
}

#[wasm_bindgen(js_name = initThreadPool)]
pub fn init_thread_pool(num_threads: usize, worker_source: JsValue) -> Promise {
    start_workers(worker_source, wasm_bindgen::memory(), PoolBuilder::new(num_threads))
}

#[wasm_bindgen(js_name = exitThreadPool)]
pub fn exit_thread_pool() -> Promise {
    // Dropping the pool lets its threads return from wbg_rayon_start_worker.
    POOL.lock().unwrap().take();
    terminate_workers()
}

/// Runs one pool thread on the calling worker until the pool is dropped.
#[wasm_bindgen]
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub fn wbg_rayon_start_worker(receiver: *const Receiver<ThreadBuilder>) {
    // The builder that owns the receiver lives until every worker took its thread.
    let receiver = unsafe { &*receiver };
    receiver.recv().unwrap_throw().run()
}

fn run_in_pool<R: Send>(op: impl FnOnce() -> R + Send) -> R {
    let pool = POOL.lock().unwrap().clone();
    match pool {
        Some(pool) => pool.install(op),
        None => op(),
    }
}

/// Sum of `i * i` for `i` in `0..n`, in parallel.
#[wasm_bindgen]
pub fn sum_of_squares(n: u32) -> f64 {
    run_in_pool(|| (0..u64::from(n)).into_par_iter().map(|i| i * i).sum::<u64>() as f64)
}

/// Number of threads of the pool (1 without one).
#[wasm_bindgen]
pub fn pool_threads() -> u32 {
    run_in_pool(rayon::current_num_threads) as u32
}

/// Panics in a job of the pool, with a message naming `n`.
#[wasm_bindgen]
pub fn panic_in_pool(n: u32) -> f64 {
    run_in_pool(|| {
        (0..u64::from(n))
            .into_par_iter()
            .map(|i| if i == u64::from(n) / 2 { panic!("job {i} of {n} failed") } else { i })
            .sum::<u64>() as f64
    })
}

/// A small sequential export, as SDKs have many of (a conversion, a checksum):
/// nothing in it waits for another thread, so it runs on the calling thread.
#[wasm_bindgen]
pub fn byte_sum(data: &[u8]) -> u32 {
    data.iter().fold(0u32, |sum, &b| sum.wrapping_add(u32::from(b)))
}

/// Installs console_error_panic_hook, as SDKs do at the top of their exports.
#[wasm_bindgen]
pub fn install_panic_hook() {
    console_error_panic_hook::set_once();
}

/// Every job waits on a condition nobody signals: the pool deadlocks.
#[wasm_bindgen]
pub fn deadlock() {
    static NEVER: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());
    run_in_pool(|| {
        (0..64).into_par_iter().for_each(|_| {
            let mut signalled = NEVER.0.lock().unwrap();
            while !*signalled {
                signalled = NEVER.1.wait(signalled).unwrap();
            }
        })
    });
}
