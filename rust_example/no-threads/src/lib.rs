//! A crate as most wasm-bindgen users write it: no threads, no Rayon. Its glue
//! is the fixture for wbg-patch's "no shared memory" refusal.

use wasm_bindgen::prelude::*;

/// Adds two numbers.
#[wasm_bindgen]
pub fn add(a: u32, b: u32) -> u32 {
    a.wrapping_add(b)
}
