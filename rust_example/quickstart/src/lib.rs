//! The README's "Your own crate": one parallel export, one that panics, and
//! the pool contract re-exported for the wbg-patch runtime.

use rayon::prelude::*;
use wasm_bindgen::prelude::*;

// The pool contract (initThreadPool, exitThreadPool, wbg_rayon_start_worker),
// exported to JS. Only on wasm: host builds (cargo check, cargo test,
// rust-analyzer) have no wasm-bindgen exports to make.
#[cfg(target_arch = "wasm32")]
pub use wbg_pool::{exit_thread_pool, init_thread_pool};

/// Sum of `i * i` for `i` in `0..n`, computed by the pool's threads.
#[wasm_bindgen]
pub fn sum_of_squares(n: u32) -> f64 {
    wbg_pool::run_in_pool(|| (0..u64::from(n)).into_par_iter().map(|i| (i * i) as f64).sum())
}

/// Panics on a pool thread with `message`.
#[wasm_bindgen]
pub fn fail(message: String) -> u32 {
    wbg_pool::run_in_pool(|| (0..64u32).into_par_iter().map(|i| if i == 42 { panic!("{message}") } else { i }).sum())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sums_squares_on_the_host_too() {
        assert_eq!(super::sum_of_squares(4), 14.0);
    }
}
