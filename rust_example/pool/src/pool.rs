//! The pool itself, platform-neutral: its threads are started by whoever calls
//! `start` (JS workers on wasm, std threads in the host tests).
// Off wasm nothing but the tests starts a pool.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use crate::report::payload_message;
use rayon::{ThreadBuilder, ThreadPool, ThreadPoolBuilder};
use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// Why the pool could not be started.
#[derive(Debug)]
pub enum PoolError {
    /// `initThreadPool` was called while a pool is running.
    AlreadyRunning,
    /// A pool needs at least one thread.
    ZeroThreads,
    /// Rayon refused to build the pool.
    Build(rayon::ThreadPoolBuildError),
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::AlreadyRunning => f.write_str("the thread pool is already running; call exitThreadPool first"),
            PoolError::ZeroThreads => f.write_str("numThreads must be at least 1"),
            PoolError::Build(e) => write!(f, "rayon could not build the thread pool: {e}"),
        }
    }
}

impl std::error::Error for PoolError {}

/// The `ThreadBuilder`s of one pool, waiting for their workers. The handle lets
/// a worker started for an older pool notice that it is stale.
struct Channel {
    handle: u32,
    receiver: Mutex<mpsc::Receiver<ThreadBuilder>>,
}

struct Running {
    pool: Arc<ThreadPool>,
    on_abandoned_panic: fn(&[usize]),
}

static POOL: Mutex<Option<Running>> = Mutex::new(None);
static CHANNEL: Mutex<Option<Arc<Channel>>> = Mutex::new(None);
static NEXT_HANDLE: AtomicU32 = AtomicU32::new(1);
static THREAD_START: Mutex<Option<fn(usize)>> = Mutex::new(None);
// Panics begun on pool threads, counted by the panic hook, and by pool index the count at each
// thread's latest one: after a call's job panicked, only the threads whose latest panic came
// after the count the call read before it ran can have abandoned one (see `abandoned_panics`).
// The call reads one atomic; the lock is taken only when a panic happened.
static PANICS_BEGUN: AtomicU64 = AtomicU64::new(0);
static LATEST_PANIC: Mutex<Vec<u64>> = Mutex::new(Vec::new());

