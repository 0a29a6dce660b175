//! The demo's CPU-bound job built natively, as the benchmark's baseline:
//! `collatz_native LIMIT THREADS REPEATS` prints one wall time (ms) per repeat.

use rayon::prelude::*;
use std::time::Instant;

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().expect("usage: collatz_native LIMIT THREADS REPEATS")).collect();
    let [limit, threads, repeats] = args[..] else { panic!("usage: collatz_native LIMIT THREADS REPEATS") };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads as usize).build().unwrap();
    for _ in 0..repeats {
        let started = Instant::now();
        let sum: u64 = pool.install(|| (1..=limit).into_par_iter().map(|i| u64::from(wbg_demo::collatz_steps(i))).sum());
        println!("{} {}", started.elapsed().as_secs_f64() * 1000.0, sum);
    }
}
