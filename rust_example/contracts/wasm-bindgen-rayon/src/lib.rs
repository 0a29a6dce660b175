//! A crate as wasm-bindgen-rayon's README writes it: `pub use
//! wasm_bindgen_rayon::init_thread_pool;` and Rayon's global pool. Nothing in
//! it knows about wbg-patch; the tests adopt it with the post-build step only.

use rayon::prelude::*;
use std::sync::{Condvar, Mutex};
use wasm_bindgen::prelude::*;

pub use wasm_bindgen_rayon::init_thread_pool;

/// Sum of `i * i` for `i` in `0..n`, in parallel.
#[wasm_bindgen]
pub fn sum_of_squares(n: u32) -> f64 {
    (0..u64::from(n)).into_par_iter().map(|i| i * i).sum::<u64>() as f64
}

/// Number of threads Rayon's global pool has.
#[wasm_bindgen]
pub fn pool_threads() -> u32 {
    rayon::current_num_threads() as u32
}

/// Panics in a job of the pool, with a message naming `n`.
#[wasm_bindgen]
pub fn panic_in_pool(n: u32) -> f64 {
    (0..u64::from(n))
        .into_par_iter()
        .map(|i| if i == u64::from(n) / 2 { panic!("job {i} of {n} failed") } else { i })
        .sum::<u64>() as f64
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
    (0..64).into_par_iter().for_each(|_| {
        let mut signalled = NEVER.0.lock().unwrap();
        while !*signalled {
            signalled = NEVER.1.wait(signalled).unwrap();
        }
    });
}