thread_local! {
    // Whether this thread started the pool. Other threads (the main thread's own
    // instance, on the same shared memory) must not block inside the pool: they
    // run their work single-threaded, as without a pool.
    static OWNER: Cell<bool> = const { Cell::new(false) };
    // This thread's index in the pool, when it is one of the pool's threads. Not
    // `rayon::current_thread_index()`: a thread that ran Rayon without a pool (the
    // main thread's own instance) is thread 0 of Rayon's single-thread fallback.
    static INDEX: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The calling thread's index in the pool, or None for a thread outside it.
pub(crate) fn thread_index() -> Option<usize> {
    INDEX.with(Cell::get)
}

/// Counts a panic that begins on the calling thread (the panic hook calls this).
pub(crate) fn note_panic() {
    if let Some(index) = thread_index() {
        let count = PANICS_BEGUN.fetch_add(1, Ordering::SeqCst) + 1;
        let mut latest = lock(&LATEST_PANIC);
        if latest.len() <= index {
            latest.resize(index + 1, 0);
        }
        latest[index] = count;
    }
}

// Under panic=abort a poisoned lock means the process is already gone; in the
// host tests it only means another test failed, which must not cascade.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Builds a pool of `num_threads` threads. `spawn_workers(count, handle)` must
/// start `count` threads that each call [`run_worker`] with `handle`; it is called
/// before the pool is built, and the build does not wait for the threads.
///
/// `on_detached_panic(message)` runs on the pool thread whose detached job
/// (`rayon::spawn`, `spawn_fifo`) panicked and unwound (panic=unwind builds; under
/// panic=abort the panic ends the thread first). No caller joins such a job, and
/// without a handler Rayon aborts the process; with one the pool goes on. It must
/// not panic: Rayon aborts when its panic handler does.
///
/// `on_abandoned_panic(threads)` runs on the thread of a [`run_in_pool`] call whose
/// job panicked, when pool threads `threads` still count as panicking (see
/// [`run_in_pool`]), right before it aborts.
pub(crate) fn start(
    num_threads: usize,
    spawn_workers: impl FnOnce(usize, u32),
    on_detached_panic: impl Fn(&str) + Send + Sync + 'static,
    on_abandoned_panic: fn(&[usize]),
) -> Result<(), PoolError> {
    let mut slot = lock(&POOL);
    if slot.is_some() {
        return Err(PoolError::AlreadyRunning);
    }
    if num_threads == 0 {
        return Err(PoolError::ZeroThreads);
    }
    let handle = NEXT_HANDLE.fetch_add(1, Ordering::Relaxed);
    let (sender, receiver) = mpsc::channel();
    *lock(&CHANNEL) = Some(Arc::new(Channel { handle, receiver: Mutex::new(receiver) }));
    spawn_workers(num_threads, handle);
    let on_thread_start = *lock(&THREAD_START);
    let pool = ThreadPoolBuilder::new()
        .num_threads(num_threads)
        .start_handler(move |index| {
            if let Some(handler) = on_thread_start {
                handler(index);
            }
        })
        .panic_handler(move |payload| on_detached_panic(&payload_message(&*payload)))
        .spawn_handler(move |thread| {
            sender.send(thread).map_err(|_| std::io::Error::other("the pool's worker channel is closed"))
        })
        .build()
        .map_err(PoolError::Build)?;
    *slot = Some(Running { pool: Arc::new(pool), on_abandoned_panic });
    OWNER.with(|owner| owner.set(true));
    Ok(())
}

/// Sets a function that every pool thread runs first, with its index, in pools
/// started from now on (per-thread set-up, such as thread-local state). A panic
/// in it is reported like any other panic on that thread.
pub fn set_thread_start_handler(handler: fn(usize)) {
    *lock(&THREAD_START) = Some(handler);
}

/// Runs one pool thread on the calling thread until the pool exits. Returns
/// false at once when `handle` does not name the current pool's channel, or when
/// every thread of the pool already has its worker.
pub(crate) fn run_worker(handle: u32, on_start: impl FnOnce(usize)) -> bool {
    let channel = lock(&CHANNEL).clone();
    let Some(channel) = channel.filter(|c| c.handle == handle) else {
        return false;
    };
    let thread = lock(&channel.receiver).recv();
    match thread {
        Ok(thread) => {
            INDEX.with(|index| index.set(Some(thread.index())));
            on_start(thread.index());
            thread.run();
            INDEX.with(|index| index.set(None));
            true
        }
        Err(_) => false,
    }
}

/// Drops the running pool: its threads finish what they hold and return from
/// [`run_worker`]. Returns whether a pool was running.
pub(crate) fn stop() -> bool {
    OWNER.with(|owner| owner.set(false));
    *lock(&CHANNEL) = None;
    lock(&POOL).take().is_some()
}

/// Runs `op` inside the thread pool, so that Rayon's parallel iterators, `join`
/// and `scope` inside it use the pool's threads, when called from the thread
/// that started the pool (the ThreadPoolHost) or from a pool thread. Anywhere
/// else, or without a pool, runs `op` on the calling thread (Rayon then falls
/// back to a single thread, which is how the glue behaves outside
/// `manager.execute`).
///
/// Under panic=unwind a panic in `op` or its jobs unwinds to the caller, once
/// every pool thread that panicked meanwhile was checked to have finished
/// unwinding: a destructor that panics while a panic unwinds must abort, but
/// rustc 1.96 on wasm (rust-lang/rust#151771) unwinds that second panic on, past
/// the destructors left (a lock they held stays held), and abandons the first,
/// so its thread counts as panicking from then on. Then the memory is not fit to
/// go on with: this aborts instead (a trap: the runtime resets the memory). The
/// check waits for the job that each such thread runs at that moment (usually
/// none: the call's jobs are done), never for the other threads'.
pub fn run_in_pool<OP, R>(op: OP) -> R
where
    OP: FnOnce() -> R + Send,
    R: Send,
{
    let running = lock(&POOL).as_ref().map(|running| (running.pool.clone(), running.on_abandoned_panic));
    // Not `rayon::current_thread_index()`: a thread that ran Rayon without a pool
    // belongs to Rayon's single-thread global fallback, not to this pool.
    let running = running.filter(|(pool, _)| OWNER.with(Cell::get) || pool.current_thread_index().is_some());
    match running {
        Some((pool, on_abandoned_panic)) => install_checked(&pool, op, on_abandoned_panic),
        None => op(),
    }
}

#[cfg(panic = "unwind")]
fn install_checked<OP: FnOnce() -> R + Send, R: Send>(pool: &ThreadPool, op: OP, on_abandoned_panic: fn(&[usize])) -> R {
    let before = PANICS_BEGUN.load(Ordering::SeqCst);
    let payload = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.install(op))) {
        Ok(result) => return result,
        Err(payload) => payload,
    };
    let panicked: Vec<usize> =
        lock(&LATEST_PANIC).iter().enumerate().filter(|&(_, &count)| count > before).map(|(index, _)| index).collect();
    let abandoned = abandoned_panics(pool, &panicked);
    if !abandoned.is_empty() {
        on_abandoned_panic(&abandoned);
        std::process::abort();
    }
    std::panic::resume_unwind(payload)
}

