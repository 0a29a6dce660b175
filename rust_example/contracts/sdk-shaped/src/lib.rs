//! A proof SDK's Rust side as a new user finds it (issue 27, point 9), cut down
//! to what decides whether it builds with panic=unwind. Nothing here knows
//! about wbg-patch.
//!
//! - Its own PoolBuilder-global contract, the one of
//!   `../poolbuilder-global` (the same JS-visible names and shapes), but on
//!   spmc's channel, as such SDKs have it: `wbg_rayon_start_worker` takes a
//!   raw pointer to `spmc::Receiver`, a foreign type holding an `UnsafeCell`,
//!   so not `RefUnwindSafe`.
//! - A setup object (`Srs`) and a circuit index (`Index`) that cache what
//!   they derive in a `RefCell` and `Cell`s, passed by reference to exports.
//! - `prove` runs in the pool and panics on a pool thread when a witness
//!   value is outside the field, as an SDK's assertion would;
//!   `prove_sequential` computes the same proof on the calling thread.
//!
//! Under panic=unwind, wasm-bindgen ≥ 0.2.122 requires every export's
//! reference arguments and receivers to be `RefUnwindSafe` and its owned
//! arguments `UnwindSafe`: this crate as committed fails there with E0277.
//! `unwind.patch` is the smallest change that satisfies it (README, "Panics
//! without a reset").

