//! The Rust side of the wbg-patch thread-pool contract.
//!
//! A user's `cdylib` depends on this crate and gets, exported to JS:
//! `initThreadPool(numThreads)`, `exitThreadPool()` and the worker entry
//! `wbg_rayon_start_worker(receiver)`. The wbg-patch runtime calls them from its
//! ThreadPoolHost and ThreadPoolWorker threads; user code only wraps its parallel
//! work in [`run_in_pool`].
//!
//! Every pool thread is a Node worker started by JS: Rayon's `spawn_handler`
//! hands each `ThreadBuilder` through a channel in shared memory, and each worker
//! takes one and runs it. [`set_panic_hook`] reports every panic's message,
//! location and pool thread index to the JS of the panicking thread, and
//! [`init_logger`] sends `log` records to the JS of the thread that logs.
//!
//! Under `panic=abort` a panic then ends its thread (the runtime resets the
//! memory). Built with `-C panic=unwind` and `-Z build-std=panic_unwind,std`, a
//! panic unwinds to its caller instead: Rayon re-raises a panic of `join`,
//! `scope`, `par_iter`, `broadcast` or `install` on the joining thread, and
//! wasm-bindgen (≥ 0.2.107) throws it to JS at the export, so the pool and the
//! memory stay. A detached job (`rayon::spawn`, `spawn_fifo`) has no caller: the
//! pool's panic handler reports it to the runtime (`detachedPanic`), or to
//! `console.error` without one, and the pool goes on (Rayon would abort without
//! a handler). The crate is the same in both modes.
#![deny(missing_docs)]

#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
compile_error!(
    "wbg-pool needs shared-memory threads: build with \
     -C target-feature=+atomics,+bulk-memory,+mutable-globals and -Z build-std=panic_abort,std \
     (-Z build-std=panic_unwind,std for a panic=unwind build)"
);

mod pool;
mod report;

pub use pool::{run_in_pool, set_thread_start_handler, PoolError};
pub use report::{PanicReport, ThreadRole};

#[cfg(target_arch = "wasm32")]
mod js;

#[cfg(target_arch = "wasm32")]
pub use js::{exit_thread_pool, init_logger, init_thread_pool, set_panic_hook};