#[cfg(not(panic = "unwind"))]
fn install_checked<OP: FnOnce() -> R + Send, R: Send>(pool: &ThreadPool, op: OP, _: fn(&[usize])) -> R {
    pool.install(op)
}

/// Those of pool threads `threads` that count as panicking between jobs. Each is
/// asked when it next looks for work (a broadcast: the others answer nothing and
/// are not waited for), so this waits only for the job each of them runs now.
/// The calling thread, when it is one of them (a `run_in_pool` nested in the
/// pool), answers for itself; and a pool thread waits as Rayon's own waits do,
/// running what is queued for it, so that it answers the same question of a
/// check nested on another thread meanwhile (two such checks must not wait
/// for each other).
#[cfg_attr(not(panic = "unwind"), allow(dead_code))]
fn abandoned_panics(pool: &ThreadPool, threads: &[usize]) -> Vec<usize> {
    let here = pool.current_thread_index();
    let mut abandoned: Vec<usize> = here.filter(|index| threads.contains(index) && std::thread::panicking()).into_iter().collect();
    let threads: Vec<usize> = threads.iter().copied().filter(|&index| Some(index) != here).collect();
    if threads.is_empty() {
        return abandoned;
    }
    let answers = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
    let (asked, told) = (Arc::new(threads.clone()), answers.clone());
    pool.spawn_broadcast(move |context| {
        if asked.contains(&context.index()) {
            let (found, answered) = &*told;
            lock(found).push((context.index(), std::thread::panicking()));
            answered.notify_all();
        }
    });
    let (found, answered) = &*answers;
    if here.is_some() {
        while lock(found).len() < threads.len() {
            if rayon::yield_now() != Some(rayon::Yield::Executed) {
                std::hint::spin_loop();
            }
        }
    }
    let mut found = lock(found);
    while found.len() < threads.len() {
        found = answered.wait(found).unwrap_or_else(PoisonError::into_inner);
    }
    abandoned.extend(found.iter().filter(|(_, panicking)| *panicking).map(|&(index, _)| index));
    abandoned
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;
    use std::thread::JoinHandle;

    // The pool is process-wide state; these tests take turns.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn spawn_std_workers(started: &Mutex<Vec<JoinHandle<Option<usize>>>>) -> impl FnOnce(usize, u32) + '_ {
        move |count, handle| {
            let mut started = lock(started);
            for _ in 0..count {
                started.push(std::thread::spawn(move || {
                    let mut index = None;
                    run_worker(handle, |i| index = Some(i));
                    index
                }));
            }
        }
    }

    // After a panic: the pool still computes; then it stops and its workers return.
    fn still_works_then_stop(workers: Mutex<Vec<JoinHandle<Option<usize>>>>) {
        let sum: u64 = run_in_pool(|| (1..=100u64).into_par_iter().sum());
        assert_eq!(sum, 5050);
        stop();
        for worker in workers.into_inner().unwrap() {
            worker.join().unwrap();
        }
    }

    #[test]
    fn pool_threads_started_from_outside_run_parallel_work_and_exit() {
        let _turn = lock(&SERIAL);
        let workers = Mutex::new(Vec::new());
        start(3, spawn_std_workers(&workers), |_| {}, |_| {}).unwrap();
        assert!(matches!(start(1, |_, _| {}, |_| {}, |_| {}), Err(PoolError::AlreadyRunning)));

        let sum: u64 = run_in_pool(|| (1..=1000u64).into_par_iter().sum());
        assert_eq!(sum, 500_500);
        let threads: Vec<Option<usize>> = run_in_pool(|| rayon::broadcast(|_| rayon::current_thread_index()));
        assert_eq!(threads.len(), 3);
        // Each pool thread knows its index (what reports and logs name it by).
        let mut indexes = run_in_pool(|| rayon::broadcast(|_| thread_index()));
        indexes.sort();
        assert_eq!(indexes, vec![Some(0), Some(1), Some(2)]);
        assert_eq!(thread_index(), None);
        // A thread that did not start the pool runs its work itself.
        let elsewhere = std::thread::spawn(|| run_in_pool(rayon::current_thread_index)).join().unwrap();
        assert_eq!(elsewhere, None);

        assert!(stop());
        assert!(!stop());
        let mut indexes: Vec<usize> = workers.into_inner().unwrap().into_iter().map(|w| w.join().unwrap().unwrap()).collect();
        indexes.sort();
        assert_eq!(indexes, vec![0, 1, 2]);
        // Without a pool the work runs on the caller.
        assert_eq!(run_in_pool(rayon::current_thread_index), None);
    }

    #[test]
    fn every_pool_thread_runs_the_start_handler_first() {
        static STARTED: AtomicU32 = AtomicU32::new(0);
        let _turn = lock(&SERIAL);
        set_thread_start_handler(|index| {
            STARTED.fetch_or(1 << index, Ordering::SeqCst);
        });
        let workers = Mutex::new(Vec::new());
        start(3, spawn_std_workers(&workers), |_| {}, |_| {}).unwrap();
        run_in_pool(|| rayon::broadcast(|_| ()));
        assert_eq!(STARTED.load(Ordering::SeqCst), 0b111);
        stop();
        *lock(&THREAD_START) = None;
        for worker in workers.into_inner().unwrap() {
            worker.join().unwrap();
        }
    }

    #[test]
    fn a_detached_jobs_panic_reaches_the_handler_on_its_thread_and_the_pool_goes_on() {
        let _turn = lock(&SERIAL);
        let workers = Mutex::new(Vec::new());
        let (reports, reported) = mpsc::channel();
        start(2, spawn_std_workers(&workers), move |message: &str| {
            reports.send((message.to_owned(), rayon::current_thread_index())).unwrap();
        }, |_| {})
        .unwrap();
        run_in_pool(|| rayon::spawn(|| panic!("detached job {}", 7)));
        run_in_pool(|| rayon::spawn_fifo(|| panic!("detached fifo job")));
        let mut seen = vec![reported.recv().unwrap(), reported.recv().unwrap()];
        seen.sort();
        assert_eq!(seen[0].0, "detached fifo job");
        assert_eq!(seen[1].0, "detached job 7");
        assert!(seen.iter().all(|(_, thread)| matches!(thread, Some(i) if *i < 2)));
        still_works_then_stop(workers);
    }

    #[test]
    fn a_jobs_panic_unwinds_to_the_caller_of_run_in_pool_and_the_pool_goes_on() {
        let _turn = lock(&SERIAL);
        let workers = Mutex::new(Vec::new());
        start(2, spawn_std_workers(&workers), |_| {}, |_| panic!("no thread abandoned a panic")).unwrap();
        let caught = std::panic::catch_unwind(|| run_in_pool(|| rayon::join(|| panic!("in a job"), || 1)));
        let payload = caught.expect_err("the job's panic reaches the caller");
        assert_eq!(crate::report::payload_message(&*payload), "in a job");
        // Every pool thread finished unwinding: none counts as panicking.
        assert_eq!(abandoned_panics(&lock(&POOL).as_ref().unwrap().pool, &[0, 1]), Vec::<usize>::new());
        still_works_then_stop(workers);
    }

    #[test]
    fn the_abandoned_panic_check_waits_only_for_the_threads_it_asks() {
        let _turn = lock(&SERIAL);
        let workers = Mutex::new(Vec::new());
        start(2, spawn_std_workers(&workers), |_| {}, |_| {}).unwrap();
        let pool = lock(&POOL).as_ref().unwrap().pool.clone();
        // One thread is held in a job until the check is done; the other is asked.
        let (release, held) = mpsc::channel::<()>();
        let (started, running) = mpsc::channel();
        pool.spawn(move || {
            started.send(pool_index()).unwrap();
            held.recv().unwrap();
        });
        let busy = running.recv().unwrap();
        let done = deadline(60, "the abandoned-panic check beside a busy thread");
        assert_eq!(abandoned_panics(&pool, &[1 - busy]), Vec::<usize>::new());
        done.store(true, Ordering::SeqCst);
        assert_eq!(abandoned_panics(&pool, &[]), Vec::<usize>::new());
        release.send(()).unwrap();
        drop(pool); // the pool ends (its workers return) with its last handle
        still_works_then_stop(workers);
    }

    #[test]
    fn two_nested_checks_on_two_pool_threads_do_not_wait_for_each_other() {
        let _turn = lock(&SERIAL);
        let workers = Mutex::new(Vec::new());
        start(2, spawn_std_workers(&workers), |_| {}, |_| panic!("no thread abandoned a panic")).unwrap();
        // As wbg-pool's hook does on wasm: count each panic of a pool thread.
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| note_panic()));
        // Both nested calls panic after both began: each one's check asks the other thread.
        let barrier = std::sync::Barrier::new(2);
        let nested = || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run_in_pool(|| {
                    barrier.wait();
                    panic!("nested")
                })
            }))
            .is_err()
        };
        let done = deadline(60, "two nested abandoned-panic checks");
        let both = run_in_pool(|| rayon::join(nested, nested));
        done.store(true, Ordering::SeqCst);
        std::panic::set_hook(previous);
        assert_eq!(both, (true, true));
        still_works_then_stop(workers);
    }

    /// Aborts the test process unless the returned flag is set within `secs`: a check that
    /// waits for the wrong thread deadlocks, and a test must end even then.
    fn deadline(secs: u64, what: &'static str) -> Arc<std::sync::atomic::AtomicBool> {
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watched = done.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(secs));
            if !watched.load(Ordering::SeqCst) {
                eprintln!("{what}: no answer within {secs} s (deadlocked)");
                std::process::abort();
            }
        });
        done
    }

    fn pool_index() -> usize {
        thread_index().expect("runs on a pool thread")
    }

    #[test]
    fn stale_or_surplus_workers_return_without_running() {
        let _turn = lock(&SERIAL);
        assert!(!run_worker(u32::MAX, |_| panic!("a stale worker must not start")));
        let mut handle_seen = 0;
        start(1, |_, handle| handle_seen = handle, |_| {}, |_| {}).unwrap();
        let (started_tx, started_rx) = mpsc::channel();
        let worker = std::thread::spawn(move || run_worker(handle_seen, |i| started_tx.send(i).unwrap()));
        assert_eq!(started_rx.recv().unwrap(), 0);
        // Once the pool is dropped its worker returns, and a late worker finds
        // no channel for its handle.
        stop();
        assert!(worker.join().unwrap());
        assert!(!run_worker(handle_seen, |_| panic!("no thread is left to run")));
        assert!(matches!(start(0, |_, _| {}, |_| {}, |_| {}), Err(PoolError::ZeroThreads)));
    }
}