use js_sys::Promise;
use rayon::prelude::*;
use rayon::{ThreadBuilder, ThreadPool, ThreadPoolBuilder};
use spmc::{channel, Receiver, Sender};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
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
        let (sender, receiver) = channel();
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
        let sender = &mut self.sender;
        let pool = ThreadPoolBuilder::new()
            .num_threads(self.num_threads)
            .spawn_handler(|thread| {
                sender.send(thread).unwrap_throw();
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
    // SAFETY: the pointer is PoolBuilder::receiver()'s, and the builder that
    // owns the receiver lives until every worker took its thread.
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

/// Number of threads of the pool (1 without one).
#[wasm_bindgen]
pub fn pool_threads() -> u32 {
    run_in_pool(rayon::current_num_threads) as u32
}

// A small prime field (2^31 - 1): enough arithmetic for results a test can
// compare, with no dependency.
const MODULUS: u64 = (1 << 31) - 1;

fn mul(a: u64, b: u64) -> u64 {
    a * b % MODULUS
}

fn pow(mut base: u64, mut exp: u64) -> u64 {
    let mut result = 1;
    while exp > 0 {
        if exp & 1 == 1 {
            result = mul(result, base);
        }
        base = mul(base, base);
        exp >>= 1;
    }
    result
}

/// The setup ("SRS"): powers of a generator, made once in the pool, and the
/// bases derived from them per circuit size, cached on first use as an SDK
/// caches its Lagrange bases.
#[wasm_bindgen]
pub struct Srs {
    powers: Vec<u64>,
    bases: RefCell<HashMap<usize, Arc<Vec<u64>>>>,
}

#[wasm_bindgen]
impl Srs {
    /// `size` powers of `generator`, computed in the pool.
    #[wasm_bindgen(constructor)]
    pub fn new(size: u32, generator: u32) -> Srs {
        let generator = u64::from(generator) % MODULUS;
        let powers = run_in_pool(|| (0..u64::from(size)).into_par_iter().map(|i| pow(generator, i)).collect());
        Srs { powers, bases: RefCell::new(HashMap::new()) }
    }

    /// How many circuit sizes have their bases cached.
    #[wasm_bindgen(js_name = cachedBases)]
    pub fn cached_bases(&self) -> u32 {
        self.bases.borrow().len() as u32
    }

    /// The bases for `rows` rows. The cache takes a basis only once it is
    /// complete, so a call that panics leaves the cache as it was.
    fn basis(&self, rows: usize) -> Arc<Vec<u64>> {
        if let Some(basis) = self.bases.borrow().get(&rows) {
            return basis.clone();
        }
        assert!(rows <= self.powers.len(), "{rows} rows need an SRS of at least {rows} powers, this one has {}", self.powers.len());
        let basis: Arc<Vec<u64>> = Arc::new(self.powers[..rows].iter().enumerate().map(|(i, &p)| mul(p, i as u64 + 1)).collect());
        self.bases.borrow_mut().insert(rows, basis.clone());
        basis
    }
}

/// A circuit's index: its coefficients, a digest computed on first use, and
/// a count of the proofs made against it (both in `Cell`s).
#[wasm_bindgen]
pub struct Index {
    coefficients: Vec<u64>,
    digest: Cell<Option<u64>>,
    proofs: Cell<u32>,
}

#[wasm_bindgen]
impl Index {
    /// Indexes a circuit against `srs`, whose bases for its size it computes.
    #[wasm_bindgen(constructor)]
    pub fn new(srs: &Srs, coefficients: &[u32]) -> Index {
        srs.basis(coefficients.len());
        let coefficients = coefficients.iter().map(|&c| u64::from(c) % MODULUS).collect();
        Index { coefficients, digest: Cell::new(None), proofs: Cell::new(0) }
    }

    /// Proofs made against this index by `prove`.
    pub fn proofs(&self) -> u32 {
        self.proofs.get()
    }

    fn digest(&self) -> u64 {
        if let Some(digest) = self.digest.get() {
            return digest;
        }
        let digest = self.coefficients.iter().fold(1, |d, &c| (mul(d, 31) + c) % MODULUS);
        self.digest.set(Some(digest));
        digest
    }
}

// One row's term: witness × coefficient × basis. A witness value outside the
// field panics, wherever the row runs; the message says where it ran, so a
// test can tell a pool thread's panic from the calling thread's.
fn term(row: usize, witness: u32, coefficient: u64, basis: u64) -> u64 {
    let witness = u64::from(witness);
    if witness >= MODULUS {
        let thread = rayon::current_thread_index().map_or("the calling thread".to_string(), |i| format!("pool thread {i}"));
        panic!("witness value {witness} at row {row} is not below the modulus {MODULUS} (on {thread})");
    }
    mul(mul(witness, coefficient), basis)
}

fn finish(srs: &Srs, index: &Index, witness: &[u32], sum: impl FnOnce(&[u64], &[u64]) -> u64) -> u32 {
    assert_eq!(witness.len(), index.coefficients.len(), "the witness has {} rows, the circuit {}", witness.len(), index.coefficients.len());
    let basis = srs.basis(witness.len());
    ((sum(&index.coefficients, &basis) + index.digest()) % MODULUS) as u32
}

/// A proof of `witness` for `index`, computed in the pool. Panics on a pool
/// thread when a witness value is not below the modulus.
#[wasm_bindgen]
pub fn prove(srs: &Srs, index: &Index, witness: &[u32]) -> u32 {
    let proof = finish(srs, index, witness, |coefficients, basis| {
        run_in_pool(|| {
            (0..witness.len())
                .into_par_iter()
                .map(|row| term(row, witness[row], coefficients[row], basis[row]))
                .reduce(|| 0, |a, b| (a + b) % MODULUS)
        })
    });
    // Counted once the proof exists: a proof that panicked does not count.
    index.proofs.set(index.proofs.get() + 1);
    proof
}

/// The same proof as `prove`, computed on the calling thread alone.
#[wasm_bindgen]
pub fn prove_sequential(srs: &Srs, index: &Index, witness: &[u32]) -> u32 {
    finish(srs, index, witness, |coefficients, basis| {
        (0..witness.len()).map(|row| term(row, witness[row], coefficients[row], basis[row])).fold(0, |a, b| (a + b) % MODULUS)
    })
}

/// Whether `proof` is the proof of `witness` for `index`.
#[wasm_bindgen]
pub fn verify(srs: &Srs, index: &Index, witness: &[u32], proof: u32) -> bool {
    prove_sequential(srs, index, witness) == proof
}
