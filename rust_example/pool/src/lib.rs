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
//! takes one and runs it. Under `panic=abort` a panic cannot unwind to the caller,
//! so [`set_panic_hook`] reports message, location and pool thread index to the
//! JS of the panicking thread before the abort, and [`init_logger`] sends `log`
//! records to the JS of the thread that logs.
#![deny(missing_docs)]

#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
compile_error!(
    "wbg-pool needs shared-memory threads: build with \
     -C target-feature=+atomics,+bulk-memory,+mutable-globals and -Z build-std=panic_abort,std"
);

mod pool;
mod report;

pub use pool::{run_in_pool, set_thread_start_handler, PoolError};
pub use report::{PanicReport, ThreadRole};

#[cfg(target_arch = "wasm32")]
mod js;

#[cfg(target_arch = "wasm32")]
pub use js::{exit_thread_pool, init_logger, init_thread_pool, set_panic_hook};
